//! The spool's promises, from the outside: durable appends, at-least-once delivery across
//! restarts, torn tails and corrupt segments survived, the size cap as backpressure, dead letters.

mod support;

use proptest::prelude::*;
use signal_spool::{DeadLetterInfo, Record, Spool, SpoolConfig, Start};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::reading::read_all;

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig::new(dir)
}

fn payloads(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}-{i}").into_bytes())
        .collect()
}

fn texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect()
}

#[test]
fn appends_are_numbered_in_order_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let mut c = spool
        .consumer("pendo-1", Start::Earliest)
        .expect("consumer");
    assert_eq!(spool.append(payloads("a", 3)).wait().expect("append"), 1..4);
    assert_eq!(spool.append(payloads("b", 2)).wait().expect("append"), 4..6);
    assert_eq!(spool.append(Vec::new()).wait().expect("append"), 6..6);
    let got = read_all(&mut c);
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(texts(&got), ["a-0", "a-1", "a-2", "b-0", "b-1"]);
}

#[test]
fn a_new_consumer_at_latest_sees_only_what_comes_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    spool.append(payloads("before", 2)).wait().expect("append");
    let mut c = spool.consumer("late", Start::Latest).expect("consumer");
    spool.append(payloads("after", 1)).wait().expect("append");
    assert_eq!(texts(&read_all(&mut c)), ["after-0"]);
}

#[test]
fn unacknowledged_records_are_delivered_again_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    spool.append(payloads("e", 6)).wait().expect("append");
    let got = read_all(&mut c);
    // Delivered out of order: 1, 2, 4 and 6; 3 and 5 still in flight.
    for i in [0, 1, 3, 5] {
        c.ack(got[i].receipt()).expect("ack");
    }
    assert_eq!(c.committed(), 2);
    drop(c);
    spool.close();
    let spool = Spool::open(config(dir.path())).expect("reopen");
    let mut c = spool.consumer("pendo", Start::Latest).expect("consumer");
    // At-least-once: everything after the last gapless acknowledgement comes again.
    assert_eq!(texts(&read_all(&mut c)), ["e-2", "e-3", "e-4", "e-5"]);
}

#[test]
fn consumers_are_independent_and_exclusive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let mut a = spool.consumer("a", Start::Earliest).expect("a");
    let mut b = spool.consumer("b", Start::Earliest).expect("b");
    assert!(
        spool.consumer("a", Start::Earliest).is_err(),
        "one handle per consumer"
    );
    assert!(
        spool.consumer("../etc", Start::Earliest).is_err(),
        "names are file names"
    );
    spool.append(payloads("x", 2)).wait().expect("append");
    let ra = read_all(&mut a);
    ra.iter().for_each(|r| a.ack(r.receipt()).expect("ack"));
    assert_eq!(read_all(&mut b).len(), 2);
    assert_eq!(a.committed(), 2);
    assert_eq!(b.committed(), 0);
}

#[test]
fn concurrent_appenders_and_consumers_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 32 << 10; // many segment rolls under way
    let spool = Spool::open(cfg).expect("open");
    let consumers: Vec<_> = (0..3)
        .map(|i| {
            spool
                .consumer(&format!("c{i}"), Start::Earliest)
                .expect("consumer")
        })
        .collect();
    const THREADS: usize = 16;
    const PER: usize = 200;
    let appenders: Vec<_> = (0..THREADS)
        .map(|t| {
            let spool = spool.clone();
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..PER {
                    let r = spool
                        .append(vec![format!("t{t}-{i}").into_bytes()])
                        .wait()
                        .expect("append");
                    seqs.push(r.start);
                }
                seqs
            })
        })
        .collect();
    let readers: Vec<_> = consumers
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let mut seen = BTreeMap::new();
                while seen.len() < THREADS * PER {
                    c.wait_readable(Duration::from_millis(50));
                    for r in c.read(500).expect("read") {
                        c.ack(r.receipt()).expect("ack");
                        assert!(seen.insert(r.seq, r.payload).is_none(), "read twice");
                    }
                }
                seen
            })
        })
        .collect();
    let mut all_seqs: Vec<u64> = appenders
        .into_iter()
        .flat_map(|h| h.join().expect("appender"))
        .collect();
    all_seqs.sort_unstable();
    assert_eq!(all_seqs, (1..=(THREADS * PER) as u64).collect::<Vec<_>>());
    let views: Vec<_> = readers
        .into_iter()
        .map(|h| h.join().expect("reader"))
        .collect();
    for v in &views {
        assert_eq!(v, &views[0], "every consumer sees the same records");
    }
    for t in 0..THREADS {
        let mine: Vec<_> = views[0]
            .values()
            .filter_map(|p| std::str::from_utf8(p).ok())
            .filter(|p| p.starts_with(&format!("t{t}-")))
            .collect();
        let expected: Vec<String> = (0..PER).map(|i| format!("t{t}-{i}")).collect();
        assert_eq!(mine, expected, "each appender's records in its order");
    }
}

#[test]
fn a_torn_tail_is_cut_and_appending_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    spool.append(payloads("ok", 3)).wait().expect("append");
    spool.close();
    // A crash mid-write: half a record at the end of the last segment.
    let seg = newest_segment(dir.path());
    let mut bytes = fs::read(&seg).expect("read");
    let good = bytes.len();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 4, 0, 0, 0, 0, 0, 0, 0, b'p', b'a']);
    fs::write(&seg, &bytes).expect("write");
    let spool = Spool::open(config(dir.path())).expect("reopen");
    let stats = spool.stats();
    assert_eq!(stats.recovery.torn_bytes, (bytes.len() - good) as u64);
    assert!(stats.recovery.corrupt.is_empty());
    assert_eq!(fs::metadata(&seg).expect("meta").len(), good as u64);
    assert_eq!(
        spool.append(payloads("new", 1)).wait().expect("append"),
        4..5
    );
    let mut c = spool.consumer("c", Start::Earliest).expect("consumer");
    assert_eq!(texts(&read_all(&mut c)), ["ok-0", "ok-1", "ok-2", "new-0"]);
}

#[test]
fn a_corrupt_middle_segment_is_skipped_named_and_survived() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 2 << 10;
    let spool = Spool::open(cfg.clone()).expect("open");
    // A consumer that has read nothing holds every segment.
    drop(spool.consumer("c", Start::Earliest).expect("consumer"));
    for i in 0..60 {
        spool
            .append(vec![format!("r{i:03}-{}", "x".repeat(100)).into_bytes()])
            .wait()
            .expect("append");
    }
    spool.close();
    let mut segs: Vec<_> = fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    assert!(segs.len() >= 3, "{segs:?}");
    // Flip a byte in the middle of the second segment's records.
    let victim = &segs[1];
    let mut bytes = fs::read(victim).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(victim, &bytes).expect("write");
    let spool = Spool::open(cfg).expect("the spool opens anyway");
    let recovery = spool.stats().recovery;
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(recovery.corrupt.len(), 1, "{recovery:?}");
    assert!(recovery.corrupt[0].starts_with(&name), "{recovery:?}");
    let mut c = spool.consumer("c", Start::Earliest).expect("consumer");
    let got = read_all(&mut c);
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    // Records before the damage and every later segment are read; the damaged rest is not.
    assert!(seqs.len() < 60 && seqs.len() > 30, "{seqs:?}");
    assert_eq!(seqs.first(), Some(&1));
    assert_eq!(seqs.last(), Some(&60));
    for r in &got {
        let text = String::from_utf8_lossy(&r.payload);
        assert_eq!(
            text,
            format!("r{:03}-{}", r.seq - 1, "x".repeat(100)),
            "no garbage"
        );
    }
    // The cursor moves past the lost records, so the consumer is not stuck behind them.
    got.iter().for_each(|r| c.ack(r.receipt()).expect("ack"));
    assert_eq!(c.committed(), 60);
}

#[test]
fn the_size_cap_refuses_appends_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 4 << 10;
    cfg.max_bytes = 16 << 10;
    let spool = Spool::open(cfg).expect("open");
    let mut c = spool.consumer("slow", Start::Earliest).expect("consumer");
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..400 {
        let payload = format!("{i:04}-{}", "y".repeat(200)).into_bytes();
        match spool.append(vec![payload.clone()]).wait() {
            Ok(_) => accepted.push(payload),
            Err(e) => {
                assert!(e.is_full(), "{e}");
                assert!(e.to_string().contains("full"), "{e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0 && accepted.len() < 400);
    let got = read_all(&mut c);
    assert_eq!(
        got.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(),
        accepted
    );
    // Once the consumer acknowledges, its segments are deleted and appends succeed again.
    got.iter().for_each(|r| c.ack(r.receipt()).expect("ack"));
    let mut ok = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(50));
        if spool.append(vec![b"after".to_vec()]).wait().is_ok() {
            ok = true;
            break;
        }
    }
    assert!(
        ok,
        "space came back after acknowledgement: {:?}",
        spool.stats()
    );
}

#[test]
fn acknowledged_segments_are_deleted_and_unacknowledged_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 1 << 10;
    let spool = Spool::open(cfg).expect("open");
    let mut a = spool.consumer("a", Start::Earliest).expect("a");
    let _b = spool.consumer("b", Start::Earliest).expect("b");
    for i in 0..40 {
        spool
            .append(vec![format!("{i}-{}", "z".repeat(100)).into_bytes()])
            .wait()
            .expect("append");
    }
    let before = spool.stats().segments;
    read_all(&mut a)
        .iter()
        .for_each(|r| a.ack(r.receipt()).expect("ack"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        spool.stats().segments,
        before,
        "b has acknowledged nothing: all kept"
    );
    spool.remove_consumer("b").expect_err("b is being read");
    drop(_b);
    spool.remove_consumer("b").expect("remove b");
    std::thread::sleep(Duration::from_millis(300));
    assert!(spool.stats().segments < before, "{:?}", spool.stats());
}

#[test]
fn retention_keeps_acknowledged_segments_by_age_and_size() {
    let fill = |spool: &Spool, c: &mut signal_spool::Consumer| {
        for i in 0..80 {
            spool
                .append(vec![format!("{i}-{}", "r".repeat(100)).into_bytes()])
                .wait()
                .expect("append");
        }
        read_all(c)
            .iter()
            .for_each(|r| c.ack(r.receipt()).expect("ack"));
        std::thread::sleep(Duration::from_millis(300));
    };
    // Kept for an hour: nothing acknowledged is deleted yet.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 1 << 10;
    cfg.retain_acked_for = Duration::from_secs(3600);
    cfg.retain_acked_bytes = u64::MAX;
    let spool = Spool::open(cfg).expect("open");
    let mut c = spool.consumer("a", Start::Earliest).expect("consumer");
    fill(&spool, &mut c);
    let kept = spool.stats();
    assert!(kept.segments >= 8, "{kept:?}");
    // Kept up to 2 KiB: the oldest go until the acknowledged rest fits.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 1 << 10;
    cfg.retain_acked_for = Duration::from_secs(3600);
    cfg.retain_acked_bytes = 2 << 10;
    let spool = Spool::open(cfg).expect("open");
    let mut c = spool.consumer("a", Start::Earliest).expect("consumer");
    fill(&spool, &mut c);
    let trimmed = spool.stats();
    assert!(trimmed.segments < kept.segments, "{trimmed:?}");
    assert!(
        trimmed.bytes <= (2 << 10) + (2 << 10),
        "closed acked segments within the limit, plus the active one: {trimmed:?}"
    );
}

#[test]
fn dead_letters_keep_their_reason_survive_restarts_and_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    spool.append(payloads("ev", 3)).wait().expect("append");
    let got = read_all(&mut c);
    let info = DeadLetterInfo {
        reason: "vendor_rejected".into(),
        status: Some(400),
        body: r#"{"error":"missing visitorId"}"#.into(),
        attempts: 1,
    };
    c.dead_letter(&got[1], info.clone()).expect("dead-letter");
    c.dead_letter(
        &got[2],
        DeadLetterInfo {
            reason: "max_attempts".into(),
            status: Some(503),
            body: String::new(),
            attempts: 5,
        },
    )
    .expect("dead-letter");
    c.ack(got[0].receipt()).expect("ack");
    assert_eq!(c.committed(), 3, "dead-lettered records count as handled");
    drop(c);
    spool.close();

    let spool = Spool::open(config(dir.path())).expect("reopen");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    assert!(read_all(&mut c).is_empty());
    let dead = c.dead_letters().page(None, 100).expect("page").letters;
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].id, 2);
    assert_eq!(dead[0].payload, b"ev-1");
    assert_eq!(dead[0].info, info);
    assert!(dead[0].at_ms > 0);

    assert_eq!(c.replay(Some(&[2])).expect("replay"), 1);
    assert_eq!(c.dead_letters().stats().letters, 1);
    let again = read_all(&mut c);
    assert_eq!(texts(&again), ["ev-1"]);
    assert!(again[0].replayed);
    c.ack(again[0].receipt()).expect("ack");
    assert_eq!(c.purge(None).expect("purge"), 1);
    assert!(c.dead_letters().stats().letters == 0);
    drop(c);
    spool.close();

    let spool = Spool::open(config(dir.path())).expect("reopen");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    assert!(
        read_all(&mut c).is_empty(),
        "a delivered replay does not come back"
    );
    assert!(c.dead_letters().stats().letters == 0, "a purge is for good");
}

#[test]
fn a_replay_interrupted_by_a_restart_is_delivered_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let mut c = spool.consumer("p", Start::Earliest).expect("consumer");
    spool.append(payloads("q", 1)).wait().expect("append");
    let got = read_all(&mut c);
    c.dead_letter(&got[0], DeadLetterInfo::default())
        .expect("dead-letter");
    c.replay(None).expect("replay");
    assert_eq!(read_all(&mut c).len(), 1);
    // Not acknowledged before the restart.
    drop(c);
    spool.close();
    let spool = Spool::open(config(dir.path())).expect("reopen");
    let mut c = spool.consumer("p", Start::Earliest).expect("consumer");
    let again = read_all(&mut c);
    assert_eq!(texts(&again), ["q-0"]);
    assert!(again[0].replayed);
}

#[test]
fn appends_resolve_as_futures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Arc::new(Spool::open(config(dir.path())).expect("open"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut c = spool.consumer("async", Start::Earliest).expect("consumer");
        let range = spool.append(payloads("f", 2)).await.expect("append");
        assert_eq!(range, 1..3);
        tokio::time::timeout(Duration::from_secs(5), c.readable())
            .await
            .expect("readable");
        assert_eq!(c.read(10).expect("read").len(), 2);
        let waiting = tokio::time::timeout(Duration::from_millis(100), c.readable()).await;
        assert!(waiting.is_err(), "nothing more to read");
    });
}

#[test]
fn oversized_records_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let e = spool
        .append(vec![vec![0u8; signal_spool::MAX_RECORD + 1]])
        .wait()
        .expect_err("too big");
    assert!(
        !e.is_full() && e.to_string().contains("over the limit"),
        "{e}"
    );
}

fn newest_segment(dir: &Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

// === a model of the spool, driven by random operations ===

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Read(usize),
    Ack(usize),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..5).prop_map(Op::Append),
        3 => (1usize..8).prop_map(Op::Read),
        3 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_spool_behaves_like_its_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = config(dir.path());
        cfg.fsync = false;
        cfg.segment_bytes = 300;
        let mut spool = Spool::open(cfg.clone()).expect("open");
        let mut c = spool.consumer("m", Start::Earliest).expect("consumer");
        // The model: every record by seq; acknowledged seqs; the next seq this handle reads.
        let mut log: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut acked = std::collections::BTreeSet::new();
        let mut next = 1u64;
        let mut in_flight: Vec<Record> = Vec::new();
        let mut counter = 0;
        for op in ops {
            match op {
                Op::Append(n) => {
                    let recs: Vec<Vec<u8>> = (0..n).map(|_| { counter += 1; format!("p{counter}").into_bytes() }).collect();
                    let range = spool.append(recs.clone()).wait().expect("append");
                    for (seq, p) in range.zip(recs) {
                        log.insert(seq, p);
                    }
                }
                Op::Read(max) => {
                    let got = c.read(max).expect("read");
                    let expected: Vec<(u64, Vec<u8>)> = log.range(next..).take(max).map(|(s, p)| (*s, p.clone())).collect();
                    let actual: Vec<(u64, Vec<u8>)> = got.iter().map(|r| (r.seq, r.payload.clone())).collect();
                    prop_assert_eq!(&actual, &expected);
                    if let Some(last) = got.last() {
                        next = last.seq + 1;
                    }
                    in_flight.extend(got);
                }
                Op::Ack(i) => {
                    if !in_flight.is_empty() {
                        let r = in_flight.remove(i % in_flight.len());
                        c.ack(r.receipt()).expect("ack");
                        acked.insert(r.seq);
                    }
                }
                Op::Restart => {
                    drop(c);
                    spool.close();
                    spool = Spool::open(cfg.clone()).expect("reopen");
                    c = spool.consumer("m", Start::Earliest).expect("consumer");
                    let mut committed = 0;
                    while acked.contains(&(committed + 1)) {
                        committed += 1;
                    }
                    prop_assert_eq!(c.committed(), committed);
                    next = committed + 1;
                    acked.retain(|&s| s <= committed);
                    in_flight.clear();
                }
            }
        }
    }
}

#[test]
fn close_stops_the_writer_even_while_other_handles_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let other = spool.clone();
    other.append(payloads("x", 1)).wait().expect("append");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        spool.close();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("close returns although another handle is alive");
    let e = other
        .append(payloads("late", 1))
        .wait()
        .expect_err("closed");
    assert!(e.is_closed(), "{e}");
}
