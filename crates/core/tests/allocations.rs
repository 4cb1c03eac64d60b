//! Heap allocations on the hot path, counted by a counting global allocator (its own test
//! binary, so no other test shares the counter). Once the parser's and mapper's buffers have
//! grown, a page or track event costs no allocation at all; identify and group records allocate
//! only for the warnings that name renamed reserved keys.

use signal_core::sample::Samples;
use signal_core::{EventType, Mapper, MemoryIdentity, Parser, Shape};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

// `stats_alloc` wraps the system allocator and counts; it keeps unsafe code out of this repo.
#[path = "../../../benches/support/serde_baseline.rs"]
mod serde_baseline;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations() -> usize {
    let s = GLOBAL.stats();
    s.allocations + s.reallocations
}

#[test]
fn allocations_per_event_after_warm_up() {
    let mut mapper = Mapper::from_config(
        "pendo",
        &serde_json::json!({"api_key": "a", "integration_key": "k"}),
    )
    .expect("valid");
    let ids = MemoryIdentity::new();
    let mut parser = Parser::new();
    let mix: Vec<(EventType, Vec<u8>)> = {
        let mut s = Samples::new(3);
        (0..2_000).map(|_| s.next_event()).collect()
    };
    let mut inputs: Vec<Vec<u8>> = mix.iter().map(|(_, b)| b.clone()).collect();
    let mut run = |inputs: &mut Vec<Vec<u8>>, counts: &mut [(usize, usize); 4]| {
        for ((kind, _), body) in mix.iter().zip(inputs.iter_mut()) {
            let before = allocations();
            let doc = parser.parse(body, Shape::Event(None)).expect("valid");
            let ev = doc.event(0).expect("valid");
            std::hint::black_box(mapper.map(&ev, &ids, 1_764_140_000_000).outcome);
            drop(doc);
            let slot = match kind {
                EventType::Page => 0,
                EventType::Track => 1,
                EventType::Identify => 2,
                _ => 3,
            };
            counts[slot].0 += allocations() - before;
            counts[slot].1 += 1;
        }
    };
    // Warm-up grows the buffers; the inputs are consumed by in-place unescaping, so refresh them.
    run(&mut inputs, &mut [(0, 0); 4]);
    let mut inputs: Vec<Vec<u8>> = mix.iter().map(|(_, b)| b.clone()).collect();
    let mut counts = [(0usize, 0usize); 4];
    run(&mut inputs, &mut counts);
    let per = |(a, n): (usize, usize)| a as f64 / n.max(1) as f64;
    let total: (usize, usize) = counts.iter().fold((0, 0), |t, c| (t.0 + c.0, t.1 + c.1));
    println!(
        "allocations per event: page {:.2}, track {:.2}, identify {:.2}, group {:.2}; mix {:.2}",
        per(counts[0]),
        per(counts[1]),
        per(counts[2]),
        per(counts[3]),
        per(total)
    );
    // The same mapping the straightforward way, for scale.
    let before = allocations();
    for (_, body) in &mix {
        std::hint::black_box(serde_baseline::map_event(body, 1_764_140_000_000));
    }
    let baseline = (allocations() - before) as f64 / mix.len() as f64;
    println!("serde_json::Value baseline: {baseline:.1} allocations per event");
    assert!(baseline > per(total), "the baseline should allocate more");
    assert_eq!(counts[0].0, 0, "page events allocate");
    assert_eq!(counts[1].0, 0, "track events allocate");
    // The mix's identify traits carry `email` and `role`, its group traits `name` and
    // `monthly_value`: reserved names, each renamed with a warning that names old and new (two
    // strings per renamed key).
    assert!(per(counts[2]) <= 5.0, "identify: {}", per(counts[2]));
    assert!(per(counts[3]) <= 5.0, "group: {}", per(counts[3]));
}
