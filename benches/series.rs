//! What counting an outcome per second costs (the stats' `series`, the integration page's
//! charts), next to what it is made of, in one run: the wall-clock read alone (the baseline:
//! `SystemTime::now`, as the stats read it), `Series::record` alone (the ring's lock and slot),
//! and the two calls the outcome task makes per event, `Stats::count` and `Stats::delivered`,
//! which do both plus the counters they always kept.
//!
//! `cargo bench --bench series`.

use criterion::{Criterion, criterion_group, criterion_main};
use signal_server::live::{DELIVERED, Series, Stats};
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn outcome(c: &mut Criterion) {
    let mut g = c.benchmark_group("outcome");
    g.bench_function("clock_read", |b| b.iter(|| black_box(now_s())));
    let series = Series::default();
    let mut n = 0u64;
    g.bench_function("series_record", |b| {
        b.iter(|| {
            n += 1;
            series.record(
                black_box(1_764_000_000 + n / 1_000_000),
                DELIVERED,
                Some(n % 50),
            );
        })
    });
    let stats = Stats::default();
    g.bench_function("stats_count", |b| {
        b.iter(|| stats.count(black_box("retrying")))
    });
    g.bench_function("stats_delivered", |b| {
        b.iter(|| {
            n += 1;
            stats.delivered(black_box(n % 50));
        })
    });
    g.finish();
}

criterion_group!(benches, outcome);
criterion_main!(benches);
