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
//! every mode shares is counted once on its own and subtracted.

#[path = "../benches/support/serde_baseline.rs"]
mod serde_baseline;

use signal_core::sample::Samples;
use signal_core::{Mapped, Mapper, MemoryIdentity, PADDING, Parser, Shape};
use std::hint::black_box;
use std::process::{Command, ExitCode};

const EVENTS: usize = 2_000;
const NOW: i64 = 1_764_140_000_000;
const TOLERANCE: f64 = 1.10;

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
                let Ok(doc) = parser.parse_padded(&mut buf, body.len(), Shape::Event(None)) else {
                    continue;
                };
                let Ok(ev) = doc.event(0) else { continue };
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

/// Instructions executed by `perf_guard run <which>`, counted by callgrind.
fn instructions(exe: &std::path::Path, which: &str) -> Result<u64, String> {
    let dir = std::env::temp_dir().join(format!("perf-guard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let out_file = dir.join(format!("callgrind.{which}"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(exe)
        .args(["run", which])
        .output()
        .map_err(|e| format!("valgrind: {e} (install valgrind)"))?;
    if !status.status.success() {
        return Err(format!(
            "valgrind failed: {}",
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    let text = std::fs::read_to_string(&out_file).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no instruction count in callgrind's output".into())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("run") {
        run(args.get(2).map_or("signal", String::as_str));
        return ExitCode::SUCCESS;
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("perf_guard: cannot find its own executable");
        return ExitCode::FAILURE;
    };
    let expected: f64 =
        match std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/perf-guard-ratio"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            Some(r) => r,
            None => {
                eprintln!("perf_guard: .ci/perf-guard-ratio is missing or not a number");
                return ExitCode::FAILURE;
            }
        };
    let (ours, base) = match (
        instructions(&exe, "setup"),
        instructions(&exe, "signal"),
        instructions(&exe, "serde"),
    ) {
        (Ok(setup), Ok(a), Ok(b)) => (a.saturating_sub(setup), b.saturating_sub(setup)),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("perf_guard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ratio = ours as f64 / base as f64;
    println!(
        "perf guard: {EVENTS} events; signal-core {ours} instructions ({:.0}/event), serde_json baseline {base} ({:.0}/event)",
        ours as f64 / EVENTS as f64,
        base as f64 / EVENTS as f64
    );
    println!(
        "perf guard: ratio {ratio:.4}, expected {expected:.4}, limit {:.4} (+10%)",
        expected * TOLERANCE
    );
    if ratio > expected * TOLERANCE {
        eprintln!(
            "perf guard: FAILED: the hot path costs {:.1}% more than expected relative to the baseline",
            (ratio / expected - 1.0) * 100.0
        );
        return ExitCode::FAILURE;
    }
    println!("perf guard: ok");
    ExitCode::SUCCESS
}
