//! The shared key-value buckets against a real `nats-server`: what one node writes, another
//! loads and follows in order; a node's heartbeat lapses by itself.

mod support;

use bytes::Bytes;
use signal_nats::{NatsLog, NatsSettings, link_key};
use std::time::Duration;
use support::NatsServer;

async fn node(server: &NatsServer) -> NatsLog {
    NatsLog::connect(NatsSettings {
        servers: vec![server.url()],
        max_bytes: support::STREAM_BYTES,
        ..NatsSettings::default()
    })
    .await
    .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_loads_what_another_wrote_then_follows_its_changes_in_order() {
    let server = NatsServer::start();
    let (a, b) = (node(&server).await, node(&server).await);
    let (a, b) = (a.buckets().await.expect("a"), b.buckets().await.expect("b"));

    let empty = b
        .integrations
        .follow()
        .await
        .expect("an empty bucket loads");
    assert!(empty.now.is_empty());
    assert_eq!(empty.revision, 0, "never written");

    a.integrations
        .put("i1", Bytes::from("one"))
        .await
        .expect("put");
    a.integrations
        .put("i2", Bytes::from("two"))
        .await
        .expect("put");
    a.integrations
        .put("i1", Bytes::from("one, changed"))
        .await
        .expect("put");
    a.integrations
        .put("i3", Bytes::from("three"))
        .await
        .expect("put");
    a.integrations.delete("i3").await.expect("delete");

    let signal_nats::Loaded {
        now,
        revision,
        mut changes,
    } = b.integrations.follow().await.expect("load");
    assert_eq!(revision, 5, "as of the delete, the fifth change");
    assert_eq!(
        now.into_iter().collect::<Vec<_>>(),
        vec![
            ("i1".to_owned(), Bytes::from("one, changed")),
            ("i2".to_owned(), Bytes::from("two")),
        ],
        "the last value of each key, the deleted one left out"
    );

    a.integrations.delete("i2").await.expect("delete");
    a.integrations
        .put("i4", Bytes::from("four"))
        .await
        .expect("put");
    let next = |c: Option<Result<signal_nats::Change, _>>| c.expect("a change").expect("ok");
    let first = next(
        tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("in time"),
    );
    let second = next(
        tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("in time"),
    );
    assert_eq!((first.key.as_str(), first.value), ("i2", None));
    assert_eq!(
        (second.key.as_str(), second.value),
        ("i4", Some(Bytes::from("four")))
    );
    assert!(second.revision > first.revision);
    assert!(b.integrations.last_revision().await.expect("revision") >= second.revision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_put_together_are_all_stored_under_keys_any_id_can_make() {
    let server = NatsServer::start();
    let a = node(&server).await.buckets().await.expect("buckets");
    let odd = "anon.with spaces/and*wild>cards";
    let pairs: Vec<(String, Bytes)> = (0..500)
        .map(|n| {
            (
                link_key(n % 3, &format!("{odd}{n}")),
                Bytes::from(format!("user{n}")),
            )
        })
        .collect();
    a.links.put_all(pairs).await.expect("stored");
    let now = a.links.follow().await.expect("load").now;
    assert_eq!(now.len(), 500);
    assert_eq!(
        now.get(&link_key(1, &format!("{odd}7"))),
        Some(&Bytes::from("user7"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_renewing_its_heartbeat_drops_out_of_the_count() {
    let server = NatsServer::start();
    let a = node(&server).await.buckets().await.expect("buckets");
    a.nodes.put("node-a", Bytes::from("1")).await.expect("put");
    a.nodes.put("node-b", Bytes::from("1")).await.expect("put");
    assert_eq!(a.nodes.live_keys().await.expect("keys").len(), 2);
    // node-a renews, node-b does not.
    let until = std::time::Instant::now() + signal_nats::HEARTBEAT_TTL * 3;
    loop {
        a.nodes.put("node-a", Bytes::from("1")).await.expect("put");
        let keys = a.nodes.live_keys().await.expect("keys");
        if keys == vec!["node-a".to_owned()] {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "node-b still counted: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_from_a_stale_read_is_a_conflict_and_changes_nothing() {
    let server = NatsServer::start();
    let (a, b) = (node(&server).await, node(&server).await);
    let (a, b) = (a.buckets().await.expect("a"), b.buckets().await.expect("b"));
    a.integrations
        .put("i1", Bytes::from("v1"))
        .await
        .expect("put");
    let (_, read_a) = a
        .integrations
        .entry("i1")
        .await
        .expect("get")
        .expect("there");
    let (_, read_b) = b
        .integrations
        .entry("i1")
        .await
        .expect("get")
        .expect("there");
    b.integrations
        .update("i1", Bytes::from("from b"), read_b)
        .await
        .expect("b's update, first");
    let e = a
        .integrations
        .update("i1", Bytes::from("from a"), read_a)
        .await
        .expect_err("a read before b wrote");
    assert!(e.is_conflict(), "{e}");
    b.integrations.delete("i1").await.expect("delete");
    // What b's update made, read before the delete.
    let before_delete = read_b + 1;
    let e = a
        .integrations
        .update("i1", Bytes::from("back again"), before_delete)
        .await
        .expect_err("deleted meanwhile");
    assert!(e.is_conflict(), "{e}");
    assert_eq!(
        a.integrations.entry("i1").await.expect("get"),
        None,
        "stays deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_resumes_after_the_revision_it_holds() {
    let server = NatsServer::start();
    let a = node(&server).await.buckets().await.expect("buckets");
    let mut last = 0;
    for n in 0..5 {
        last = a
            .links
            .put(&format!("k{n}"), Bytes::from("v"))
            .await
            .expect("put");
    }
    let after_three = last - 2;
    a.links
        .put("k0", Bytes::from("changed"))
        .await
        .expect("put");
    let mut changes = a.links.changes_after(after_three).await.expect("changes");
    let mut keys = Vec::new();
    while keys.len() < 3 {
        let c = tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("in time")
            .expect("a change")
            .expect("ok");
        keys.push(c.key);
    }
    assert_eq!(keys, ["k3", "k4", "k0"], "what came after, in order");
}
