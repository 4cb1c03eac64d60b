//! The JetStream log on a three-server NATS cluster with streams of three replicas, against
//! real `nats-server` processes on loopback: one server is killed while appends run, and
//! every append that returned `Ok` (the gateway's 200) is in the stream afterwards. Appends
//! that failed may or may not have been stored (the client sends them again); they are never
//! anything but "unavailable", and appends succeed again while two of three servers run.

mod support;

use bytes::Bytes;
use signal_nats::{NatsLog, NatsSettings, ToAppend};
use signal_spool::Start;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::NatsCluster;

/// Records per append (a gateway batch).
const GROUP: u64 = 50;

/// Concurrent appenders (concurrent gateway requests).
const WRITERS: u64 = 4;

/// Appends acknowledged before the kill, and after it, that each writer waits for.
const BEFORE: u64 = 600;
const AFTER: u64 = 600;

fn records(ids: std::ops::Range<u64>) -> Vec<ToAppend> {
    ids.map(|n| ToAppend {
        message_id: Some(format!("m{n}")),
        payload: Bytes::from(format!("m{n}")),
    })
    .collect()
}

/// What the writers saw: the ids of every append that returned `Ok`, and each error.
#[derive(Default)]
struct Outcome {
    acknowledged: BTreeSet<u64>,
    errors: Vec<String>,
}

/// Runs `WRITERS` appenders of `GROUP` records on `log` (each its own range of ids) until
/// `stop`; `acked` counts acknowledged records as they come.
async fn write_until(log: NatsLog, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) -> Outcome {
    let writers = (0..WRITERS).map(|w| {
        let (log, stop, acked) = (log.clone(), stop.clone(), acked.clone());
        tokio::spawn(async move {
            let mut out = Outcome::default();
            // Writer w's ids: w * 10^6 onwards, a group at a time.
            let mut next = w * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                let ids = next..next + GROUP;
                match log.append("web", records(ids.clone())).await {
                    Ok(done) => {
                        assert_eq!(done.len() as u64, GROUP);
                        out.acknowledged.extend(ids);
                        acked.fetch_add(GROUP, Ordering::Relaxed);
                        next += GROUP;
                    }
                    Err(e) => {
                        assert!(e.is_unavailable(), "only ever unavailable: {e}");
                        out.errors.push(e.to_string());
                        // As a client told 503 would: the same records again, not at once
                        // (some may be stored already: the stream keeps them once).
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            out
        })
    });
    let mut all = Outcome::default();
    for w in futures_util::future::join_all(writers).await {
        let w = w.expect("writer");
        all.acknowledged.extend(w.acknowledged);
        all.errors.extend(w.errors);
    }
    all
}

async fn wait_for(acked: &AtomicU64, n: u64, what: &str) {
    let start = Instant::now();
    while acked.load(Ordering::Relaxed) < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: {} of {n} acknowledged within 30 s",
            acked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Appends under load, kills the member `victim` picks once `BEFORE` records are acknowledged,
/// waits for `AFTER` more, then reads the whole stream back: every acknowledged id is in it.
async fn kill_under_load(victim: impl FnOnce(&NatsCluster) -> usize) {
    let mut cluster = NatsCluster::start();
    let settings = NatsSettings {
        servers: NatsSettings::servers_of(&cluster.urls()).expect("the cluster's urls"),
        replicas: 3,
        max_bytes: support::STREAM_BYTES,
        ..NatsSettings::default()
    };
    let log = NatsLog::connect(settings).await.expect("connect");
    // Events are kept while an integration has not acknowledged them.
    let consumer = log
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let writing = tokio::spawn(write_until(log.clone(), stop.clone(), acked.clone()));
    wait_for(&acked, BEFORE, "before the kill").await;
    let killed = victim(&cluster);
    cluster.kill(killed);
    let at_kill = acked.load(Ordering::Relaxed);
    wait_for(
        &acked,
        at_kill + AFTER,
        "appends go on while two of three servers run",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let outcome = writing.await.expect("writers");

    // Read everything back: each record's id, how many times it is there.
    let mut stored: BTreeMap<u64, u32> = BTreeMap::new();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(30), "read back");
        let got = match consumer.read(500, Duration::from_millis(1_000)).await {
            Ok(got) => got,
            // The consumer's own leader may have been the server killed: a new one is
            // elected meanwhile, as the node's reader waits for.
            Err(e) if e.is_unavailable() => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => panic!("read: {e}"),
        };
        if got.is_empty() {
            break;
        }
        for d in got {
            let id = std::str::from_utf8(&d.payload)
                .ok()
                .and_then(|s| s.strip_prefix('m'))
                .and_then(|s| s.parse().ok())
                .expect("a record this test wrote");
            *stored.entry(id).or_default() += 1;
            d.ack().await.expect("ack");
        }
    }
    let lost: Vec<u64> = outcome
        .acknowledged
        .iter()
        .copied()
        .filter(|id| !stored.contains_key(id))
        .collect();
    let twice = stored.values().filter(|&&n| n > 1).count();
    let extra = stored
        .keys()
        .filter(|id| !outcome.acknowledged.contains(id))
        .count();
    eprintln!(
        "killed server {killed}: {} records acknowledged, {} stored ({extra} of failed appends), \
         {twice} stored twice, {} appends failed: {:?}",
        outcome.acknowledged.len(),
        stored.len(),
        outcome.errors.len(),
        outcome.errors.iter().collect::<BTreeSet<_>>(),
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged records are not in the stream, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert_eq!(twice, 0, "the stream keeps each message id once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_the_log_is_connected_to_loses_no_acknowledged_record() {
    kill_under_load(|cluster| {
        let on = cluster.connected("signal-edge");
        assert_eq!(on.len(), 1, "the log has one connection: {on:?}");
        on[0]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_events_streams_leader_loses_no_acknowledged_record() {
    kill_under_load(|cluster| {
        cluster
            .stream_leader("SIGNAL_EVENTS")
            .expect("the events stream has a leader")
    })
    .await;
}
