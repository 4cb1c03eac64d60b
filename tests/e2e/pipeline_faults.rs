//! Delivery's dead letters under faults: a full disk under the dead letters delays them and
//! stops nothing (the events stay in flight and are written once there is room, without a
//! restart), and dead letters dropped past their cap are shown in the stats and `/metrics`.

use crate::harness::*;
use crate::tmpfs::{Tmpfs, fill};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_dead_letters_delays_them_and_they_are_kept_once_there_is_room() {
    // Only the dead letters on a small tmpfs: the spool and the store keep working.
    let dir = tempfile::tempdir().expect("tempdir");
    let dead_dir = dir.path().join("spool").join("dead");
    std::fs::create_dir_all(&dead_dir).expect("dead-letter directory");
    let mount = match Tmpfs::mount_at(&dead_dir, "1m") {
        Ok(m) => m,
        Err(why) => {
            println!("skipped: a full disk under the dead letters needs a tmpfs: {why}");
            return;
        }
    };
    let (sim, _subs) = sandbox("us", "ik").await;
    let edge = Edge::start(
        dir.path(),
        &[
            ("SIGNAL_PENDO_BASE_URL_US", sim.base_url()),
            ("SIGNAL_RETRY_MAX_ATTEMPTS", "1".into()),
        ],
    );
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;
    let filler = fill(&dead_dir);
    sim.set_faults(failing());
    for n in 0..3 {
        let (s, v) = edge.ingest("/v1/t", doomed(n)).await;
        assert_eq!(s, 200, "{v}");
    }
    let stats_path = format!("/v1/admin/integrations/{id}/stats");
    let stats = edge
        .poll(&stats_path, |v| v["counts"]["dead_lettered"] == 3)
        .await;
    assert_eq!(stats["counts"]["dead_lettered"], 3, "{stats}");

    // The disk refuses their dead letters: the events are not lost, they wait in flight.
    let stats = edge
        .poll(&stats_path, |v| {
            v["dead_letters"]["write_failures"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(
        stats["in_flight"], 3,
        "kept in flight, unacknowledged: {stats}"
    );
    assert_eq!(stats["queue_depth"], 3, "{stats}");
    assert_eq!(stats["dead_letters"]["waiting"], 3, "{stats}");
    let (_, metrics) = edge.text("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "signal_dead_letters_waiting{{integration=\"{id}\"}} 3\n"
        )),
        "{metrics}"
    );

    // Room again: the dead letters are kept and the spool's position moves on, no restart.
    std::fs::remove_file(&filler).expect("remove filler");
    let stats = edge
        .poll(&stats_path, |v| {
            v["queue_depth"] == 0 && v["in_flight"] == 0
        })
        .await;
    assert_eq!(
        (&stats["queue_depth"], &stats["in_flight"]),
        (&json!(0), &json!(0)),
        "every event given up on acknowledged once written: {stats}"
    );
    let (s, listed) = edge
        .admin(
            "GET",
            &format!("/v1/admin/integrations/{id}/dead-letters"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{listed}");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(3), "{listed}");
    assert_eq!(stats["dead_letters"]["waiting"], 0, "{stats}");
    drop(edge);
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_dropped_past_their_cap_are_shown_in_the_stats_and_the_metrics() {
    let (_dir, _sim, edge, id) = with_dead_letters_past_their_cap().await;
    let stats_path = format!("/v1/admin/integrations/{id}/stats");
    let stats = edge
        .poll(&stats_path, |v| v["dead_letters"]["dropped"] == 1)
        .await;
    let dead = &stats["dead_letters"];
    assert_eq!(dead["dropped"], 1, "{stats}");
    assert_eq!(dead["count"], 2, "{stats}");
    let bytes = dead["bytes"].as_u64().unwrap_or(0);
    assert!(bytes > 6000 && bytes <= 9 * 1024, "within the cap: {stats}");
    for field in [
        "counts",
        "latency_ms",
        "queue_depth",
        "in_flight",
        "status",
        "diagnosis",
    ] {
        assert!(stats.get(field).is_some(), "{field} still there: {stats}");
    }

    let (status, metrics) = edge.text("/metrics").await;
    assert_eq!(status, 200);
    let line = |name: &str| -> Option<String> {
        let prefix = format!("{name}{{integration=\"{id}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    };
    assert_eq!(
        line("signal_dead_letters_dropped_total").as_deref(),
        Some("1"),
        "{metrics}"
    );
    assert_eq!(
        line("signal_dead_letter_bytes"),
        Some(bytes.to_string()),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE signal_dead_letters_dropped_total counter\n")
            && metrics.contains("# TYPE signal_dead_letter_bytes gauge\n"),
        "{metrics}"
    );
}
