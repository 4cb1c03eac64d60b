//! `signal-edge loadgen --deliver`, in short: the node in-process, the Pendo sandbox as Pendo,
//! and every track event the harness sent arrives at the sandbox (its send time read back from
//! each accepted item).

use signal_demo::loadgen::{LoadOptions, run};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_track_event_sent_is_delivered_to_the_sandbox() {
    let report = run(LoadOptions {
        clients: 2,
        batch: 10,
        rate: Some(100),
        duration: Duration::from_secs(2),
        deliver: true,
        ..LoadOptions::default()
    })
    .await
    .expect("the load runs");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(
        report["accepted_events"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    let sent = report["track_events_sent"].as_u64().unwrap_or(0);
    assert!(sent > 0, "{report}");
    assert_eq!(report["track_requests_delivered"], sent, "{report}");
}
