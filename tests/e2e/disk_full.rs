//! The node on a real full filesystem: its data directory on a small tmpfs that the test fills.
//! Every event answered 200, before or after the disk filled, must reach Pendo once the
//! integration can deliver, and no event answered 503 ever does; `/readyz` says 503 while
//! appends fail. Mounting needs root (and a
//! kernel that lets this process mount): where it cannot, the test prints why and returns.

use crate::harness::*;
use crate::tmpfs::{Tmpfs, fill};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What the node answered, per event.
#[derive(Default)]
struct Answers {
    /// Events of batches answered 200.
    acknowledged: BTreeSet<i64>,
    /// Events of batches answered anything else (503).
    refused: BTreeSet<i64>,
}

impl Answers {
    /// Remembers the events of a batch answered `status`.
    fn record(&mut self, status: u16, from: u32, n: u32) {
        let events = (from..from + n).map(i64::from);
        if status == 200 {
            self.acknowledged.extend(events);
        } else {
            self.refused.extend(events);
        }
    }
}

fn batch(from: u32, n: u32) -> Value {
    let events: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({"type": "track", "userId": "u", "event": "Filled",
                   "messageId": format!("m-{i}"), "properties": {"n": i, "pad": "x".repeat(400)}})
        })
        .collect();
    json!({ "batch": events })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_disk_every_200_is_still_delivered_and_readyz_says_503() {
    let disk = match Tmpfs::mount("16m") {
        Ok(d) => d,
        Err(why) => {
            println!("skipped: the real full-disk test needs a tmpfs: {why}");
            return;
        }
    };
    let (sim, _subs) = sandbox("us", "right-key").await;
    let edge = Edge::start(
        disk.path(),
        &[
            ("SIGNAL_PENDO_BASE_URL_US", sim.base_url()),
            ("SIGNAL_PAUSE_PROBE_MS", "600000".into()),
        ],
    );
    // A wrong key: the integration pauses and every event stays in the spool.
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "wrong-key"}))
        .await;
    let mut answers = Answers::default();
    let mut next = 0;
    let (s, _) = edge.ingest("/v1/batch", batch(next, 20)).await;
    assert_eq!(s, 200, "an empty disk takes the first batch");
    answers.record(s, next, 20);
    next += 20;

    let filler = fill(disk.path());
    // Batches until the disk refuses one: that one (and any after it) gets 503.
    let mut refused = 0;
    for _ in 0..50 {
        let (s, v) = edge.ingest("/v1/batch", batch(next, 20)).await;
        assert!(s == 200 || s == 503, "{s} {v}");
        answers.record(s, next, 20);
        next += 20;
        if s == 503 {
            refused += 1;
            break;
        }
    }
    assert_eq!(refused, 1, "a full disk must refuse a batch with 503");
    let (ready, body) = edge.text("/readyz").await;
    assert_eq!(ready, 503, "readyz while appends fail: {body}");

    // Space comes back: the node takes events again, without a restart.
    std::fs::remove_file(&filler).expect("remove filler");
    let mut after = 0;
    for _ in 0..100 {
        let (s, _) = edge.ingest("/v1/batch", batch(next, 20)).await;
        answers.record(s, next, 20);
        next += 20;
        if s == 200 {
            after += 1;
            if after == 5 {
                break;
            }
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert_eq!(after, 5, "freed space must let ingestion resume");
    let (ready, body) = edge.text("/readyz").await;
    assert_eq!(ready, 200, "readyz once appends succeed: {body}");

    // The fix: every event answered 200 reaches Pendo, none lost behind the failed write.
    edge.set_config(&id, json!({"integration_key": "right-key"}))
        .await;
    let delivered = || delivered_ns(&sim);
    let acknowledged = &answers.acknowledged;
    let start = std::time::Instant::now();
    while !acknowledged.is_subset(&delivered())
        && start.elapsed() < std::time::Duration::from_secs(20)
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let missing: Vec<i64> = acknowledged.difference(&delivered()).copied().collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events never reached Pendo: {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(20)]
    );
    // Refused events (the spool cut them off, or bounded them) never come back: they come
    // before the later acknowledged ones in the spool, so by now they would have been sent.
    let resurrected: Vec<i64> = answers
        .refused
        .intersection(&delivered())
        .copied()
        .collect();
    assert!(
        !answers.refused.is_empty() && resurrected.is_empty(),
        "{} of {} events answered 503 reached Pendo: {:?}",
        resurrected.len(),
        answers.refused.len(),
        &resurrected[..resurrected.len().min(20)]
    );
    drop(edge);
}
