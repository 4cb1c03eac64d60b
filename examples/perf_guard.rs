//! The CI performance guard of the hot path (parse + validate + map + serialize).
//!
//! `cargo run --release --example perf_guard` runs the same 2,000-event mix through signal-core
//! and through the serde_json baseline, each under `valgrind --tool=callgrind` in a child process,
//! and compares instruction counts: deterministic for a given binary and input, whatever else the
//! machine is doing. The figure guarded is the ratio of the two (signal-core / baseline), so a
//! compiler or toolchain change that moves both does not trip it; a change that makes signal-core
//! more than 10% costlier relative to the baseline does. The expected ratio lives in
//! `.ci/perf-guard-ratio`; lower it when the hot path gets cheaper.
//!
//! `perf_guard run setup|signal|serde` is the measured part (what valgrind runs); the setup
//! every mode shares is counted once on its own and subtracted (`support/guard.rs`, shared with
//! `path_guard`, the guard of the whole path).

#[path = "support/guard.rs"]
mod guard;
#[path = "../benches/support/serde_baseline.rs"]
mod serde_baseline;

use signal_core::sample::Samples;
use signal_core::{Mapped, Mapper, MemoryIdentity, PADDING, Parser, Shape};
use std::hint::black_box;
use std::process::ExitCode;

const EVENTS: usize = 2_000;
const NOW: i64 = 1_764_140_000_000;

fn run(which: &str) {
    // The setup every mode shares (the mix, the blueprint and mapper); the `setup` mode stops
    // here, and its count is subtracted from the others.
    let mix = Samples::new(42).take(EVENTS);
    let mut mapper = Mapper::from_config(
        "pendo",
        &serde_json::json!({"api_key": "a", "integration_key": "k"}),
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    match which {
        "setup" => {
            black_box((&mix, &mut mapper));
        }
        "signal" => {
            let ids = MemoryIdentity::new();
            let mut parser = Parser::new();
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut out = 0usize;
            for body in &mix {
                buf.clear();
                buf.extend_from_slice(body);
                buf.resize(body.len() + PADDING, b' ');
                // Every event of the mix is valid: one that failed and were skipped would make
                // the guard cheaper, and a regression that fails events would pass it.
                let doc = parser
                    .parse_padded(&mut buf, body.len(), Shape::Event(None))
                    .expect("the sample mix parses");
                let ev = doc.event(0).expect("the sample mix is valid");
                out += match mapper.map(&ev, &ids, NOW).outcome {
                    Mapped::Send(items) => items.iter().map(|i| i.body.len()).sum(),
                    Mapped::Dropped(_) => 0,
                };
            }
            black_box(out);
        }
        _ => {
            let mut out = 0usize;
            for body in &mix {
                out += serde_baseline::map_event(body, NOW).map_or(0, |v| v.len());
            }
            black_box(out);
        }
    }
}

fn main() -> ExitCode {
    guard::main(
        "perf guard",
        "the hot path",
        EVENTS,
        ".ci/perf-guard-ratio",
        ("signal", "serde"),
        run,
    )
}
