//! The gateway against hostile and unusual clients (issue 11): slow clients and connection
//! floods, compressed bodies and bombs, origins, merged records, case-insensitive schemes,
//! HMAC timestamps at the edge of i64, and records that name their source.

use crate::harness::*;
use base64::Engine as _;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A client that opens a new connection for every request: with short server timeouts, a
/// pooled connection could be closed under it.
fn fresh_client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(hyper_util::client::legacy::connect::HttpConnector::new())
}

/// Sends a request with raw headers and body; the status, headers and JSON answer.
async fn send(
    edge: &Edge,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, Value) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", edge.ingest));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = edge
        .client
        .request(req.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("answer");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

fn host(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Whether the server closes `stream` (EOF or reset) within `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_is_closed_and_the_node_still_answers_others() {
    let (_dir, _sim, mut edge) = with_sandbox(
        "ik",
        &[
            ("SIGNAL_HEADER_TIMEOUT_MS", "400".into()),
            ("SIGNAL_MAX_CONNECTIONS", "4".into()),
        ],
    )
    .await;
    edge.client = fresh_client();
    let addr = host(&edge.ingest);
    // While one connection dawdles over its head, others are answered.
    let mut first = TcpStream::connect(&addr).expect("connect");
    first
        .write_all(b"POST /v1/t HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let (s, _) = edge
        .ingest("/v1/t", json!({"userId": "u", "event": "Beside a loris"}))
        .await;
    assert_eq!(s, 200);
    // Four connections fill every slot: two never finish their head, one sends nothing, one
    // goes idle after a whole request.
    let mut lorises = vec![first];
    lorises.extend((0..3).map(|_| TcpStream::connect(&addr).expect("connect")));
    lorises[1]
        .write_all(b"POST /v1/t HTTP/1.1\r\nX-A: ")
        .expect("write");
    lorises[3]
        .write_all(b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    for (i, s) in lorises.iter_mut().enumerate() {
        assert!(
            closed_by_server(s, Duration::from_secs(5)),
            "connection {i} still open"
        );
    }
    // The slots are free again: an honest client is answered.
    let (s, _) = edge
        .ingest(
            "/v1/t",
            json!({"userId": "u", "event": "After the lorises"}),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408_and_closed() {
    let (_dir, _sim, edge) = with_sandbox("ik", &[("SIGNAL_BODY_TIMEOUT_MS", "400".into())]).await;
    let mut s = TcpStream::connect(host(&edge.ingest)).expect("connect");
    s.write_all(
        format!(
            "POST /v1/t HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"userId\":"
        )
        .as_bytes(),
    )
    .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    let (_dir, _sim, mut edge) = with_sandbox(
        "ik",
        &[
            ("SIGNAL_MAX_CONNECTIONS", "2".into()),
            ("SIGNAL_HEADER_TIMEOUT_MS", "60000".into()),
        ],
    )
    .await;
    edge.client = fresh_client();
    let addr = host(&edge.ingest);
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    let edge = std::sync::Arc::new(edge);
    let waiting = {
        let edge = edge.clone();
        tokio::spawn(async move {
            edge.ingest("/v1/t", json!({"userId": "u", "event": "E"}))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served while two held every slot"
    );
    drop(held);
    let (s, _) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot was free")
        .expect("task");
    assert_eq!(s, 200);
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_accept_loop_backs_off_instead_of_spinning() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no prlimit on this machine to lower the node's descriptor limit");
        return;
    }
    let (_dir, _sim, mut edge) =
        with_sandbox("ik", &[("SIGNAL_HEADER_TIMEOUT_MS", "60000".into())]).await;
    edge.client = fresh_client();
    let pid = edge.child.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    let limit = open + 4;
    let set = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit");
    assert!(set.success());
    let addr = host(&edge.ingest);
    // More connections than descriptors: accept fails with EMFILE while they stay open.
    let held: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    // Clock ticks are 1/100 s: a spinning accept loop burns most of 200 in 2 s.
    assert!(
        used < 40,
        "{used} ticks of CPU in 2 s while out of descriptors"
    );
    drop(held);
    let (s, _) = edge
        .ingest("/v1/t", json!({"userId": "u", "event": "After EMFILE"}))
        .await;
    assert_eq!(s, 200, "the node answers once descriptors are free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_batch_as_rudderstack_sends_it_is_delivered() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    // What RudderStack's Node SDK posts: a gzipped batch, the write key as Basic user.
    let batch = json!({
        "batch": [
            {"type": "track", "event": "Gzipped 1", "userId": "u1", "messageId": "rs-1",
             "properties": {"plan": "pro"}, "context": {"library": {"name": "@rudderstack/rudder-sdk-node", "version": "2.1.0"}},
             "timestamp": "2026-11-30T08:00:00.000Z", "originalTimestamp": "2026-11-30T08:00:00.000Z"},
            {"type": "track", "event": "Gzipped 2", "userId": "u1", "messageId": "rs-2"}
        ],
        "sentAt": "2026-11-30T08:00:01.000Z"
    });
    let body = gzip(batch.to_string().as_bytes());
    let (s, _, v) = send(
        &edge,
        "POST",
        "/v1/batch",
        &[
            ("authorization", &basic(KEY)),
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("user-agent", "RudderLabs Node SDK"),
        ],
        body,
    )
    .await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(2)), "{v}");
    eventually("both gzipped events delivered", || {
        track_bodies(&sim).len() == 2
    })
    .await;
    let names: Vec<Value> = track_bodies(&sim)
        .iter()
        .map(|b| b["event"].clone())
        .collect();
    assert!(names.contains(&json!("Gzipped 1")) && names.contains(&json!("Gzipped 2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_is_a_413_and_an_unknown_encoding_a_415() {
    let (_dir, _sim, edge) = with_sandbox("ik", &[]).await;
    let before = edge.spool_bytes().await;
    // 256 MiB of JSON whitespace around an event, gzipped to well under 512 KiB.
    let mut text = br#"{"userId":"u","event":"Bomb","properties":{"x":""#.to_vec();
    text.resize(256 << 20, b' ');
    text.extend_from_slice(b"\"}}");
    let bomb = gzip(&text);
    assert!(bomb.len() < 512 * 1024, "{} bytes", bomb.len());
    let auth = format!("Bearer {KEY}");
    let (s, _, v) = send(
        &edge,
        "POST",
        "/v1/t",
        &[("authorization", &auth), ("content-encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("TOO_LARGE")),
        "{v}"
    );
    let (s, h, v) = send(
        &edge,
        "POST",
        "/v1/t",
        &[("authorization", &auth), ("content-encoding", "br")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(s, 415, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`br`")),
        "{v}"
    );
    assert!(h.get("accept-encoding").is_some());
    assert_eq!(edge.spool_bytes().await, before, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_batch_context_no_longer_multiplies_into_the_spool() {
    let (_dir, _sim, edge) = with_sandbox("ik", &[]).await;
    let before = edge.spool_bytes().await;
    // The finding: 300 events, a 400 KiB context, 470 KiB in all; it grew the spool by 117 MiB.
    let events: Vec<Value> = (0..300)
        .map(|i| {
            json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("big-{i}"),
                        "properties": {"pad": "p".repeat(150)}})
        })
        .collect();
    let body = json!({"context": {"page": {"title": "t".repeat(400 * 1024)}}, "batch": events});
    assert!(body.to_string().len() > 450 * 1024);
    let (s, v) = edge.ingest("/v1/batch", body).await;
    assert_eq!(
        (s, v["accepted"].as_u64()),
        (200, Some(0)),
        "{}",
        &v.to_string()[..200.min(v.to_string().len())]
    );
    let rejected = v["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 300);
    assert_eq!(rejected[7]["index"], 7);
    assert_eq!(rejected[7]["code"], "TOO_LARGE");
    assert!(
        rejected[7]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("batch[7]: ") && m.contains("32768 bytes")),
        "{}",
        rejected[7]
    );
    let grown = edge.spool_bytes().await - before;
    assert!(grown < 64 * 1024, "the spool grew by {grown} bytes");
    // A context that leaves room: the events that fit are accepted, the one that does not is
    // named, and the spool grows by about what was accepted.
    let body = json!({"context": {"page": {"title": "t".repeat(20 * 1024)}}, "batch": [
        {"type": "track", "event": "Small", "userId": "u"},
        {"type": "track", "event": "Big", "userId": "u", "properties": {"pad": "p".repeat(15 * 1024)}},
        {"type": "track", "event": "Small", "userId": "u"}
    ]});
    let before = edge.spool_bytes().await;
    let (s, v) = edge.ingest("/v1/batch", body).await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(v["rejected"][0]["index"], 1, "{v}");
    assert_eq!(v["rejected"][0]["code"], "TOO_LARGE");
    let grown = edge.spool_bytes().await - before;
    assert!(grown < 2 * 24 * 1024, "the spool grew by {grown} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_limited_to_an_origin_refuses_others_and_never_echoes_them() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let good = "https://good.example";
    let evil = "https://evil.example";
    let (s, created) = edge
        .admin(
            "POST",
            "/v1/admin/sources",
            Some(json!({"name": "Shop", "allowed_origins": [good]})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let key = created["pipeline_key"].as_str().expect("key").to_owned();
    let auth = format!("Bearer {key}");
    // Refused and not named back, though the default source (open to any origin) would take it.
    let event = |name: &str| {
        json!({"userId": "u", "event": name})
            .to_string()
            .into_bytes()
    };
    let (s, h, v) = send(
        &edge,
        "POST",
        "/v1/t",
        &[("authorization", &auth), ("origin", evil)],
        event("From evil"),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{v}"
    );
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");
    assert!(h.get("access-control-allow-credentials").is_none());
    // A preflight carries no key: with the default source limited too, no source takes the
    // evil origin, and the preflight does not name it.
    let (s, _) = edge
        .admin(
            "PATCH",
            "/v1/admin/sources/default",
            Some(json!({"allowed_origins": [good]})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, h, _) = send(&edge, "OPTIONS", "/v1/t", &[("origin", evil)], Vec::new()).await;
    assert_eq!(s, 204);
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");
    assert!(h.get("access-control-allow-credentials").is_none());
    let (s, h, _) = send(
        &edge,
        "POST",
        "/v1/t",
        &[("authorization", &auth), ("origin", good)],
        event("From good"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(good)
    );
    eventually("the good event delivered", || {
        !track_bodies(&sim).is_empty()
    })
    .await;
    let names: Vec<Value> = track_bodies(&sim)
        .iter()
        .map(|b| b["event"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("From good")],
        "the evil event was never stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_case_schemes_work_and_an_hmac_timestamp_near_i64_min_is_refused() {
    let (_dir, _sim, edge) =
        with_sandbox("ik", &[("SIGNAL_PIPELINE_SECRET", "hmac-secret".into())]).await;
    let ev = json!({"userId": "u", "event": "E"})
        .to_string()
        .into_bytes();
    for auth in [
        format!("bearer {KEY}"),
        basic(KEY).replace("Basic", "basic"),
    ] {
        let (s, _, v) = send(
            &edge,
            "POST",
            "/v1/t",
            &[("authorization", &auth)],
            ev.clone(),
        )
        .await;
        assert_eq!(s, 200, "{auth}: {v}");
    }
    let (s, v) = edge
        .call(
            "GET",
            &format!("{}/v1/admin/sources", edge.admin),
            Some(&format!("bearer {TOKEN}")),
            None,
        )
        .await;
    assert_eq!(s, 200, "the admin API's scheme too: {v}");
    // A signature made with the right secret, for a timestamp 292 million years ago.
    for ts in [i64::MIN, i64::MIN + 1, i64::MIN + 100_000] {
        let ts = ts.to_string();
        let sig = signature(b"hmac-secret", &ts, &ev);
        let (s, _, v) = send(
            &edge,
            "POST",
            "/v1/events",
            &[("x-timestamp", &ts), ("x-signature", &sig)],
            ev.clone(),
        )
        .await;
        assert_eq!(s, 401, "timestamp {ts}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_spool_record_names_the_source_that_sent_it() {
    let (dir, _sim, edge) = with_sandbox("ik", &[]).await;
    let (s, created) = edge
        .admin("POST", "/v1/admin/sources", Some(json!({"name": "Server"})))
        .await;
    assert_eq!(s, 201);
    let id = created["id"].as_str().expect("id").to_owned();
    let key = created["pipeline_key"].as_str().expect("key").to_owned();
    let (s, _) = edge
        .ingest_as(
            &key,
            "/v1/t",
            json!({"userId": "u", "event": "From server"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = edge
        .ingest("/v1/t", json!({"userId": "u", "event": "From default"}))
        .await;
    assert_eq!(s, 200);
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("spool")).expect("spool dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            all.extend(std::fs::read(&path).expect("segment"));
        }
    }
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.contains(&format!("\"sourceId\":\"{id}\"")),
        "no record names {id}"
    );
    assert!(text.contains("\"sourceId\":\"default\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_user_agent_is_capped_in_the_record() {
    let (_dir, _sim, edge) = with_sandbox("ik", &[]).await;
    let before = edge.spool_bytes().await;
    let auth = format!("Bearer {KEY}");
    let ua = "Mozilla/5.0 ".repeat(2500);
    let (s, _, v) = send(
        &edge,
        "POST",
        "/v1/t",
        &[("authorization", &auth), ("user-agent", &ua)],
        json!({"userId": "u", "event": "E"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // The 30 KiB User-Agent is kept to its first KiB.
    let grown = edge.spool_bytes().await - before;
    assert!(grown < 2048, "the spool grew by {grown} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_or_corrupt_compressed_body_is_a_400_and_the_node_goes_on() {
    let (_dir, _sim, edge) = with_sandbox("ik", &[]).await;
    let auth = format!("Bearer {KEY}");
    let gz = [
        ("authorization", auth.as_str()),
        ("content-encoding", "gzip"),
    ];
    // 400,000 nested arrays inflate under the limit and stop at the depth limit.
    let deep = gzip(&vec![b'['; 400_000]);
    let (s, _, v) = send(&edge, "POST", "/v1/batch", &gz, deep).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("INVALID_JSON")),
        "{v}"
    );
    let (s, _, v) = send(&edge, "POST", "/v1/t", &gz, b"\x1f\x8b not gzip".to_vec()).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("gzip")),
        "{v}"
    );
    let (s, _) = edge
        .ingest("/v1/t", json!({"userId": "u", "event": "Still here"}))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_larger_than_the_whole_spool_is_a_413_not_a_503() {
    let (_dir, _sim, edge) =
        with_sandbox("ik", &[("SIGNAL_SPOOL_MAX_BYTES", "64KiB".into())]).await;
    // Five valid events of 20 KiB: 100 KiB of records, more than the spool can ever hold.
    let events: Vec<Value> = (0..5)
        .map(|i| {
            json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("w-{i}"),
                   "properties": {"pad": "p".repeat(20 * 1024)}})
        })
        .collect();
    let (s, v) = edge.ingest("/v1/batch", json!({ "batch": events })).await;
    assert_eq!(s, 413, "a retry could never succeed, so no 503: {v}");
    assert_eq!(v["error"]["code"], "TOO_LARGE", "{v}");
    let (s, v) = edge
        .ingest("/v1/t", json!({"userId": "u", "event": "Small"}))
        .await;
    assert_eq!(s, 200, "what fits is still taken: {v}");
}

/// What a beacon and Segment's analytics-next send: no `Authorization`, `text/plain`, the key as
/// `writeKey` in the body. Taken; a wrong or missing writeKey is the 401 of a wrong or missing
/// header; a JSON body without credentials is still refused from its headers; a wrong header is
/// refused whatever the body says; and a keyless body is read only up to 64 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_key_in_a_text_plain_body_is_taken_when_no_header_carries_one() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let plain = [
        ("content-type", "text/plain;charset=UTF-8"),
        ("origin", "http://127.0.0.1:9"),
    ];
    let body = |key: &str, event: &str| {
        json!({"writeKey": key, "userId": "u", "event": event})
            .to_string()
            .into_bytes()
    };
    let (s, h, v) = send(&edge, "POST", "/v1/t", &plain, body(KEY, "By Beacon")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(h["access-control-allow-origin"], "http://127.0.0.1:9");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let batch = json!({"writeKey": KEY, "batch": [{"type": "track", "userId": "u", "event": "In A Batch"}]});
    let (s, _, v) = send(
        &edge,
        "POST",
        "/v1/batch",
        &plain,
        batch.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    eventually("both reach Pendo", || {
        let names: Vec<Value> = track_bodies(&sim)
            .iter()
            .map(|b| b["event"].clone())
            .collect();
        names.contains(&json!("By Beacon")) && names.contains(&json!("In A Batch"))
    })
    .await;

    let wrong = send(&edge, "POST", "/v1/t", &plain, body("dk_live_wrong", "No")).await;
    let missing = send(
        &edge,
        "POST",
        "/v1/t",
        &plain,
        json!({"userId": "u", "event": "No"})
            .to_string()
            .into_bytes(),
    )
    .await;
    let json_body = send(
        &edge,
        "POST",
        "/v1/t",
        &[("content-type", "application/json")],
        body(KEY, "No"),
    )
    .await;
    let bad_header = send(
        &edge,
        "POST",
        "/v1/t",
        &[
            ("content-type", "text/plain"),
            ("authorization", "Bearer dk_live_wrong"),
        ],
        body(KEY, "No"),
    )
    .await;
    for (name, (s, _, v)) in [
        ("a wrong writeKey", wrong),
        ("no writeKey", missing),
        ("a JSON body without a header", json_body),
        ("a wrong header", bad_header),
    ] {
        assert_eq!(s, 401, "{name}: {v}");
        assert_eq!(v["error"]["code"], "UNAUTHORIZED", "{name}: {v}");
    }
    let big = json!({"writeKey": KEY, "userId": "u", "event": "Big", "properties": {"pad": "x".repeat(70_000)}});
    let (s, _, v) = send(&edge, "POST", "/v1/t", &plain, big.to_string().into_bytes()).await;
    assert_eq!(s, 413, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("65536")),
        "{v}"
    );
    // A good one after them: once it is at Pendo, what was accepted before it would be too.
    let (s, _, v) = send(&edge, "POST", "/v1/t", &plain, body(KEY, "After")).await;
    assert_eq!(s, 200, "{v}");
    eventually("the good one after them reaches Pendo", || {
        track_bodies(&sim).iter().any(|b| b["event"] == "After")
    })
    .await;
    assert!(
        track_bodies(&sim)
            .iter()
            .all(|b| b["event"] != "No" && b["event"] != "Big")
    );
}
