//! The hot path: parse + map + serialize one event, over a realistic generated mix (40% page,
//! 40% track, 15% identify, 5% group; 300 B to 2 KB), against the same mapping written the
//! straightforward way on `serde_json::Value`, in one benchmark group. Then delivery's side:
//! a spool record of each version decoded, and decoded and mapped (`record_decode`).
//!
//! `cargo bench --bench hot_path`. simd-json unescapes strings in place, so each body is first
//! copied into one reused buffer with simd-json's padding after it, as the gateway holds a body
//! it has read off the socket; that copy is inside the timed part (it costs our side, not the
//! baseline's). Cloning the whole mix per iteration outside the timed part (`iter_batched_ref`)
//! was tried first: the 1,000 fresh allocations it leaves behind made the timings swing by 30%
//! between groups that run the same code.

use criterion::{Criterion, Throughput, criterion_group};
use signal_core::record::Reader;
use signal_core::sample::Samples;
use signal_core::{Mapped, Mapper, MemoryIdentity, PADDING, Parser, Shape};
use std::hint::black_box;
use std::time::Instant;

#[path = "support/serde_baseline.rs"]
mod serde_baseline;

const EVENTS: usize = 1_000;
const NOW: i64 = 1_764_140_000_000;

fn mapper() -> Mapper {
    vendor_mapper("pendo")
}

/// Parse + map one body with signal-core; returns the request's length (0 when dropped).
/// The body sits in `body[..len]` with [`PADDING`] bytes after it, as the gateway keeps it.
fn fast(
    parser: &mut Parser,
    mapper: &mut Mapper,
    ids: &MemoryIdentity,
    body: &mut [u8],
    len: usize,
) -> usize {
    let Ok(doc) = parser.parse_padded(body, len, Shape::Event(None)) else {
        return 0;
    };
    let Ok(ev) = doc.event(0) else { return 0 };
    match mapper.map(&ev, ids, NOW).outcome {
        Mapped::Send(items) => items.iter().map(|i| i.body.len()).sum(),
        Mapped::Dropped(_) => 0,
    }
}

/// Both ways must say the same thing, or the comparison means nothing.
fn check_same_output(mix: &[Vec<u8>]) {
    let mut parser = Parser::new();
    let mut m = mapper();
    let ids = MemoryIdentity::new();
    for input in mix {
        let mut buf = input.clone();
        let doc = parser.parse(&mut buf, Shape::Event(None)).expect("valid");
        let ev = doc.event(0).expect("valid");
        let ours = match m.map(&ev, &ids, NOW).outcome {
            Mapped::Send(items) => items.get(0).map(|i| i.body.to_vec()),
            Mapped::Dropped(_) => None,
        };
        let theirs = serde_baseline::map_event(input, NOW);
        let parse = |b: &Option<Vec<u8>>| {
            b.as_ref()
                .map(|b| serde_json::from_slice::<serde_json::Value>(b).expect("json"))
        };
        assert_eq!(
            parse(&ours),
            parse(&theirs),
            "baseline disagrees on {}",
            String::from_utf8_lossy(input)
        );
    }
}

fn hot_path(c: &mut Criterion) {
    let mix = Samples::new(42).take(EVENTS);
    let bytes: usize = mix.iter().map(Vec::len).sum();
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(bytes as u64)),
        ("events", Throughput::Elements(EVENTS as u64)),
    ] {
        let mut group = c.benchmark_group(format!("hot_path_{unit}"));
        group.throughput(throughput);
        let mut parser = Parser::new();
        let mut m = mapper();
        let ids = MemoryIdentity::new();
        let mut buf = Vec::with_capacity(64 * 1024);
        group.bench_function("signal_core_tape", |b| {
            b.iter(|| {
                let mut out = 0;
                for body in &mix {
                    buf.clear();
                    buf.extend_from_slice(body);
                    buf.resize(body.len() + PADDING, b' ');
                    out += fast(&mut parser, &mut m, &ids, &mut buf, body.len());
                }
                black_box(out)
            });
        });
        group.bench_function("serde_json_value", |b| {
            b.iter(|| {
                let mut out = 0;
                for body in &mix {
                    out += serde_baseline::map_event(body, NOW).map_or(0, |v| v.len());
                }
                black_box(out)
            });
        });
        group.finish();
    }
}

/// Both ways over the whole mix, alternating, many rounds: this machine's speed drifts by tens of
/// percent within a minute, so criterion's groups (one function after the other) can disagree on
/// the ratio; rounds that run both back to back measure it under the same conditions.
fn paired_ratio(mix: &[Vec<u8>]) {
    const ROUNDS: usize = 41;
    let mut parser = Parser::new();
    let mut m = mapper();
    let ids = MemoryIdentity::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut ours = Vec::with_capacity(ROUNDS);
    let mut theirs = Vec::with_capacity(ROUNDS);
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut ceiling = Vec::with_capacity(ROUNDS);
    let mut buffers = simd_json::Buffers::new(64 * 1024);
    let mut tape = simd_json::Tape::null();
    for _ in 0..ROUNDS {
        // The ceiling: simd-json filling its tape, nothing else.
        let t = Instant::now();
        for body in mix {
            buf.clear();
            buf.extend_from_slice(body);
            buf.resize(body.len() + PADDING, b' ');
            let mut filled = std::mem::replace(&mut tape, simd_json::Tape::null()).reset();
            let ok = simd_json::fill_tape_padded(&mut buf, body.len(), &mut buffers, &mut filled);
            black_box((ok.is_ok(), filled.0.len()));
            tape = filled.reset();
        }
        ceiling.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut out = 0;
        for body in mix {
            buf.clear();
            buf.extend_from_slice(body);
            buf.resize(body.len() + PADDING, b' ');
            out += fast(&mut parser, &mut m, &ids, &mut buf, body.len());
        }
        black_box(out);
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut out = 0;
        for body in mix {
            out += serde_baseline::map_event(body, NOW).map_or(0, |v| v.len());
        }
        black_box(out);
        let b = t.elapsed().as_secs_f64();
        ours.push(a);
        theirs.push(b);
        ratios.push(b / a);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let bytes: usize = mix.iter().map(Vec::len).sum();
    let (a, b, r) = (median(&mut ours), median(&mut theirs), median(&mut ratios));
    let c = median(&mut ceiling);
    let n = mix.len() as f64;
    let mib = |t: f64| bytes as f64 / t / 1_048_576.0;
    println!(
        "paired ({ROUNDS} rounds of {} events, {:.0} B average; medians):\n  \
         simd_json_tape_only (ceiling): {:.0} events/s, {:.1} MiB/s\n  \
         signal_core_tape:              {:.0} events/s, {:.1} MiB/s\n  \
         serde_json_value:              {:.0} events/s, {:.1} MiB/s\n  \
         ratio serde time / tape time:  {r:.2}x",
        mix.len(),
        bytes as f64 / n,
        n / c,
        mib(c),
        n / a,
        mib(a),
        n / b,
        mib(b),
    );
}

/// A mapper for `vendor` with the smallest valid config.
fn vendor_mapper(vendor: &str) -> Mapper {
    let config = match vendor {
        "pendo" => serde_json::json!({"api_key": "a", "integration_key": "k"}),
        "amplitude" => serde_json::json!({"api_key": "a"}),
        // Heap drops anonymous events by default; the mix is half anonymous, so send them.
        "heap" => serde_json::json!({"app_id": "1234567890", "anonymous_users": "identity"}),
        other => panic!("no config for {other}"),
    };
    Mapper::from_config(vendor, &config).expect("valid")
}

/// Each vendor's blueprint over the same mix, in paired rounds with the serde_json baseline
/// (Pendo's mapping written the straightforward way), so each vendor's figure is a ratio to a
/// baseline measured in the same round. Amplitude's and Heap's items are also appended into a
/// batch body (items joined by commas, cut at the blueprint's `max_items`), as the delivery
/// engine's batcher does, so their figure is per event batched.
fn vendors(mix: &[Vec<u8>]) {
    const ROUNDS: usize = 21;
    let ids = MemoryIdentity::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 20);
    println!(
        "vendors ({ROUNDS} paired rounds of {} events; medians):",
        mix.len()
    );
    for vendor in ["pendo", "amplitude", "heap"] {
        let mut parser = Parser::new();
        let mut m = vendor_mapper(vendor);
        let max_items = m
            .blueprint()
            .requests
            .values()
            .filter_map(|r| r.batch.as_ref().map(|b| b.max_items))
            .max()
            .unwrap_or(1);
        let (mut ours, mut ratios, mut sent) = (Vec::new(), Vec::new(), 0usize);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let (mut in_batch, mut items) = (0usize, 0usize);
            batch.clear();
            for body in mix {
                buf.clear();
                buf.extend_from_slice(body);
                buf.resize(body.len() + PADDING, b' ');
                let Ok(doc) = parser.parse_padded(&mut buf, body.len(), Shape::Event(None)) else {
                    continue;
                };
                let Ok(ev) = doc.event(0) else { continue };
                if let Mapped::Send(sent_items) = m.map(&ev, &ids, NOW).outcome {
                    for item in sent_items.iter() {
                        if in_batch == max_items {
                            black_box(&batch);
                            batch.clear();
                            in_batch = 0;
                        }
                        if in_batch > 0 {
                            batch.push(b',');
                        }
                        batch.extend_from_slice(item.body);
                        in_batch += 1;
                        items += 1;
                    }
                }
            }
            black_box(&batch);
            let a = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut out = 0;
            for body in mix {
                out += serde_baseline::map_event(body, NOW).map_or(0, |v| v.len());
            }
            black_box(out);
            let b = t.elapsed().as_secs_f64();
            ours.push(a);
            ratios.push(b / a);
            sent = items;
        }
        ours.sort_by(f64::total_cmp);
        ratios.sort_by(f64::total_cmp);
        let a = ours[ROUNDS / 2];
        println!(
            "  {vendor:<9} {:>9.0} events/s, {sent} items; serde_json baseline time / ours: {:.2}x",
            mix.len() as f64 / a,
            ratios[ROUNDS / 2]
        );
    }
}

/// The mix as spool records, as the gateway writes them (version 2: `signal_core::record`'s
/// header, then the JSON), with a request's context; and the same records as the previous
/// release wrote them (version 1: the JSON alone, byte for byte the same).
fn records(mix: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut parser = Parser::new();
    let (mut v1, mut v2) = (Vec::new(), Vec::new());
    for body in mix {
        let mut buf = body.clone();
        let doc = parser.parse(&mut buf, Shape::Event(None)).expect("valid");
        let ev = doc.event(0).expect("valid");
        let mut rec = Vec::new();
        signal_core::record::write_header(&mut rec, &ev, NOW);
        let header = rec.len();
        rec.extend_from_slice(
            format!(
                "{{\"receivedAt\":{NOW},\"sourceId\":\"web\",\"context\":{{\"ip\":\"203.0.113.9\",\
                 \"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 \
                 Firefox/125.0\"}},\"batch\":["
            )
            .as_bytes(),
        );
        rec.extend_from_slice(body);
        rec.extend_from_slice(b"]}");
        v1.push(rec[header..].to_vec());
        v2.push(rec);
    }
    (v1, v2)
}

/// Delivery's decode of one record (`signal_core::record::Reader`, as the pipeline's reader
/// thread reads it: a copy with room for the padding), then, when `map`, the Pendo mapping;
/// the request bytes written (0 when dropped), or the event's type when not mapped.
fn deliver(
    reader: &mut Reader,
    m: &mut Mapper,
    ids: &MemoryIdentity,
    rec: &[u8],
    map: bool,
) -> usize {
    let mut buf = Vec::with_capacity(rec.len() + PADDING);
    buf.extend_from_slice(rec);
    let Ok(decoded) = reader.read(&mut buf) else {
        return 0;
    };
    let Ok(ev) = decoded.event() else { return 0 };
    if !map {
        return ev.kind as usize + usize::from(ev.timestamp.is_some());
    }
    match m.map(&ev, ids, NOW).outcome {
        Mapped::Send(items) => items.iter().map(|i| i.body.len()).sum(),
        Mapped::Dropped(_) => 0,
    }
}

/// Delivery's side, paired rounds: the decode of a version 1 record (parsed and validated
/// whole, as the previous release did) against a version 2 record (trusted); then decode plus
/// the Pendo mapping, the whole per-event path of delivery, each way. Both ways must map to the
/// same bytes.
fn record_decode(mix: &[Vec<u8>]) {
    const ROUNDS: usize = 41;
    let (v1, v2) = records(mix);
    let mut reader = Reader::new();
    let mut m = mapper();
    let ids = MemoryIdentity::new();
    let size = |r: &[Vec<u8>]| r.iter().map(Vec::len).sum::<usize>() as f64 / r.len() as f64;
    let total = |recs: &[Vec<u8>], reader: &mut Reader, m: &mut Mapper, map: bool| {
        recs.iter()
            .map(|r| deliver(reader, m, &ids, r, map))
            .sum::<usize>()
    };
    assert_eq!(
        total(&v1, &mut reader, &mut m, true),
        total(&v2, &mut reader, &mut m, true),
        "both versions map to as many bytes (record_tests compares the bytes themselves)"
    );
    let mut t = [(); 4].map(|()| Vec::with_capacity(ROUNDS));
    let mut ratio = [(); 2].map(|()| Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        let mut time = |recs: &[Vec<u8>], map: bool| {
            let start = Instant::now();
            black_box(total(recs, &mut reader, &mut m, map));
            start.elapsed().as_secs_f64()
        };
        let times = [
            time(&v1, false),
            time(&v2, false),
            time(&v1, true),
            time(&v2, true),
        ];
        for (all, one) in t.iter_mut().zip(times) {
            all.push(one);
        }
        ratio[0].push(times[0] / times[1]);
        ratio[1].push(times[2] / times[3]);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let n = mix.len() as f64;
    let us = |v: &mut Vec<f64>| median(v) / n * 1e6;
    let [a, b, c, d] = &mut t;
    let [r0, r1] = &mut ratio;
    println!(
        "records ({ROUNDS} paired rounds of {} records; medians; v1 {:.0} B, v2 {:.0} B average):\n  \
         decode v1 (parse + validate):  {:.3} us/event\n  \
         decode v2 (trusted):           {:.3} us/event  (v1 time / v2 time {:.2}x)\n  \
         decode + map v1:               {:.3} us/event\n  \
         decode + map v2:               {:.3} us/event  (v1 time / v2 time {:.2}x)",
        mix.len(),
        size(&v1),
        size(&v2),
        us(a),
        us(b),
        median(r0),
        us(c),
        us(d),
        median(r1),
    );
}

criterion_group!(benches, hot_path);

fn main() {
    let mix = Samples::new(42).take(EVENTS);
    check_same_output(&mix);
    paired_ratio(&mix);
    record_decode(&mix);
    vendors(&mix);
    benches();
    Criterion::default().configure_from_args().final_summary();
}
