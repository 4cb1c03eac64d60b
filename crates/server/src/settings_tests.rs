//! The settings' tests: defaults, precedence, and each setting's rule named when broken.

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn defaults_then_file_then_env_then_flag() {
    let s = Settings::resolve(&Flags::default(), env(&[])).expect("defaults");
    assert_eq!(s.ingest_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(s.admin_addr.to_string(), "127.0.0.1:8084");
    assert_eq!(s.data_dir, PathBuf::from("./signal-data"));
    assert_eq!(s.retry_base, Duration::from_secs(4));
    assert_eq!(s.source_rate_limit, 1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("signal.toml");
    std::fs::write(
        &file,
        "ingest_addr = \"127.0.0.1:7000\"\nadmin_addr = \"127.0.0.1:7001\"\n",
    )
    .expect("write");
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let s =
        Settings::resolve(&flags, env(&[("SIGNAL_ADMIN_ADDR", "127.0.0.1:7002")])).expect("file");
    assert_eq!(
        s.ingest_addr.to_string(),
        "127.0.0.1:7000",
        "file over default"
    );
    assert_eq!(s.admin_addr.to_string(), "127.0.0.1:7002", "env over file");
    let flags = Flags {
        admin_addr: Some("127.0.0.1:7003".into()),
        ..flags
    };
    let s =
        Settings::resolve(&flags, env(&[("SIGNAL_ADMIN_ADDR", "127.0.0.1:7002")])).expect("flag");
    assert_eq!(s.admin_addr.to_string(), "127.0.0.1:7003", "flag over env");
}

#[test]
fn bad_settings_are_named() {
    let bad = |flags: Flags, pairs: &[(&str, &str)]| {
        Settings::resolve(&flags, env(pairs))
            .expect_err("bad")
            .to_string()
    };
    assert_eq!(
        bad(
            Flags {
                ingest_addr: Some("nowhere".into()),
                ..Flags::default()
            },
            &[]
        ),
        "--ingest-addr: `nowhere` is not an address (expected host:port, e.g. 127.0.0.1:8080)"
    );
    assert_eq!(
        bad(Flags::default(), &[("SIGNAL_PENDO_BASE_URL_EU", "ftp://x")]),
        "SIGNAL_PENDO_BASE_URL_EU: `ftp://x` is not an http(s) URL"
    );
    assert_eq!(
        bad(Flags::default(), &[("SIGNAL_RETRY_BASE_MS", "soon")]),
        "SIGNAL_RETRY_BASE_MS: `soon` is not a whole number"
    );
    assert!(
        bad(
            Flags {
                config: Some("/nonexistent/signal.toml".into()),
                ..Flags::default()
            },
            &[]
        )
        .starts_with("--config: cannot read")
    );
}

#[test]
fn the_dead_letter_cap_takes_sizes_and_zero_keeps_none() {
    let cap = |pairs: &[(&str, &str)]| {
        Settings::resolve(&Flags::default(), env(pairs)).map(|s| s.dead_letter_max_bytes)
    };
    assert_eq!(cap(&[]), Ok(256 << 20), "256 MiB by default");
    assert_eq!(cap(&[("SIGNAL_DEAD_LETTER_MAX_BYTES", "0")]), Ok(0));
    assert_eq!(
        cap(&[("SIGNAL_DEAD_LETTER_MAX_BYTES", "1GiB")]),
        Ok(1 << 30)
    );
    let bad = cap(&[("SIGNAL_DEAD_LETTER_MAX_BYTES", "lots")]).expect_err("refused");
    assert_eq!(bad.setting, "SIGNAL_DEAD_LETTER_MAX_BYTES");
}

#[test]
fn the_body_budget_takes_sizes_and_at_least_two_mib() {
    let cap = |pairs: &[(&str, &str)]| {
        Settings::resolve(&Flags::default(), env(pairs)).map(|s| s.max_buffered_body_bytes)
    };
    assert_eq!(cap(&[]), Ok(64 << 20), "64 MiB by default");
    assert_eq!(
        cap(&[("SIGNAL_MAX_BUFFERED_BODY_BYTES", "8MiB")]),
        Ok(8 << 20)
    );
    let bad = cap(&[("SIGNAL_MAX_BUFFERED_BODY_BYTES", "1000")]).expect_err("refused");
    assert_eq!(bad.setting, "SIGNAL_MAX_BUFFERED_BODY_BYTES");
    let bad = cap(&[("SIGNAL_MAX_BUFFERED_BODY_BYTES", "1MiB")]).expect_err("refused");
    assert_eq!(bad.setting, "SIGNAL_MAX_BUFFERED_BODY_BYTES");
}

#[test]
fn the_spool_cap_takes_bytes_or_units_from_env_or_file() {
    let cap = |pairs: &[(&str, &str)]| {
        Settings::resolve(&Flags::default(), env(pairs)).map(|s| s.spool_max_bytes)
    };
    assert_eq!(cap(&[]), Ok(10 << 30), "10 GiB by default");
    for (text, bytes) in [
        ("1048576", 1 << 20),
        ("512MiB", 512 << 20),
        ("512 mib", 512 << 20),
        ("2GiB", 2 << 30),
        ("64KiB", 64 << 10),
        ("1TiB", 1 << 40),
        ("3GB", 3_000_000_000),
        ("100kb", 100_000),
        ("70000B", 70_000),
    ] {
        assert_eq!(
            cap(&[("SIGNAL_SPOOL_MAX_BYTES", text)]),
            Ok(bytes),
            "{text}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("signal.toml");
    std::fs::write(&file, "spool_max_bytes = 1048576\n").expect("write");
    let flags = Flags {
        config: Some(file.clone()),
        ..Flags::default()
    };
    let s = Settings::resolve(&flags, env(&[])).expect("file");
    assert_eq!(s.spool_max_bytes, 1 << 20);
    let s = Settings::resolve(&flags, env(&[("SIGNAL_SPOOL_MAX_BYTES", "2MiB")])).expect("env");
    assert_eq!(s.spool_max_bytes, 2 << 20, "env over file");
    std::fs::write(&file, "spool_max_bytes = \"big\"\n").expect("write");
    assert_eq!(
        Settings::resolve(&flags, env(&[])).err().map(|e| e.setting),
        Some("spool_max_bytes in the config file".to_owned())
    );
}

#[test]
fn a_bad_spool_cap_is_named_with_what_is_accepted() {
    let why = |text: &str| {
        Settings::resolve(&Flags::default(), env(&[("SIGNAL_SPOOL_MAX_BYTES", text)]))
            .expect_err(text)
            .to_string()
    };
    assert_eq!(
        why("0"),
        "SIGNAL_SPOOL_MAX_BYTES: `0` is too small (at least 65536 bytes)"
    );
    assert_eq!(
        why("4KiB"),
        "SIGNAL_SPOOL_MAX_BYTES: `4KiB` is too small (at least 65536 bytes)"
    );
    for garbage in ["lots", "-5", "1.5GiB", "12 parsecs", "MiB", "0x100000"] {
        assert_eq!(
            why(garbage),
            format!(
                "SIGNAL_SPOOL_MAX_BYTES: `{garbage}` is not a size (bytes, or a number with \
                 B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, e.g. 512MiB)"
            )
        );
    }
    assert_eq!(
        why("99999999TiB"),
        "SIGNAL_SPOOL_MAX_BYTES: `99999999TiB` is too large"
    );
}

#[test]
fn blank_secrets_from_the_environment_are_unset_and_others_trimmed() {
    let s = Settings::resolve(
        &Flags::default(),
        env(&[
            ("SIGNAL_ADMIN_TOKEN", "  "),
            ("SIGNAL_PIPELINE_KEY", ""),
            ("SIGNAL_PIPELINE_SECRET", " s3cret\n"),
        ]),
    )
    .expect("ok");
    assert_eq!(s.admin_token, None, "blank: the data directory's token");
    assert_eq!(s.pipeline_key, None);
    assert_eq!(s.pipeline_secret.as_deref(), Some("s3cret"));
}

#[test]
fn region_overrides_point_base_urls_elsewhere() {
    let s = Settings::resolve(
        &Flags::default(),
        env(&[("SIGNAL_PENDO_BASE_URL_EU", "http://127.0.0.1:9/")]),
    )
    .expect("ok");
    let bp = signal_core::Blueprint::get("pendo").expect("embedded");
    assert_eq!(s.base_url(bp, "eu").as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(
        s.base_url(bp, "us").as_deref(),
        Some("https://app.pendo.io")
    );
}

#[test]
fn vendor_http_defaults_to_today_and_is_read_from_env_or_file() {
    use signal_forward::{VendorHttp, VendorProtocol};
    let s = Settings::resolve(&Flags::default(), env(&[])).expect("defaults");
    assert_eq!(s.vendor_http, VendorHttp::default());
    assert_eq!(s.vendor_http.protocol, VendorProtocol::Auto);
    let s = Settings::resolve(
        &Flags::default(),
        env(&[
            ("SIGNAL_VENDOR_HTTP", "h2c"),
            ("SIGNAL_VENDOR_H2_CONNECTIONS", "4"),
            ("SIGNAL_VENDOR_H2_STREAMS", "250"),
        ]),
    )
    .expect("env");
    assert_eq!(
        s.vendor_http,
        VendorHttp {
            protocol: VendorProtocol::H2c,
            h2_connections: 4,
            h2_streams: 250
        }
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("signal.toml");
    std::fs::write(&file, "vendor_http = \"h1\"\nvendor_h2_connections = 2\n").expect("write");
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let s = Settings::resolve(&flags, env(&[])).expect("file");
    assert_eq!(s.vendor_http.protocol, VendorProtocol::Http1);
    assert_eq!(s.vendor_http.h2_connections, 2);
}

#[test]
fn bad_vendor_http_settings_are_named() {
    let bad = |pairs: &[(&str, &str)]| {
        Settings::resolve(&Flags::default(), env(pairs))
            .expect_err("bad")
            .to_string()
    };
    assert_eq!(
        bad(&[("SIGNAL_VENDOR_HTTP", "h3")]),
        "SIGNAL_VENDOR_HTTP: `h3` is not a protocol: use auto, h1 or h2c"
    );
    assert_eq!(
        bad(&[("SIGNAL_VENDOR_H2_CONNECTIONS", "0")]),
        "SIGNAL_VENDOR_H2_CONNECTIONS: `0` is out of range: from 1 to 64"
    );
    assert_eq!(
        bad(&[("SIGNAL_VENDOR_H2_STREAMS", "1001")]),
        "SIGNAL_VENDOR_H2_STREAMS: `1001` is out of range: from 1 to 1000"
    );
    assert_eq!(
        bad(&[("SIGNAL_VENDOR_H2_STREAMS", "many")]),
        "SIGNAL_VENDOR_H2_STREAMS: `many` is not a whole number"
    );
}

#[test]
fn delivery_threads_default_to_one_are_read_from_env_or_file_and_past_64_refused() {
    let s = Settings::resolve(&Flags::default(), env(&[])).expect("defaults");
    assert_eq!(s.delivery_threads, 1);
    let s = Settings::resolve(&Flags::default(), env(&[("SIGNAL_DELIVERY_THREADS", "0")]))
        .expect("env");
    assert_eq!(s.delivery_threads, 0, "0 shares the node's runtime");
    let e = Settings::resolve(&Flags::default(), env(&[("SIGNAL_DELIVERY_THREADS", "65")]))
        .expect_err("more than 64 is refused, as the other ranged settings are");
    assert!(
        e.to_string().contains("SIGNAL_DELIVERY_THREADS") && e.to_string().contains("0 to 64"),
        "{e}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("signal.toml");
    std::fs::write(&file, "delivery_threads = 2\n").expect("write");
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    assert_eq!(
        Settings::resolve(&flags, env(&[]))
            .expect("file")
            .delivery_threads,
        2
    );
}

#[test]
fn the_log_backend_is_local_by_default_or_nats_servers_with_their_settings() {
    let backend = |pairs: &[(&str, &str)]| {
        Settings::resolve(&Flags::default(), env(pairs)).map(|s| s.log_backend)
    };
    assert_eq!(backend(&[]).expect("default"), LogBackend::Local);
    assert_eq!(
        backend(&[("SIGNAL_LOG_BACKEND", "local")]).expect("local"),
        LogBackend::Local
    );
    let LogBackend::Nats(n) = backend(&[
        ("SIGNAL_LOG_BACKEND", "nats://10.0.0.1:4222,10.0.0.2:4222"),
        ("SIGNAL_NATS_REPLICAS", "3"),
        ("SIGNAL_NATS_ACK_WAIT_SECS", "90"),
        ("SIGNAL_NATS_CREDS", "/etc/signal/node.creds"),
    ])
    .expect("nats") else {
        panic!("a nats:// backend");
    };
    assert_eq!(n.servers, ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]);
    assert_eq!(n.replicas, 3);
    assert_eq!(n.ack_wait, Duration::from_secs(90));
    assert_eq!(n.duplicate_window, Duration::from_secs(24 * 3600));
    assert_eq!(n.creds, Some(PathBuf::from("/etc/signal/node.creds")));
    let e = backend(&[("SIGNAL_LOG_BACKEND", "kafka://k:9092")]).expect_err("not nats");
    assert_eq!(e.setting, "SIGNAL_LOG_BACKEND");
    assert!(e.why.contains("must be `local` or nats://"), "{}", e.why);
    let e = backend(&[
        ("SIGNAL_LOG_BACKEND", "nats://n:4222"),
        ("SIGNAL_NATS_REPLICAS", "7"),
    ])
    .expect_err("too many replicas");
    assert_eq!(e.setting, "SIGNAL_NATS_REPLICAS");
}

#[test]
fn the_audit_retention_defaults_to_90_days_0_keeps_all_and_past_100_years_is_refused() {
    let s = Settings::resolve(&Flags::default(), env(&[])).expect("defaults");
    assert_eq!(s.audit_retention_days, 90);
    let s = Settings::resolve(
        &Flags::default(),
        env(&[("SIGNAL_AUDIT_RETENTION_DAYS", "0")]),
    )
    .expect("env");
    assert_eq!(s.audit_retention_days, 0, "0 keeps every record");
    let e = Settings::resolve(
        &Flags::default(),
        env(&[("SIGNAL_AUDIT_RETENTION_DAYS", "36501")]),
    )
    .expect_err("out of range");
    assert!(e.to_string().contains("SIGNAL_AUDIT_RETENTION_DAYS"), "{e}");
}
