//! The fixture vendor (issue 12, item 6): Tally exists only as test data, a blueprint
//! (`tests/fixtures/vendors/tally.json`) and a sandbox fixture (`tests/fixtures/sandbox/tally.json`).
//! The real binary reads the blueprint from `SIGNAL_BLUEPRINT_DIR`, offers it in the catalog,
//! installs it from the management API, maps and batches its events (a bearer token, the
//! workspace in the URL, profiles merged per user), dead-letters the records Tally's 422 names
//! and delivers the rest, holds a busy user for the second its 429 asks; every event is
//! accounted for and the token never shown. And a blueprint file that does not load stops the
//! binary with exit 64 and one line naming the file, the path inside it and the rule.

use crate::harness::{Edge, TOKEN};
use crate::vendors::{
    accounted, bodies, dead_letters, install, items, live_events, no_secret_shown, send, start,
    within,
};
use serde_json::{Value, json};
use signal_sandbox::{Fixture, Sim};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The token the sandbox knows for the US region (its fixture's `keys`).
const TALLY_TOKEN: &str = "tally-token-us-0001";
/// 2026-11-30T10:00:00.000Z in epoch seconds.
const TEN_O_CLOCK_S: u64 = 1_796_032_800;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The sandbox playing Tally from its fixture file, and the binary with the blueprint directory;
/// Tally installed, its id last.
async fn with_tally() -> (tempfile::TempDir, Sim, Edge, String) {
    let fixture = Fixture::load(&fixtures().join("sandbox/tally.json")).expect("tally fixture");
    let dir = fixtures().join("vendors").display().to_string();
    let (data, sim, edge) = start(
        fixture,
        TALLY_TOKEN,
        "SIGNAL_TALLY_BASE_URL_US",
        &[("SIGNAL_BLUEPRINT_DIR", dir)],
    )
    .await;
    let (s, entry) = edge
        .admin("GET", "/v1/admin/integration-catalog/tally", None)
        .await;
    assert_eq!(s, 200, "the file's vendor is in the catalog: {entry}");
    assert_eq!(entry["name"], "Tally");
    let id = install(
        &edge,
        "tally",
        "default",
        json!({"token": TALLY_TOKEN, "workspace": "ws-42"}),
    )
    .await;
    (data, sim, edge, id)
}

fn at(user: Option<&str>, message_id: &str, rest: Value) -> Value {
    let mut e = json!({"messageId": message_id, "timestamp": "2026-11-30T10:00:00.000Z"});
    if let Some(u) = user {
        e["userId"] = json!(u);
    }
    if let (Some(e), Some(rest)) = (e.as_object_mut(), rest.as_object()) {
        e.extend(rest.clone());
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_vendor_installs_maps_delivers_and_dead_letters_the_records_its_422_names() {
    let (_dir, sim, edge, id) = with_tally().await;
    let long_name = "An event name far longer than Tally's forty characters";
    let events = [
        at(
            Some("reader-1"),
            "m-page",
            json!({"type": "page", "name": "Pricing",
            "properties": {"plan": "pro"}}),
        ),
        at(
            Some("reader-1"),
            "m-click",
            json!({"type": "track", "event": "Clicked",
            "properties": {"button": "buy"}}),
        ),
        at(
            None,
            "m-anon",
            json!({"type": "track", "anonymousId": "a-77", "event": "Clicked"}),
        ),
        // Tally refuses a name over 40 characters: its 422 names this record by index.
        at(
            Some("reader-2"),
            "m-long",
            json!({"type": "track", "event": long_name}),
        ),
        at(
            Some("reader-1"),
            "m-id1",
            json!({"type": "identify", "traits": {"plan": "pro"}}),
        ),
        at(
            Some("reader-1"),
            "m-id2",
            json!({"type": "identify", "traits": {"seats": 3}}),
        ),
        at(
            Some("reader-1"),
            "m-debug",
            json!({"type": "track", "event": "Debug"}),
        ),
        at(
            Some("reader-1"),
            "m-group",
            json!({"type": "group", "groupId": "g-1"}),
        ),
    ];
    send(&edge, &events).await;
    accounted(&edge, &id, (5, 2, 1)).await;

    let records = items(&sim, "records");
    assert_eq!(
        records,
        [
            json!({"kind": "page", "name": "Viewed Pricing", "user": "reader-1", "at": TEN_O_CLOCK_S,
                   "id": "m-page", "props": {"plan": "pro"}}),
            json!({"kind": "track", "name": "Clicked", "user": "reader-1", "at": TEN_O_CLOCK_S,
                   "id": "m-click", "props": {"button": "buy"}}),
            json!({"kind": "track", "name": "Clicked", "user": "anon:a-77", "at": TEN_O_CLOCK_S,
                   "id": "m-anon"}),
        ],
        "mapped as the blueprint says, the refused record left out"
    );
    assert_eq!(
        items(&sim, "profiles"),
        [json!({"user": "reader-1", "traits": {"plan": "pro", "seats": 3}})],
        "the two identify calls merged into one profile"
    );
    assert!(sim.stats().refused >= 1, "{:?}", sim.stats());
    let sent = bodies(&sim, "records");
    assert!(
        sent.iter()
            .all(|b| b["workspace"] == "ws-42" && b["records"].is_array()),
        "the envelope: {sent:?}"
    );
    assert!(
        sent.iter()
            .any(|b| b["records"].as_array().is_some_and(|r| r.len() == 3)),
        "batched: {sent:?}"
    );
    for r in sim.requests() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TALLY_TOKEN}").as_str()),
            "{} {}",
            r.method,
            r.path
        );
        let want = if r.route == "profiles" { "PUT" } else { "POST" };
        assert_eq!(r.method, want, "{}", r.path);
    }

    let letters = dead_letters(&edge, &id).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = letters[0].to_string();
    assert!(letter.contains("m-long"), "{letter}");
    assert!(
        letter.contains("some records were rejected"),
        "Tally's answer kept with the letter: {letter}"
    );
    let live = live_events(&edge, &id).await;
    for (m, reason) in [("m-debug", "debug_event"), ("m-group", "unsupported_type")] {
        assert!(
            live.iter().any(|e| e["message_id"] == m
                && e["outcome"] == "dropped"
                && e["reason"].as_str().is_some_and(|r| r.contains(reason))),
            "{m} dropped with {reason}: {live:?}"
        );
    }
    no_secret_shown(&edge, &id, &[TALLY_TOKEN]).await;
}

fn click(user: &str, n: usize) -> Value {
    at(
        Some(user),
        &format!("m-{user}-{n}"),
        json!({"type": "track", "event": "Clicked", "properties": {"n": n}}),
    )
}

fn of(sim: &Sim, user: &str) -> Vec<u64> {
    sim.items()
        .iter()
        .filter(|i| i.item["user"] == user)
        .map(|i| i.at_ms)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_vendor_holds_a_busy_user_for_the_second_its_429_asks() {
    let (_dir, sim, edge, id) = with_tally().await;
    let first: Vec<Value> = (0..4).map(|n| click("busy-user", n)).collect();
    send(&edge, &first).await;
    within(10, "the busy user's first four", || {
        of(&sim, "busy-user").len() == 4
    })
    .await;
    // Four of five in Tally's window: three more are too many, the calm user's are not.
    let mut mixed: Vec<Value> = (4..7).map(|n| click("busy-user", n)).collect();
    mixed.extend((0..2).map(|n| click("calm-user", n)));
    send(&edge, &mixed).await;
    within(10, "the calm user's two", || {
        of(&sim, "calm-user").len() == 2
    })
    .await;
    let calm_at = of(&sim, "calm-user").into_iter().max().unwrap_or(0);
    assert_eq!(of(&sim, "busy-user").len(), 4, "the busy user's three wait");
    within(10, "the busy user's held three", || {
        of(&sim, "busy-user").len() == 7
    })
    .await;
    let busy_at = of(&sim, "busy-user").into_iter().max().unwrap_or(0);
    assert!(
        busy_at >= calm_at + 800,
        "held about a second: {calm_at} -> {busy_at}"
    );
    assert!(sim.stats().throttled_ids >= 1, "{:?}", sim.stats());
    accounted(&edge, &id, (9, 0, 0)).await;
    no_secret_shown(&edge, &id, &[TALLY_TOKEN]).await;
}

/// Starts the binary with `SIGNAL_BLUEPRINT_DIR` at `dir`; its exit code and stderr, or a panic
/// when it is still running after 10 s.
fn start_with_blueprints(dir: &Path) -> (Option<i32>, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
        .arg("serve")
        .env("SIGNAL_DATA_DIR", data.path())
        .env("SIGNAL_INGEST_ADDR", "127.0.0.1:0")
        .env("SIGNAL_ADMIN_ADDR", "127.0.0.1:0")
        .env("SIGNAL_ADMIN_TOKEN", TOKEN)
        .env("SIGNAL_BLUEPRINT_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start signal-edge");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("signal-edge started with a broken blueprint");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    (status.code(), err)
}

#[test]
fn a_blueprint_file_that_does_not_load_stops_the_binary_with_exit_64_naming_file_path_and_rule() {
    let good: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("vendors/tally.json")).expect("tally.json"),
    )
    .expect("json");
    let mut bad_transform = good.clone();
    bad_transform["requests"]["records"]["item"]["at"]["@as"] = json!("epoch_nanos");
    let mut unknown_key = good.clone();
    unknown_key["requests"]["profiles"]["batch"]["merge_bye"] = json!("user");
    let mut missing_policy = good;
    missing_policy["requests"]["records"]["response"] = json!("talley");
    let cases = [
        (bad_transform, "requests.records.item.at.@as", "epoch_nanos"),
        (unknown_key, "requests.profiles.batch", "merge_bye"),
        (missing_policy, "requests.records.response", "talley"),
    ];
    for (broken, path, rule) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("tally.json"), broken.to_string()).expect("write");
        let (code, err) = start_with_blueprints(dir.path());
        assert_eq!(code, Some(64), "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        let line = lines[0];
        assert!(line.contains("tally.json"), "names the file: {line}");
        assert!(line.contains(path), "names the path {path}: {line}");
        assert!(line.contains(rule), "names the rule ({rule}): {line}");
    }
}
