//! The hot path: parse + map + serialize one event, over a realistic generated mix (40% page,
//! 40% track, 15% identify, 5% group; 300 B to 2 KB), against the same mapping written the
//! straightforward way on `serde_json::Value`, in one benchmark group.
//!
//! `cargo bench --bench hot_path`. Inputs are cloned outside the timed part
//! (`iter_batched_ref`), because simd-json unescapes strings in place.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use signal_core::sample::Samples;
use signal_core::{Blueprint, IntegrationConfig, Mapped, Mapper, MemoryIdentity, Parser, Shape};
use std::hint::black_box;

#[path = "support/serde_baseline.rs"]
mod serde_baseline;

const EVENTS: usize = 1_000;
const NOW: i64 = 1_764_140_000_000;

fn mapper() -> Mapper {
    let bp = Blueprint::get("pendo").expect("embedded");
    let (config, variant) = IntegrationConfig::validate_install(
        bp,
        None,
        None,
        &serde_json::json!({"api_key": "a", "integration_key": "k"}),
    )
    .expect("valid");
    Mapper::new(bp, variant, config)
}

/// Parse + map one body with signal-core; returns the request's length (0 when dropped).
fn fast(parser: &mut Parser, mapper: &mut Mapper, ids: &MemoryIdentity, body: &mut [u8]) -> usize {
    let Ok(doc) = parser.parse(body, Shape::Event(None)) else {
        return 0;
    };
    let Ok(ev) = doc.event(0) else { return 0 };
    match mapper.map(&ev, ids, NOW).outcome {
        Mapped::Track { body, .. } => body.len(),
        Mapped::Metadata(r) => r.body.len(),
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
            Mapped::Track { body, .. } => Some(body.to_vec()),
            Mapped::Metadata(r) => Some(r.body.to_vec()),
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
    check_same_output(&mix);
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
        group.bench_function("signal_core_tape", |b| {
            b.iter_batched_ref(
                || mix.clone(),
                |inputs| {
                    let mut out = 0;
                    for body in inputs.iter_mut() {
                        out += fast(&mut parser, &mut m, &ids, body);
                    }
                    black_box(out)
                },
                BatchSize::LargeInput,
            );
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

criterion_group!(benches, hot_path);
criterion_main!(benches);
