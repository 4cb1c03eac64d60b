//! The JetStream log against a real `nats-server` on loopback, started by each test: what
//! several nodes sharing one log must see. Events are kept while a consumer has not
//! acknowledged them (interest retention), so each test makes its integrations' consumers
//! before the events arrive, as the node does.

mod support;

use bytes::Bytes;
use signal_nats::{NatsLog, NatsSettings, ToAppend};
use signal_spool::{DeadLetterInfo, Start};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::NatsServer;

fn settings(server: &NatsServer) -> NatsSettings {
    NatsSettings {
        servers: vec![server.url()],
        ack_wait: Duration::from_secs(1),
        max_bytes: support::STREAM_BYTES,
        ..NatsSettings::default()
    }
}

/// A node: its own connection to the server.
async fn node(server: &NatsServer) -> NatsLog {
    NatsLog::connect(settings(server)).await.expect("connect")
}

fn records(ids: impl Iterator<Item = u64>) -> Vec<ToAppend> {
    ids.map(|n| ToAppend {
        message_id: Some(format!("m{n}")),
        payload: Bytes::from(format!(r#"{{"batch":[{{"messageId":"m{n}"}}]}}"#)),
    })
    .collect()
}

const WAIT: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_id_appended_on_two_nodes_is_kept_and_read_once() {
    let server = NatsServer::start();
    let (a, b) = (node(&server).await, node(&server).await);
    let consumer = a
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    let first = a.append("web", records(1..=1)).await.expect("append on A");
    assert!(!first[0].duplicate);
    let again = b.append("web", records(1..=1)).await.expect("append on B");
    assert!(
        again[0].duplicate,
        "B's copy is acknowledged as a duplicate"
    );
    assert_eq!(again[0].seq, first[0].seq);
    // Another source may use the same messageId: its own event.
    let other = b.append("app", records(1..=1)).await.expect("append");
    assert!(!other[0].duplicate);
    let got = consumer.read(10, WAIT).await.expect("read");
    assert_eq!(got.len(), 2, "web's m1 once, app's m1 once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_consumer_shared_by_two_nodes_hands_each_record_to_one_of_them() {
    let server = NatsServer::start();
    let (a, b) = (node(&server).await, node(&server).await);
    a.consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    for chunk in (0..3_000u64).collect::<Vec<_>>().chunks(500) {
        a.append("web", records(chunk.iter().copied()))
            .await
            .expect("append");
    }
    let read_all = |log: NatsLog| async move {
        let consumer = log
            .consumer("int_1", Start::Earliest)
            .await
            .expect("consumer");
        let mut seen = Vec::new();
        loop {
            let got = consumer.read(100, WAIT).await.expect("read");
            if got.is_empty() {
                return seen;
            }
            for d in got {
                d.ack().await.expect("ack");
                seen.push(d.seq);
            }
        }
    };
    let (on_a, on_b) = tokio::join!(read_all(a.clone()), read_all(b.clone()));
    let (set_a, set_b): (BTreeSet<u64>, BTreeSet<u64>) = (
        on_a.iter().copied().collect(),
        on_b.iter().copied().collect(),
    );
    assert!(set_a.is_disjoint(&set_b), "no record went to both nodes");
    assert_eq!(
        on_a.len() + on_b.len(),
        3_000,
        "every record went to a node"
    );
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "both nodes took a share"
    );
    let after = a
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    assert!(
        after
            .read(10, Duration::from_millis(1_500))
            .await
            .expect("read")
            .is_empty(),
        "nothing acknowledged comes back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_a_dead_node_read_goes_to_another_after_the_ack_wait() {
    let server = NatsServer::start();
    let a = node(&server).await;
    let on_a = a
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    a.append("web", records(0..10)).await.expect("append");
    let taken = on_a.read(10, WAIT).await.expect("read");
    assert_eq!(taken.len(), 10);
    drop((taken, on_a, a)); // the node dies without a word
    let b = node(&server).await;
    let consumer = b
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    let start = Instant::now();
    let mut again = Vec::new();
    while again.len() < 10 && start.elapsed() < Duration::from_secs(10) {
        again.extend(consumer.read(10, WAIT).await.expect("read"));
    }
    assert_eq!(again.len(), 10, "every record the dead node held");
    assert!(
        again.iter().all(|d| d.deliveries == 2),
        "each handed out a second time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_marked_in_progress_is_not_handed_to_another_node() {
    let server = NatsServer::start();
    let (a, b) = (node(&server).await, node(&server).await);
    let on_a = a
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    a.append("web", records(0..1)).await.expect("append");
    let held = on_a.read(1, WAIT).await.expect("read");
    assert_eq!(held.len(), 1);
    let other = b
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    // Three ack waits (1 s each) pass while A says it is still working on it.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        held[0].in_progress().await.expect("+WPI");
        let got = other
            .read(1, Duration::from_millis(400))
            .await
            .expect("read");
        assert!(got.is_empty(), "B got a record A is still working on");
    }
    held[0].ack().await.expect("ack");
    assert!(
        other
            .read(1, Duration::from_millis(1_500))
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integration_installed_later_reads_only_what_arrives_after() {
    let server = NatsServer::start();
    let a = node(&server).await;
    // Another integration keeps the first five in the stream.
    a.consumer("int_early", Start::Earliest)
        .await
        .expect("consumer");
    a.append("web", records(0..5)).await.expect("append");
    let late = a
        .consumer("int_late", Start::Latest)
        .await
        .expect("consumer");
    a.append("web", records(5..7)).await.expect("append");
    let got = late.read(10, WAIT).await.expect("read");
    let ids: Vec<String> = got
        .iter()
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect();
    assert_eq!(got.len(), 2, "{ids:?}");
    assert!(ids[0].contains("m5") && ids[1].contains("m6"), "{ids:?}");
}

fn given_up() -> DeadLetterInfo {
    DeadLetterInfo {
        reason: "vendor_rejected: status_400\nsecond line".into(),
        status: Some(400),
        body: r#"{"error":"bad"}"#.into(),
        attempts: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_replayed_to_their_integration_alone_and_purged() {
    let server = NatsServer::start();
    let a = node(&server).await;
    let one = a
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    let two = a
        .consumer("int_2", Start::Earliest)
        .await
        .expect("consumer");
    a.append("web", records(0..3)).await.expect("append");
    for d in two.read(10, WAIT).await.expect("read") {
        d.ack().await.expect("ack");
    }
    let got = one.read(10, WAIT).await.expect("read");
    assert_eq!(got.len(), 3);
    for d in &got[..2] {
        a.dead_letter("int_1", d.seq, &d.payload, &given_up())
            .await
            .expect("dead letter");
        // Written twice (a retried write): kept once.
        a.dead_letter("int_1", d.seq, &d.payload, &given_up())
            .await
            .expect("dead letter");
        d.ack().await.expect("ack");
    }
    got[2].ack().await.expect("ack");
    let page = a.dead_letter_page("int_1", None, 1).await.expect("page");
    assert_eq!(page.letters.len(), 1);
    let first = &page.letters[0];
    assert_eq!(first.payload, got[0].payload.to_vec());
    assert_eq!(first.info.reason, "vendor_rejected: status_400 second line");
    assert_eq!((first.info.status, first.info.attempts), (Some(400), 1));
    assert_eq!(first.info.body, r#"{"error":"bad"}"#);
    let rest = a
        .dead_letter_page("int_1", page.next, 10)
        .await
        .expect("page");
    assert_eq!(
        (rest.letters.len(), rest.next),
        (1, None),
        "two letters in all"
    );
    assert!(
        a.dead_letter_page("int_2", None, 10)
            .await
            .expect("page")
            .letters
            .is_empty()
    );

    assert_eq!(
        a.replay("int_1", Some(&[first.id])).await.expect("replay"),
        1
    );
    let replayed = one.read(10, WAIT).await.expect("read");
    assert_eq!(replayed.len(), 1);
    assert!(replayed[0].replayed);
    assert_eq!(replayed[0].payload, got[0].payload);
    replayed[0].ack().await.expect("ack");
    assert!(
        two.read(10, WAIT).await.expect("read").is_empty(),
        "another integration does not get int_1's replay"
    );
    assert_eq!(a.purge("int_1", None).await.expect("purge"), 1);
    assert!(
        a.dead_letter_page("int_1", None, 10)
            .await
            .expect("page")
            .letters
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_replaying_the_same_letters_at_once_both_succeed_and_each_is_sent_once() {
    let server = NatsServer::start();
    let (a, b) = (node(&server).await, node(&server).await);
    let one = a
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    a.append("web", records(0..20)).await.expect("append");
    for d in one.read(20, WAIT).await.expect("read") {
        a.dead_letter("int_1", d.seq, &d.payload, &given_up())
            .await
            .expect("letter");
        d.ack().await.expect("ack");
    }
    let (ra, rb) = tokio::join!(a.replay("int_1", None), b.replay("int_1", None));
    ra.expect("A's replay");
    rb.expect("B's replay, not a 503 for letters A deleted first");
    let mut got = Vec::new();
    loop {
        let batch = one
            .read(50, Duration::from_millis(700))
            .await
            .expect("read");
        if batch.is_empty() {
            break;
        }
        for d in &batch {
            d.ack().await.expect("ack");
        }
        got.extend(batch);
    }
    assert_eq!(got.len(), 20, "each letter replayed once");
    assert!(
        a.dead_letter_page("int_1", None, 50)
            .await
            .expect("page")
            .letters
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_concurrent_appends_are_all_acknowledged_past_the_clients_default_room() {
    let server = NatsServer::start();
    let a = node(&server).await;
    a.consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    // One group larger than async-nats' default 5,000 acknowledgements in flight (it waited
    // for itself for ever)...
    let big = a
        .append("web", records(0..6_000))
        .await
        .expect("a group of 6,000");
    assert_eq!(big.len(), 6_000);
    // ...and forty requests of 500 at once, as a busy gateway sends them.
    let all = futures_util::future::join_all((0..40u64).map(|r| {
        let a = a.clone();
        async move { a.append("app", records(r * 500..(r + 1) * 500)).await }
    }))
    .await;
    assert!(all.iter().all(|r| r.as_ref().is_ok_and(|v| v.len() == 500)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_ack_wait_brings_the_shared_consumer_in_line() {
    let server = NatsServer::start();
    let a = node(&server).await; // ack wait 1 s
    a.consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    let b = NatsLog::connect(NatsSettings {
        ack_wait: Duration::from_secs(30),
        ..settings(&server)
    })
    .await
    .expect("connect");
    let on_b = b
        .consumer("int_1", Start::Earliest)
        .await
        .expect("B's settings");
    b.append("web", records(0..1)).await.expect("append");
    let taken = on_b.read(1, WAIT).await.expect("read");
    assert_eq!(taken.len(), 1);
    drop(taken); // not acknowledged
    // Past the old 1 s, inside the new 30 s: not handed out again.
    assert!(
        on_b.read(1, Duration::from_millis(2_500))
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_an_unavailable_error_within_seconds_not_a_hang() {
    let mut server = NatsServer::start();
    let a = node(&server).await;
    server.kill();
    let start = Instant::now();
    let e = a
        .append("web", records(0..1))
        .await
        .expect_err("no server to acknowledge it");
    assert!(e.is_unavailable(), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(12),
        "{:?}",
        start.elapsed()
    );
    assert!(!a.is_connected());
    let e = NatsLog::connect(NatsSettings {
        servers: vec![server.url()],
        ..NatsSettings::default()
    })
    .await
    .err()
    .expect("nothing listens");
    assert!(e.is_unavailable(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_appends_are_remembered_until_a_probe_finds_the_stream_again() {
    let mut server = NatsServer::start();
    let a = node(&server).await;
    a.consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    assert!(!a.is_failing());
    server.kill();
    assert!(a.append("web", records(0..1)).await.is_err());
    assert!(a.is_failing(), "the failed append is remembered");
    server.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        a.is_failing(),
        "until something shows JetStream takes records again"
    );
    let start = Instant::now();
    while a.probe().await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(15), "reconnected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!a.is_failing());
    assert!(a.append("web", records(1..2)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_room_for_the_events_stream_is_refused_naming_the_setting_to_lower() {
    let server = NatsServer::start_with_store("64MB");
    let e = NatsLog::connect(NatsSettings {
        max_bytes: 128 << 20,
        ..settings(&server)
    })
    .await
    .err()
    .expect("a 128 MiB stream on a server that keeps 64 MB");
    assert!(!e.is_unavailable(), "no use waiting for it: {e}");
    let said = e.to_string();
    assert!(
        said.contains("128 MiB") && said.contains("SIGNAL_SPOOL_MAX_BYTES"),
        "says what it asked for and what to lower: {said}"
    );
    let fits = NatsLog::connect(NatsSettings {
        max_bytes: 32 << 20,
        ..settings(&server)
    })
    .await;
    assert!(fits.is_ok(), "32 MiB fits: {:?}", fits.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_stream_full_refuses_appends_and_keeps_what_it_took() {
    let server = NatsServer::start();
    let a = NatsLog::connect(NatsSettings {
        servers: vec![server.url()],
        max_bytes: 64 * 1024,
        ..settings(&server)
    })
    .await
    .expect("connect");
    let c = a
        .consumer("int_1", Start::Earliest)
        .await
        .expect("consumer");
    let big = |n: u64| ToAppend {
        message_id: Some(format!("m{n}")),
        payload: Bytes::from(vec![b'x'; 4096]),
    };
    let mut taken = 0u64;
    let refused = loop {
        match a.append("web", vec![big(taken)]).await {
            Ok(_) => taken += 1,
            Err(e) => break e,
        }
        assert!(taken < 100, "64 KiB never filled");
    };
    assert!(
        refused.is_unavailable(),
        "a full stream is a 503 to retry, not a refusal for ever: {refused}"
    );
    assert!(taken >= 10, "{taken} taken before it was full");
    assert!(a.is_failing());
    assert!(
        a.probe().await.is_err(),
        "a full stream answers, but it is not ready for appends"
    );
    assert!(a.is_failing(), "still failing while full");
    let mut read = 0;
    while read < taken {
        let got = c.read(100, WAIT).await.expect("read");
        assert!(!got.is_empty(), "{read} of {taken} read");
        for d in got {
            d.ack().await.expect("ack");
            read += 1;
        }
    }
    // Acknowledged, they are gone (interest retention): there is room again.
    let start = Instant::now();
    while a.probe().await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!a.is_failing());
    while a.append("web", vec![big(1000)]).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "room again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
