//! What the gateway stores is what delivery can read (issue 11, review 2): a batch context in
//! either spelling is delivered, a record the pipeline cannot read is a dead letter with the
//! reason named (never acknowledged and dropped), and a batch context cannot multiply a request
//! into megabytes of spool.

use crate::harness::{Edge, KEY, eventually, track_bodies, with_pendo};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::io::Write;

/// POSTs `body` (as sent: gzip when `headers` says so) to `/v1/batch` with the default key.
async fn post_batch(edge: &Edge, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let mut req = hyper::Request::builder()
        .method("POST")
        .uri(format!("{}/v1/batch", edge.ingest))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).expect("request");
    let resp = edge.client.request(req).await.expect("answer");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_context_with_a_snake_case_user_agent_is_delivered() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    for (n, ctx) in [
        json!({"user_agent": "Mozilla/5.0 (from the SDK)"}),
        json!({"userAgent": null}),
        json!({"ip": null, "group_id": "acme"}),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"context": ctx, "batch": [{"type": "track", "event": "Snake",
            "userId": "u", "messageId": format!("snake-{n}"), "properties": {"n": n}}]});
        let (s, v) = post_batch(
            &edge,
            &[("user-agent", "okhttp/4.12")],
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!((s, v["accepted"].as_u64()), (200, Some(1)), "{ctx}: {v}");
    }
    eventually("the three events answered 200 delivered to Pendo", || {
        track_bodies(&sim)
            .iter()
            .filter(|b| b["event"] == "Snake")
            .count()
            == 3
    })
    .await;
    let first = track_bodies(&sim)
        .into_iter()
        .find(|b| b["properties"]["n"] == 0)
        .expect("event 0");
    assert_eq!(
        first["context"]["userAgent"], "Mozilla/5.0 (from the SDK)",
        "the SDK's own User-Agent, not the HTTP client's: {first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_kib_of_gzip_cannot_multiply_into_megabytes_of_spool() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let events: Vec<Value> = (0..500)
        .map(
            |i| json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("m{i}")}),
        )
        .collect();
    let body = json!({"context": {"page": {"title": "t".repeat(31 * 1024)}}, "batch": events});
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(body.to_string().as_bytes()).expect("gzip");
    let wire = gz.finish().expect("gzip");
    assert!(wire.len() < 2048, "{}", wire.len());
    let before = edge.spool_bytes().await;
    let (s, v) = post_batch(&edge, &[("content-encoding", "gzip")], wire).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("TOO_LARGE")),
        "{v}"
    );
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("is copied into each of its 500 events")
            && msg.contains("over the limit of 1048576"),
        "{msg}"
    );
    assert_eq!(edge.spool_bytes().await, before, "nothing stored");

    // A full batch as analytics.js sends it: 500 events of ~1 KiB, a small batch context.
    let events: Vec<Value> = (0..500)
        .map(|i| {
            json!({"type": "track", "event": "Full", "userId": "u", "messageId": format!("f{i}"),
                   "properties": {"n": i, "pad": "x".repeat(940)}})
        })
        .collect();
    let ctx = json!({"library": {"name": "analytics.js", "version": "next-1.70.0"},
        "locale": "en-GB", "timezone": "Europe/London",
        "page": {"path": "/pricing", "title": "Pricing", "url": "https://app.example.com/pricing",
                 "referrer": "https://www.example.com/"}});
    let body = json!({"context": ctx, "batch": events}).to_string();
    assert!(
        body.len() > 480 * 1024 && body.len() <= 512 * 1024,
        "{}",
        body.len()
    );
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/131.0.0.0 Safari/537.36";
    let (s, v) = post_batch(&edge, &[("user-agent", ua)], body.into_bytes()).await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(500)), "{v}");
    eventually("the full batch delivered", || {
        track_bodies(&sim)
            .iter()
            .filter(|b| b["event"] == "Full")
            .count()
            == 500
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_record_the_pipeline_cannot_read_is_a_dead_letter_naming_why() {
    let (dir, sim, edge, id) = with_pendo(&[]).await;
    edge.kill();
    // Records no gateway should have written, put straight into the spool while the node is
    // stopped: not JSON, and an event the parser refuses.
    let spool = signal_spool::Spool::open(signal_spool::SpoolConfig::new(dir.path().join("spool")))
        .expect("spool");
    let bad = vec![
        b"{\"receivedAt\":1,\"context\":{}, not json".to_vec(),
        br#"{"receivedAt":1,"context":{"userAgent":"a","user_agent":"b"},"batch":[{"type":"track","event":"Bad","userId":"u"}]}"#.to_vec(),
        br#"{"receivedAt":1,"context":{},"batch":[{"type":"track","userId":"u"}]}"#.to_vec(),
        // A format this node does not know (a later release's), and a version 2 header cut
        // short.
        b"\x03{\"receivedAt\":1,\"context\":{},\"batch\":[]}".to_vec(),
        vec![0x02, 0x08, 0x80],
    ];
    let append = spool.append(bad);
    std::thread::scope(|s| s.spawn(|| append.wait().expect("appended")).join())
        .expect("append thread");
    drop(spool);
    let edge = Edge::start(dir.path(), &[("SIGNAL_PENDO_BASE_URL_US", sim.base_url())]);
    let path = format!("/v1/admin/integrations/{id}/dead-letters");
    let listed = edge
        .poll(&path, |v| {
            v["data"].as_array().is_some_and(|a| a.len() == 5)
        })
        .await;
    let reasons: Vec<&str> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "the spooled record does not parse: body: not valid JSON (ExpectedObjectKey at \
             character 30 ('n'))",
            "the spooled record does not parse: context.user_agent: given twice, also as \
             `userAgent`: send one spelling",
            "the spooled record's event is invalid: batch[0].event: is required",
            "the spooled record is of an unknown format (first byte 0x03; this node reads \
             version 1, starting with `{`, and version 2, starting with 0x02)",
            "the spooled record's version 2 header is corrupt: a number cut short",
        ],
        "each kept as a dead letter, oldest first, naming why: {listed}"
    );
    let stats = edge
        .poll(&format!("/v1/admin/integrations/{id}/stats"), |v| {
            v["counts"]["dead_lettered"].as_u64() == Some(5)
        })
        .await;
    assert_eq!(stats["counts"]["dead_lettered"], 5, "{stats}");
    assert!(track_bodies(&sim).is_empty(), "nothing of them sent");
}
