//! Connections judged by the bytes that move (issue 11, review 2 item 2): a server-sent event
//! stream that sends nothing but its keep-alive comments is not a stalled connection.

use crate::harness::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;
use std::time::{Duration, Instant};

/// With a 300 ms header timeout, a live event stream left quiet for 3 s (ten timeouts, less
/// than its keep-alive period) stays open and then carries the next event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_live_event_stream_outlives_the_header_timeout() {
    let (_dir, _sim, edge, id) = with_pendo(&[("SIGNAL_HEADER_TIMEOUT_MS", "300".into())]).await;
    let req = hyper::Request::get(format!("{}/v1/admin/integrations/{id}/events", edge.admin))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = edge.client.request(req).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (s, _) = edge
        .ingest("/v1/t", json!({"userId": "u", "event": "AfterQuiet"}))
        .await;
    assert_eq!(s, 200);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("AfterQuiet") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    seen.push_str(&String::from_utf8_lossy(d));
                }
            }
            Ok(None | Some(Err(_))) => break,
            Err(_) => {}
        }
    }
    assert!(
        seen.contains("AfterQuiet"),
        "the stream was closed or carried nothing: {seen:?}"
    );
}
