//! What delivery holds in memory while the vendor does not answer: the in-flight records are
//! bounded by their bytes, not only by their count, and the rest waits in the spool.

use super::{Limits, Runtime};
use crate::settings::{Flags, Settings};
use crate::state::PipelineState;
use signal_spool::{Spool, SpoolConfig, Start};
use signal_store::IntegrationRecord;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Pendo that takes connections and never answers (as a vendor that hangs does): every
/// delivery waits for its timeout, so what is read stays in flight. Its address.
fn silent_vendor() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    (l, addr)
}

pub(super) fn shared(dir: &std::path::Path, vendor: &str) -> PipelineState {
    let vendor = vendor.to_owned();
    let settings = Settings::resolve(&Flags::default(), |k| {
        k.starts_with("SIGNAL_PENDO_BASE_URL_")
            .then(|| vendor.clone())
    })
    .unwrap();
    let threads = crate::delivery_threads::DeliveryThreads::new(settings.delivery_threads).unwrap();
    PipelineState::new(
        settings,
        signal_store::Store::open(&dir.join("store.redb")).unwrap(),
        Spool::open(SpoolConfig::new(dir.join("spool"))).unwrap(),
        signal_forward::Engine::new(),
        threads,
    )
}

pub(super) fn pendo() -> IntegrationRecord {
    let config = serde_json::json!({"api_key": "a", "integration_key": "ik"});
    IntegrationRecord {
        id: "pendo".into(),
        name: "Pendo".into(),
        blueprint: "pendo".into(),
        blueprint_version: "1".into(),
        variant: "b2b_saas".into(),
        config: config.as_object().unwrap().clone(),
        delivery_mode: "server_side".into(),
        enabled: true,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// `n` track events of about `size` bytes each, as the gateway spools them.
pub(super) fn append(spool: &Spool, n: usize, size: usize) {
    let pad = "x".repeat(size);
    let records = (0..n)
        .map(|i| {
            format!(
                r#"{{"receivedAt":0,"sourceId":"default","context":{{}},"batch":[{{"type":"track","event":"E{i}","userId":"u","properties":{{"pad":"{pad}"}}}}]}}"#
            )
            .into_bytes()
        })
        .collect();
    let append = spool.append(records);
    std::thread::scope(|s| s.spawn(|| append.wait().unwrap()).join().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_vendor_hanging_large_events_in_flight_stay_under_the_byte_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (_vendor, url) = silent_vendor();
    let shared = Arc::new(shared(dir.path(), &url));
    // 300 events of 30 KiB (about 9 MiB of records, as much again mapped) against a cap of
    // 2 MiB: the count cap (10,000) alone would let every one of them into memory.
    append(shared.spool(), 300, 30 * 1024);
    let limits = Limits {
        events: 10_000,
        bytes: 2 << 20,
    };
    let rt = Runtime::start_with(&shared, &pendo(), Start::Earliest, limits).unwrap();
    // The reader fills delivery up to the cap, then waits (and says so) instead of reading on.
    let start = Instant::now();
    while rt.stats.reads_held() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the reader never held back: {} events, {} bytes in flight",
            rt.in_flight(),
            rt.in_flight_bytes()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (events, bytes) = (rt.in_flight(), rt.in_flight_bytes());
    let one_record = 2 * (31 * 1024);
    assert!(
        bytes <= limits.bytes + one_record,
        "{bytes} bytes in flight, over the cap of {}",
        limits.bytes
    );
    assert!(bytes >= limits.bytes, "delivery filled up to its cap");
    assert!(
        events < 300,
        "{events} events in flight: the rest waits in the spool"
    );
    rt.stop().await;
    let spool = shared.spool().clone();
    drop(shared);
    tokio::task::spawn_blocking(move || spool.close())
        .await
        .unwrap();
}
