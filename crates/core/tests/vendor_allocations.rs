//! Heap allocations per event of each vendor's write plan over the sample mix, after warm-up,
//! counted by a counting global allocator (its own test binary, so no other test shares the
//! counter). Printed for BENCHMARKS.md:
//! `cargo test -p signal-core --test vendor_allocations -- --nocapture`.

use signal_core::sample::Samples;
use signal_core::{Mapper, MemoryIdentity, Parser, Shape};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations() -> usize {
    let s = GLOBAL.stats();
    s.allocations + s.reallocations
}

/// Under one allocation per event on average for every vendor: Pendo allocates only for the
/// warnings that name renamed reserved keys (identify and group), the others about as little.
#[test]
fn allocations_per_event_for_each_vendor() {
    for (vendor, config, bound) in [
        (
            "pendo",
            serde_json::json!({"api_key": "a", "integration_key": "k"}),
            1.0,
        ),
        ("amplitude", serde_json::json!({"api_key": "a"}), 1.0),
        // Heap flattens properties into dotted keys (a small buffer per nested key).
        (
            "heap",
            serde_json::json!({"app_id": "1234567890", "anonymous_users": "identity"}),
            1.0,
        ),
    ] {
        let mut mapper = Mapper::from_config(vendor, &config).expect("valid");
        let ids = MemoryIdentity::new();
        let mut parser = Parser::new();
        let mix: Vec<Vec<u8>> = {
            let mut s = Samples::new(3);
            (0..2_000).map(|_| s.next_event().1).collect()
        };
        let mut run = |count: bool| {
            let mut total = 0usize;
            for body in &mix {
                let mut body = body.clone();
                let doc = parser.parse(&mut body, Shape::Event(None)).expect("valid");
                let ev = doc.event(0).expect("valid");
                let before = allocations();
                std::hint::black_box(mapper.map(&ev, &ids, 1_764_140_000_000).outcome);
                if count {
                    total += allocations() - before;
                }
            }
            total as f64 / mix.len() as f64
        };
        run(false);
        let per = run(true);
        println!("{vendor}: {per:.2} allocations per event (mapping only)");
        assert!(per <= bound, "{vendor}: {per} allocations per event");
    }
}
