//! Dead letters through the management API: paged with a cursor, and never showing the write
//! key a client put in an event's body.

use crate::harness::{KEY, with_dead_letters, with_dead_letters_past_their_cap};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_paged_and_never_show_the_write_key() {
    let (_dir, _sim, edge, id) = with_dead_letters(
        &[("SIGNAL_RETRY_MAX_ATTEMPTS", "2".into())],
        (0..3).map(
            |n| json!({"userId": "u", "event": "Doomed", "writeKey": KEY, "properties": {"n": n}}),
        ),
    )
    .await;
    let path = format!("/v1/admin/integrations/{id}/dead-letters");
    edge.poll(&path, |v| {
        v["data"].as_array().is_some_and(|a| a.len() == 3)
    })
    .await;

    let (s, first) = edge.admin("GET", &format!("{path}?limit=2"), None).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["data"].as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().expect("a cursor");
    let (s, rest) = edge
        .admin("GET", &format!("{path}?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(s, 200, "{rest}");
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1), "{rest}");
    assert_eq!(
        (&rest["has_more"], &rest["next_cursor"]),
        (&json!(false), &Value::Null)
    );

    let letters: Vec<&Value> = first["data"]
        .as_array()
        .into_iter()
        .chain(rest["data"].as_array())
        .flatten()
        .collect();
    let ids: Vec<u64> = letters
        .iter()
        .filter_map(|d| d["id"].as_str()?.parse().ok())
        .collect();
    assert!(
        ids.len() == 3 && ids.windows(2).all(|w| w[0] < w[1]),
        "three letters, oldest first, none twice: {ids:?}"
    );
    for d in letters {
        let event = d["event"].as_str().expect("the event as text");
        assert!(event.contains("\"event\":\"Doomed\""), "{event}");
        assert!(
            !event.contains(KEY) && !event.contains("writeKey"),
            "the write key is scrubbed as in live events: {event}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_cap_is_a_setting_and_past_it_the_oldest_go() {
    let (_dir, _sim, edge, id) = with_dead_letters_past_their_cap().await;
    let path = format!("/v1/admin/integrations/{id}/dead-letters");
    let listed = edge
        .poll(&path, |v| {
            v["data"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let ns: Vec<String> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let event: Value = serde_json::from_str(d["event"].as_str()?).ok()?;
            Some(event["batch"][0]["properties"]["n"].to_string())
        })
        .collect();
    assert_eq!(ns, ["1", "2"], "the oldest went first: {listed}");
}
