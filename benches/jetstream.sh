#!/bin/bash
# The JetStream figures in BENCHMARKS.md ("Nodes on NATS JetStream"): for each round, the
# local spool, one node on JetStream and two nodes on JetStream, one after the other, flat out
# and at 10,000 events/s; each JetStream run on a fresh nats-server (2.10 or later on PATH).
# usage: benches/jetstream.sh [ROUNDS]   (after cargo build --release -p signal-edge)
set -eu
B=${SIGNAL_EDGE:-target/release/signal-edge}
OUT=${OUT:-/tmp/bench-jetstream}
mkdir -p "$OUT"
for r in $(seq 1 "${1:-2}"); do
  for kind in flat rate; do
    if [ $kind = flat ]; then
      ARGS="--sink null --clients 8 --batch 100 --seconds 20"
    else
      ARGS="--sink null --clients 16 --batch 100 --rate 10000 --seconds 20"
    fi
    for cfg in local nats1 nats2; do
      out=$OUT/$kind-$cfg-$r
      if [ $cfg = local ]; then
        $B loadgen $ARGS --json $out.json > $out.log 2>&1
        continue
      fi
      rm -rf "$OUT/nats" && mkdir -p "$OUT/nats"
      nats-server -js -a 127.0.0.1 -p 4333 -sd "$OUT/nats" > /dev/null 2>&1 &
      NPID=$!
      sleep 1
      N=1; [ $cfg = nats2 ] && N=2
      SIGNAL_LOG_BACKEND=nats://127.0.0.1:4333 $B loadgen $ARGS --nodes $N --json $out.json > $out.log 2>&1
      # nats-server's CPU over the run, in ticks of 1/100 s
      awk '{print $14+$15}' /proc/$NPID/stat > $out.natscpu
      kill $NPID; wait $NPID 2>/dev/null || true
    done
  done
done
echo "reports in $OUT"
