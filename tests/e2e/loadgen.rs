//! `signal-edge loadgen --sink null` and `--drain`, the real binary: the null receiver runs as
//! its own process (the binary re-executed), and what it counted is what loadgen reports.

use serde_json::Value;
use std::process::Command;

/// Runs `signal-edge loadgen <args> --json <file>` and returns the JSON report and stderr.
fn loadgen(args: &[&str]) -> (Value, String) {
    loadgen_with(args, &[])
}

/// `loadgen` with `env` set.
fn loadgen_with(args: &[&str], env: &[(&str, String)]) -> (Value, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
        .arg("loadgen")
        .args(args)
        .arg("--json")
        .arg(&report)
        .env("TMPDIR", dir.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("loadgen runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let text = std::fs::read(&report).expect("the JSON report");
    (serde_json::from_slice(&text).expect("JSON"), err)
}

#[test]
fn every_track_event_sent_is_counted_by_the_null_sink_process() {
    let (report, err) = loadgen(&[
        "--sink",
        "null",
        "--clients",
        "2",
        "--batch",
        "10",
        "--rate",
        "200",
        "--seconds",
        "2",
    ]);
    assert_eq!(report["sink"], "null", "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let sent = report["track_events_sent"].as_u64().unwrap_or(0);
    assert!(sent > 0, "{report}");
    // Counted by the receiver process: one Pendo track request per track or page event.
    assert_eq!(report["track_requests_delivered"], sent, "{report}");
    assert!(
        report["delivered_requests"].as_u64().unwrap_or(0) >= sent,
        "{report}"
    );
    let placement = report["sink_placement"].as_str().unwrap_or_default();
    assert!(placement.starts_with("null sink: pid "), "{report}");
    assert!(err.contains(placement), "{err}");
}

#[test]
fn a_drain_delivers_the_whole_backlog_and_reports_its_rate_and_cost() {
    let (report, _) = loadgen(&[
        "--sink",
        "null",
        "--clients",
        "2",
        "--batch",
        "50",
        "--drain",
        "2000",
    ]);
    assert_eq!(report["drain_complete"], true, "{report}");
    let backlog = report["backlog_track_requests"].as_u64().unwrap_or(0);
    assert!(backlog > 0, "{report}");
    assert!(
        report["backlog_events"].as_u64().unwrap_or(0) >= 2000,
        "{report}"
    );
    assert_eq!(report["drain_track_requests"], backlog, "{report}");
    assert!(
        report["drain_requests"].as_u64().unwrap_or(0) >= backlog,
        "{report}"
    );
    assert!(
        report["drain_requests_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "{report}"
    );
    assert!(report["node_cpu_us_per_request"].is_number(), "{report}");
}

#[test]
fn with_h2c_the_node_delivers_everything_over_http2() {
    let (report, _) = loadgen(&[
        "--sink",
        "null",
        "--http",
        "h2c",
        "--clients",
        "2",
        "--batch",
        "10",
        "--rate",
        "200",
        "--seconds",
        "2",
    ]);
    assert_eq!(report["vendor_http"]["protocol"], "h2c", "{report}");
    let sent = report["track_events_sent"].as_u64().unwrap_or(0);
    assert!(sent > 0, "{report}");
    assert_eq!(report["track_requests_delivered"], sent, "{report}");
    assert_eq!(
        report["delivered_requests_over_http2"], report["delivered_requests"],
        "{report}"
    );
}

#[test]
fn the_vendor_http_settings_are_in_help_and_a_bad_one_exits_64_naming_it() {
    let help = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
        .arg("--help")
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    for var in [
        "SIGNAL_VENDOR_HTTP",
        "SIGNAL_VENDOR_H2_CONNECTIONS",
        "SIGNAL_VENDOR_H2_STREAMS",
    ] {
        assert!(help.contains(var), "--help names {var}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for (var, value, why) in [
        ("SIGNAL_VENDOR_HTTP", "h3", "`h3` is not a protocol"),
        ("SIGNAL_VENDOR_H2_CONNECTIONS", "0", "`0` is out of range"),
        (
            "SIGNAL_VENDOR_H2_STREAMS",
            "lots",
            "`lots` is not a whole number",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
            .args([
                "serve",
                "--ingest-addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .env(var, value)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(64), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{var}: {why}")),
            "{var}={value}: {err}"
        );
    }
    // loadgen's node reads the same settings, and refuses them the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
        .args([
            "loadgen",
            "--sink",
            "null",
            "--http",
            "h3",
            "--seconds",
            "1",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SIGNAL_VENDOR_HTTP: `h3` is not a protocol"),
        "{err}"
    );
}

#[test]
fn two_nodes_on_jetstream_share_the_clients_and_deliver_every_event_once() {
    let nats = crate::jetstream::nats_server::NatsServer::start();
    let (report, _) = loadgen_with(
        &[
            "--nodes",
            "2",
            "--sink",
            "null",
            "--clients",
            "4",
            "--batch",
            "10",
            "--rate",
            "400",
            "--seconds",
            "2",
        ],
        &[
            ("SIGNAL_LOG_BACKEND", nats.url()),
            (
                "SIGNAL_SPOOL_MAX_BYTES",
                crate::jetstream::nats_server::STREAM_BYTES.to_string(),
            ),
        ],
    );
    assert_eq!(report["nodes"], 2, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let sent = report["track_events_sent"].as_u64().unwrap_or(0);
    assert!(sent > 0, "{report}");
    assert_eq!(report["track_requests_delivered"], sent, "{report}");
}

#[test]
fn two_nodes_on_the_local_spool_are_refused_saying_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
        .args(["loadgen", "--nodes", "2", "--seconds", "1"])
        .env("SIGNAL_LOG_BACKEND", "local")
        .output()
        .expect("loadgen runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--nodes 2") && err.contains("SIGNAL_LOG_BACKEND"),
        "{err}"
    );
}
