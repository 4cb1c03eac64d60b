//! The CI performance guard of the whole path an event takes through the node: the gateway's
//! handling of a batch (`gateway::build`: parse, validate, one spool record per event), the
//! spool append (made durable) and read, the record decoded back into an event, the Pendo
//! mapping and the request's bytes (the delivery engine's [`Job`]).
//!
//! `cargo run --release --example path_guard` runs 2,000 events of the realistic mix, in
//! batches of 100 as `/v1/batch` takes them, through that path, and the same events through the
//! serde_json baseline (`benches/support/serde_baseline.rs`), each under
//! `valgrind --tool=callgrind` in a child process, and compares instruction counts per event:
//! deterministic for a given binary and input, whatever else the machine is doing. The figure
//! guarded is the ratio (whole path / baseline): a toolchain change that moves both does not
//! trip it; a change that makes the path more than 10% costlier relative to the baseline does.
//! The expected ratio lives in `.ci/perf-guard-path-ratio`; lower it when the path gets cheaper.
//!
//! `path_guard run setup|path|serde` is the measured part (what valgrind runs). Every mode makes
//! the same setup (the mix and its batches, the mapper, a spool opened on a temporary directory,
//! tmpfs `/dev/shm` when there is one, and closed at the end); `setup` does only that, and its
//! count is subtracted from the others. Not counted: the HTTP layer on either side (hyper, the
//! listener, the vendor client), deduplication, the identity store (an empty in-memory one), and
//! the acknowledgement; `perf_guard` guards the parse + map hot path alone.

#[path = "support/guard.rs"]
mod guard;
#[path = "../benches/support/serde_baseline.rs"]
mod serde_baseline;

use hyper::Method;
use hyper::header::{HeaderMap, HeaderValue, USER_AGENT};
use signal_core::record::Reader;
use signal_core::sample::Samples;
use signal_core::{Event, Mapped, Mapper, MemoryIdentity, PADDING, Shape};
use signal_forward::Job;
use signal_server::gateway::{self, Request};
use signal_spool::{Consumer, Spool, SpoolConfig, Start};
use signal_store::SourceRecord;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;

const EVENTS: usize = 2_000;
const BATCH: usize = 100;
const NOW: i64 = 1_764_140_000_000;

/// The record -> event decode, as delivery's reader does it (`pipeline/read.rs`: the payload
/// copied with simd-json's padding spare, then `signal_core::record::Reader`, which reads a
/// version 2 record without validating it again); `then` gets the event. The one place to
/// change when the reader changes.
fn decoded<R>(
    reader: &mut Reader,
    payload: &[u8],
    then: impl FnOnce(&Event<'_, '_>) -> R,
) -> Option<R> {
    let mut buf = Vec::with_capacity(payload.len() + PADDING);
    buf.extend_from_slice(payload);
    let record = reader.read(&mut buf).ok()?;
    let ev = record.event().ok()?;
    Some(then(&ev))
}

/// What every mode makes, and drops at the end.
struct Setup {
    /// The events, one JSON body each (the baseline's input).
    events: Vec<Vec<u8>>,
    /// The same events as `{"batch":[..]}` bodies of [`BATCH`] (the path's input).
    batches: Vec<Vec<u8>>,
    mapper: Mapper,
    source: SourceRecord,
    headers: HeaderMap,
    dir: PathBuf,
    spool: Spool,
    consumer: Consumer,
}

impl Setup {
    fn new() -> Self {
        let events = Samples::new(42).take(EVENTS);
        let batches = events
            .chunks(BATCH)
            .map(|chunk| {
                let mut body = b"{\"batch\":[".to_vec();
                for (i, ev) in chunk.iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(ev);
                }
                body.extend_from_slice(b"]}");
                body
            })
            .collect();
        let mapper = Mapper::from_config(
            "pendo",
            &serde_json::json!({"api_key": "a", "integration_key": "k"}),
        )
        .unwrap_or_else(|e| panic!("config: {e}"));
        let source = SourceRecord {
            id: "web".into(),
            name: "Web".into(),
            pipeline_key: "key".into(),
            secret: "secret".into(),
            allowed_origins: Vec::new(),
            rate_limit_per_second: 1_000,
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static("analytics-node/2.1.0 (linux; x64)"),
        );
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("path-guard-{}", std::process::id()));
        let spool = Spool::open(SpoolConfig::new(&dir)).unwrap_or_else(|e| panic!("spool: {e}"));
        let consumer = spool
            .consumer("pendo", Start::Earliest)
            .unwrap_or_else(|e| panic!("consumer: {e}"));
        Self {
            events,
            batches,
            mapper,
            source,
            headers,
            dir,
            spool,
            consumer,
        }
    }

    fn close(self) {
        let Setup {
            spool,
            consumer,
            dir,
            ..
        } = self;
        drop(consumer);
        spool.close();
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// One batch through the whole path; the bytes of the requests it makes. Panics when anything
/// on the way fails: a guard that skipped failing events would count less work, and pass.
fn batch_through(s: &mut Setup, reader: &mut Reader, ids: &MemoryIdentity, body: &[u8]) -> usize {
    let req = Request {
        method: &Method::POST,
        path: "/v1/batch",
        headers: &s.headers,
        body,
        peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        now_ms: NOW,
    };
    let built = gateway::build(&req, body, &s.source, Shape::Batch, &mut String::new)
        .unwrap_or_else(|e| panic!("gateway: {e}"));
    assert!(built.rejected.is_empty(), "gateway rejected events");
    let records: Vec<Vec<u8>> = built.events.into_iter().map(|p| p.record).collect();
    let count = records.len();
    s.spool
        .append(records)
        .wait()
        .unwrap_or_else(|e| panic!("append: {e}"));
    let read = s
        .consumer
        .read(count)
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(read.len(), count, "records read back");
    let mapper = &mut s.mapper;
    read.iter()
        .map(|record| {
            decoded(reader, &record.payload, |ev| {
                match mapper.map(ev, ids, NOW).outcome {
                    Mapped::Send(items) => items
                        .iter()
                        .map(|item| Job::from_item(record.seq, &item).bytes())
                        .sum(),
                    Mapped::Dropped(_) => 0,
                }
            })
            .unwrap_or_else(|| panic!("record {} does not decode", record.seq))
        })
        .sum()
}

fn run(mode: &str) {
    let mut s = Setup::new();
    match mode {
        "setup" => {
            black_box(&mut s);
        }
        "path" => {
            let ids = MemoryIdentity::new();
            let mut reader = Reader::new();
            let batches = std::mem::take(&mut s.batches);
            let out: usize = batches
                .iter()
                .map(|body| batch_through(&mut s, &mut reader, &ids, body))
                .sum();
            assert!(out > 0, "no request bytes");
            black_box((out, batches));
        }
        _ => {
            let out: usize = s
                .events
                .iter()
                .map(|body| serde_baseline::map_event(body, NOW).map_or(0, |v| v.len()))
                .sum();
            black_box(out);
        }
    }
    s.close();
}

fn main() -> ExitCode {
    guard::main(
        "path guard",
        "the whole path",
        EVENTS,
        ".ci/perf-guard-path-ratio",
        ("path", "serde"),
        run,
    )
}
