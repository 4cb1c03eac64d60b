//! The real binary on a real full file system: the spool directory is a small tmpfs that a test
//! fills. Needs root (to mount); elsewhere the test says why it is skipped and passes.

use crate::harness::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(at.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Writes `path` until the file system refuses.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let block = vec![b'x'; 4096];
    while f.write_all(&block).is_ok() {}
}

/// A batch of `n` track events numbered from `first`, each with a little padding.
fn batch(first: u64, n: u64) -> Value {
    let events: Vec<Value> = (first..first + n)
        .map(|i| {
            json!({"type": "track", "event": "feature_used", "userId": "u-1",
                   "messageId": format!("m-{i}"), "timestamp": 1_764_140_000_000_i64 + i as i64,
                   "properties": {"n": i, "pad": "p".repeat(300)}})
        })
        .collect();
    json!({ "batch": events })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_not_ready_and_every_200_after_it_is_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool_dir = dir.path().join("spool");
    let _tmpfs = match Tmpfs::mount(&spool_dir, "2m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs for the spool here ({why}); needs root");
            return;
        }
    };
    let (sim, _subs) = sandbox("us", "ik").await;
    let edge = Edge::start(dir.path(), &[("SIGNAL_PENDO_BASE_URL_US", sim.base_url())]);
    edge.install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;

    let mut acknowledged = BTreeSet::new();
    let mut next = 0u64;
    let (status, v) = edge.ingest("/v1/batch", batch(next, 10)).await;
    assert_eq!(status, 200, "{v}");
    acknowledged.extend(next..next + 10);
    next += 10;

    // The disk fills: a batch is refused with 503, and the node says it is not ready.
    fill(&spool_dir.join("filler"));
    let mut refused = false;
    for _ in 0..20 {
        let (status, _) = edge.ingest("/v1/batch", batch(next, 20)).await;
        if status == 200 {
            acknowledged.extend(next..next + 20);
        } else {
            assert_eq!(status, 503);
            refused = true;
        }
        next += 20;
        if refused {
            break;
        }
    }
    assert!(refused, "a full disk refuses a batch");
    assert_eq!(
        edge.text("/readyz").await.0,
        503,
        "not ready while appends fail"
    );

    // Space is freed: readiness comes back by itself, and every batch answered 200 from now on
    // reaches Pendo.
    std::fs::remove_file(spool_dir.join("filler")).expect("free the space");
    let start = std::time::Instant::now();
    while edge.text("/readyz").await.0 != 200 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "ready again once space is freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        let (status, v) = edge.ingest("/v1/batch", batch(next, 20)).await;
        assert_eq!(status, 200, "{v}");
        acknowledged.extend(next..next + 20);
        next += 20;
    }
    let delivered = || -> BTreeSet<u64> {
        track_bodies(&sim)
            .iter()
            .filter_map(|b| b["properties"]["n"].as_u64())
            .collect()
    };
    let start = std::time::Instant::now();
    while !acknowledged.is_subset(&delivered()) {
        let missing: Vec<_> = acknowledged.difference(&delivered()).copied().collect();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "events answered 200 never delivered: {missing:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    edge.kill();
}
