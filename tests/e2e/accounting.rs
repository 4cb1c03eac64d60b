//! Accounted for, and no secret shown, for Pendo (Amplitude, Heap and the fixture vendor check
//! the same in their own files): after a run with failures every event sent is delivered (in
//! the sandbox's record), dropped with a reason, or dead-lettered (in the dead-letter listing),
//! the integration's stats add up to the events sent, and neither of Pendo's keys appears in a
//! live event, a dead letter, the stats or the integration.

use crate::harness::with_sandbox;
use crate::vendors::{count, dead_letters, live_events, no_secret_shown, send};
use serde_json::{Value, json};
use signal_sandbox::FaultPlan;
use std::time::{Duration, Instant};

const INTEGRATION_KEY: &str = "pendo-integration-key-8765";
const API_KEY: &str = "pendo-api-key-4321";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pendo_every_event_is_delivered_dropped_or_dead_lettered_and_no_key_is_shown() {
    let (_dir, sim, edge) = with_sandbox(
        INTEGRATION_KEY,
        &[("SIGNAL_RETRY_MAX_ATTEMPTS", "1".into())],
    )
    .await;
    let id = edge
        .install(json!({"api_key": API_KEY, "integration_key": INTEGRATION_KEY}))
        .await;
    // Half the requests fail with 500/503 and are given up on at the first attempt.
    sim.set_faults(FaultPlan {
        error_rate: 0.5,
        ..FaultPlan::default()
    });
    let mut events: Vec<Value> = (0..20)
        .map(|n| {
            json!({"type": "track", "userId": format!("user-{n}"), "event": "Clicked",
                        "messageId": format!("m-{n}"), "properties": {"n": n}})
        })
        .collect();
    events.extend((0..3).map(|n| {
        json!({"type": "identify", "userId": format!("user-{n}"), "messageId": format!("m-id-{n}"),
               "traits": {"plan": "pro"}})
    }));
    events.extend((0..2).map(|n| {
        json!({"type": "screen", "userId": "user-0", "name": "Home", "messageId": format!("m-screen-{n}")})
    }));
    send(&edge, &events).await;

    let path = format!("/v1/admin/integrations/{id}/stats");
    let start = Instant::now();
    let stats = loop {
        let s = edge.admin("GET", &path, None).await.1;
        let done = count(&s, "delivered") + count(&s, "dropped") + count(&s, "dead_lettered");
        if done >= 25 || start.elapsed() > Duration::from_secs(15) {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (delivered, dropped, dead) = (
        count(&stats, "delivered"),
        count(&stats, "dropped"),
        count(&stats, "dead_lettered"),
    );
    assert_eq!(delivered + dropped + dead, 25, "{stats}");
    assert_eq!(dropped, 2, "the screen calls: {stats}");
    assert!(dead >= 1 && delivered >= 1, "a run with failures: {stats}");
    assert_eq!(
        sim.items().len() as u64,
        delivered,
        "what the stats call delivered is what Pendo accepted"
    );
    let letters = dead_letters(&edge, &id).await;
    assert_eq!(letters.len() as u64, dead, "{letters:?}");
    let mut seen: Vec<String> = sim
        .items()
        .iter()
        .filter_map(|i| i.item["properties"]["n"].as_i64().map(|n| format!("m-{n}")))
        .collect();
    seen.extend(
        letters
            .iter()
            .filter_map(|l| {
                let event: Value = serde_json::from_str(l["event"].as_str()?).ok()?;
                Some(event["batch"][0]["messageId"].as_str()?.to_owned())
            })
            .filter(|m| !m.starts_with("m-id-")),
    );
    seen.sort();
    let mut want: Vec<String> = (0..20).map(|n| format!("m-{n}")).collect();
    want.sort();
    assert_eq!(
        seen, want,
        "each track event delivered or dead-lettered, once"
    );
    let live = live_events(&edge, &id).await;
    assert!(
        live.iter().any(|e| e["outcome"] == "dropped"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("unsupported_type"))),
        "{live:?}"
    );
    no_secret_shown(&edge, &id, &[INTEGRATION_KEY, API_KEY]).await;
}
