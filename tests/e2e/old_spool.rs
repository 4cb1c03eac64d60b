//! A spool written by the previous release (record format version 1, `tests/fixtures/spool-v1`,
//! written at 176baaa) is read by this one: started on it, the node delivers every event to the
//! Pendo sandbox with the same bodies that release sent.

use crate::harness::{Edge, with_pendo};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What Pendo holds after `requests` (in the order sent): each track body, sorted; and each
/// visitor's and account's metadata values, later ones over earlier ones. Metadata items are
/// grouped into requests, and one id's items merged, by the engine's batcher (`merge_by`) as
/// timing has it; what Pendo ends up holding does not depend on that.
fn pendo_state(requests: impl IntoIterator<Item = (String, Value)>) -> (Vec<String>, Vec<String>) {
    let mut tracks = Vec::new();
    let mut metadata: BTreeMap<(String, String), serde_json::Map<String, Value>> = BTreeMap::new();
    for (path, body) in requests {
        match body {
            Value::Array(items) => {
                for item in items {
                    let id = item["visitorId"].as_str().or(item["accountId"].as_str());
                    let id = id.expect("a metadata item names its visitor or account");
                    let values = metadata.entry((path.clone(), id.to_owned())).or_default();
                    for (k, v) in item["values"].as_object().into_iter().flatten() {
                        values.insert(k.clone(), v.clone());
                    }
                }
            }
            one => tracks.push(format!("{path} {one}")),
        }
    }
    tracks.sort();
    let metadata = metadata
        .into_iter()
        .map(|((path, id), values)| format!("{path} {id} {}", Value::Object(values)))
        .collect();
    (tracks, metadata)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_written_by_the_previous_release_is_delivered_with_the_same_bodies() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spool-v1");
    let expected = pendo_state(
        std::fs::read_to_string(fixture.join("pendo-bodies.jsonl"))
            .expect("the recorded bodies")
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).expect("a recorded request");
                let path = v["path"].as_str().expect("its path").to_owned();
                (path, v["body"].take())
            }),
    );
    assert_eq!(
        (expected.0.len(), expected.1.len()),
        (242, 44),
        "the recording holds every track and every visitor's and account's values"
    );
    // Pendo installed (its cursor at the start of an empty spool), then the node stopped and
    // its spool's segment swapped for the old release's.
    let (dir, sim, edge, id) = with_pendo(&[]).await;
    edge.kill();
    let spool = dir.path().join("spool");
    for entry in std::fs::read_dir(&spool).expect("the spool directory") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|x| x == "seg") {
            std::fs::remove_file(&path).expect("the empty segment removed");
        }
    }
    let segment = "00000000000000000001.seg";
    std::fs::copy(fixture.join("spool").join(segment), spool.join(segment))
        .expect("the old segment copied");
    let edge = Edge::start(dir.path(), &[("SIGNAL_PENDO_BASE_URL_US", sim.base_url())]);
    let stats = edge
        .poll(&format!("/v1/admin/integrations/{id}/stats"), |v| {
            v["queue_depth"] == 0
                && v["in_flight"] == 0
                && v["counts"]["delivered"].as_u64().unwrap_or(0)
                    + v["counts"]["dropped"].as_u64().unwrap_or(0)
                    >= 300
        })
        .await;
    assert_eq!(
        (
            stats["counts"]["delivered"].as_u64(),
            stats["counts"]["dropped"].as_u64()
        ),
        (Some(295), Some(5)),
        "every record delivered or dropped (consent withheld) as before, none dead: {stats}"
    );
    let got = pendo_state(sim.requests().into_iter().map(|r| {
        let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
        (r.path, body)
    }));
    assert_eq!(
        got.0.len(),
        expected.0.len(),
        "as many tracks as the old release sent"
    );
    for (g, e) in got.0.iter().zip(&expected.0) {
        assert_eq!(g, e, "a track body differs from the old release's");
    }
    assert_eq!(
        got.1, expected.1,
        "the metadata differs from the old release's"
    );
}
