//! Dead letters from the outside: read a page at a time from disk while delivery goes on, kept
//! across restarts, capped by dropping the oldest, compacted, replayed and purged.

mod support;

use signal_spool::{Consumer, DeadLetterInfo, Record, Spool, SpoolConfig, Start};
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use support::reading::read_all;

/// How long a step that must not be blocked may take before the test calls it blocked. Far
/// above what the step needs; only a step that waits on a held lock reaches it.
const BLOCKED: Duration = Duration::from_secs(30);

fn config(dir: &Path) -> SpoolConfig {
    let mut c = SpoolConfig::new(dir);
    c.fsync = false;
    c
}

fn info(reason: &str) -> DeadLetterInfo {
    DeadLetterInfo {
        reason: reason.into(),
        status: Some(400),
        body: format!("{{\"error\":\"{reason}\"}}"),
        attempts: 2,
    }
}

fn event(seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("event-{seq}-").into_bytes();
    p.resize(size, b'.');
    p
}

/// Dead-letters records `seqs` (never read from the log: the store does not care).
fn dead_letter(c: &Consumer, seqs: impl IntoIterator<Item = u64>, size: usize) {
    for seq in seqs {
        let record = Record {
            seq,
            payload: event(seq, size),
            replayed: false,
        };
        c.dead_letter(&record, info(&format!("r{seq}")))
            .expect("dead-letter");
    }
}

fn ids(c: &Consumer) -> Vec<u64> {
    c.dead_letters()
        .page(None, 1000)
        .expect("page")
        .letters
        .iter()
        .map(|d| d.id)
        .collect()
}

#[test]
fn a_page_being_read_does_not_hold_up_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    spool
        .append((0..3).map(|n| event(n, 600 << 10)).collect())
        .wait()
        .expect("append");
    let first = read_all(&mut c);
    for r in &first {
        c.dead_letter(r, info("vendor_rejected"))
            .expect("dead-letter");
    }
    let store = c.dead_letters();

    // The management API has read one letter of a page and is still sending it.
    let mut page = store.page_reader(None, 2);
    let one = page.next().expect("a letter").expect("read");
    assert_eq!((one.id, one.payload.len()), (1, 600 << 10));
    assert_eq!(page.next_cursor(), Some(2));

    // Meanwhile delivery reads, acknowledges, dead-letters and replays.
    spool
        .append((0..100).map(|n| event(n, 100)).collect())
        .wait()
        .expect("append");
    let (done, finished) = mpsc::channel();
    let delivery = std::thread::spawn(move || {
        let got = read_all(&mut c);
        for r in &got[1..] {
            c.ack(r.receipt()).expect("ack");
        }
        c.dead_letter(&got[0], info("vendor_rejected"))
            .expect("dead-letter");
        c.replay(Some(&[3])).expect("replay");
        let replayed = read_all(&mut c);
        c.ack(replayed[0].receipt()).expect("ack replay");
        let _ = done.send((got.len(), replayed.len(), c.committed()));
        c
    });
    let (read, replayed, committed) = finished
        .recv_timeout(BLOCKED)
        .expect("delivery went on while a page was being read");
    assert_eq!((read, replayed, committed), (100, 1, 103));
    let c = delivery.join().expect("delivery thread");

    // Purged meanwhile (and compacted away): the page being read still reads its letters whole.
    assert_eq!(c.purge(None).expect("purge"), 3);
    let log = dir.path().join("dead").join("pendo").join("dead.log");
    assert_eq!(fs::metadata(log).expect("dead.log").len(), 0, "compacted");
    let two = page.next().expect("a second letter").expect("read");
    assert_eq!(two.id, 2);
    assert_eq!(two.payload, event(1, 600 << 10));
    assert!(page.next().is_none());
}

#[test]
fn pages_come_from_disk_in_order_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    dead_letter(&c, [5, 1, 3, 2, 4], 1000);
    drop(c);
    spool.close();

    let spool = Spool::open(config(dir.path())).expect("reopen");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let store = c.dead_letters();
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = store.page(after, 2).expect("page");
        assert!(page.letters.len() <= 2);
        for d in &page.letters {
            assert_eq!(d.payload, event(d.id, 1000));
            assert_eq!(d.info, info(&format!("r{}", d.id)));
            assert!(d.at_ms > 0);
            seen.push(d.id);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    let stats = store.stats();
    assert_eq!(stats.letters, 5);
    assert!(stats.bytes > 5 * 1000, "{stats:?}");
    assert!(
        stats.index_bytes < 5 * 1000,
        "the index holds no events: {stats:?}"
    );
}

#[test]
fn past_the_cap_the_oldest_dead_letters_are_dropped_and_delivery_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    // Room for three letters of 3,000 bytes (each about 3,100 on disk), not four.
    cfg.dead_letter_max_bytes = 10_000;
    let spool = Spool::open(cfg.clone()).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    spool
        .append((1..=6).map(|n| event(n, 3000)).collect())
        .wait()
        .expect("append");
    let got = read_all(&mut c);
    for r in &got[..5] {
        c.dead_letter(r, info("max_attempts")).expect("dead-letter");
    }
    assert_eq!(ids(&c), [3, 4, 5], "the oldest two are dropped");
    let stats = c.dead_letters().stats();
    assert_eq!(stats.dropped, 2);
    assert!(stats.bytes <= 10_000, "{stats:?}");

    // One larger than the whole cap is dropped itself; the others stay.
    let huge = Record {
        payload: vec![b'h'; 20_000],
        ..got[5].clone()
    };
    c.dead_letter(&huge, info("max_attempts"))
        .expect("dead-letter");
    assert_eq!(ids(&c), [3, 4, 5]);
    assert_eq!(c.dead_letters().stats().dropped, 3);
    assert_eq!(c.committed(), 6, "every record given up on is acknowledged");
    drop(c);
    spool.close();

    let spool = Spool::open(cfg).expect("reopen");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    assert_eq!(ids(&c), [3, 4, 5], "the drops are on disk");
}

#[test]
fn the_files_stay_bounded_as_letters_come_and_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.dead_letter_max_bytes = 2 << 20;
    let spool = Spool::open(cfg).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    // 10 MiB of dead letters through a 2 MiB cap.
    dead_letter(&c, 1..=100, 100 << 10);
    let files = |name: &str| {
        fs::metadata(dir.path().join("dead").join("pendo").join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let on_disk = files("dead.log");
    assert!(
        on_disk <= 2 * (2 << 20) + (1 << 20),
        "{on_disk} bytes of dead.log for a cap of 2 MiB"
    );
    assert_eq!(c.dead_letters().stats().file_bytes, on_disk);
    let kept = ids(&c);
    assert_eq!(kept, (81..=100).collect::<Vec<_>>(), "the newest that fit");
    assert_eq!(c.purge(None).expect("purge"), 20);
    assert_eq!(files("dead.log"), 0, "purged letters are compacted away");
}

#[test]
fn a_compaction_under_way_keeps_what_changes_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let pendo = dir.path().join("dead").join("pendo");
    dead_letter(&c, 1..=40, 200 << 10);
    let full = fs::metadata(pendo.join("dead.log"))
        .expect("dead.log")
        .len();
    // Most removed: a compaction starts, and copies a first step of the 3 MiB left.
    let purged: Vec<u64> = (1..=25).collect();
    assert_eq!(c.purge(Some(&purged)).expect("purge"), 25);
    assert!(pendo.join("dead.tmp").exists(), "a compaction under way");
    // Changes meanwhile: a letter removed, new ones, an id back.
    assert_eq!(c.purge(Some(&[30])).expect("purge"), 1);
    assert!(pendo.join("dead.tmp").exists(), "still under way");
    dead_letter(&c, [41, 21, 42], 200 << 10);
    assert!(
        !pendo.join("dead.tmp").exists(),
        "the compaction has caught up"
    );
    let want: Vec<u64> = (21..=42)
        .filter(|&id| id == 21 || (id > 25 && id != 30))
        .collect();
    let check = |c: &Consumer| {
        let letters = c.dead_letters().page(None, 100).expect("page").letters;
        assert_eq!(letters.iter().map(|d| d.id).collect::<Vec<_>>(), want);
        for d in &letters {
            assert_eq!(d.payload, event(d.id, 200 << 10));
        }
    };
    check(&c);
    let compacted = fs::metadata(pendo.join("dead.log"))
        .expect("dead.log")
        .len();
    assert!(compacted < full / 2, "{compacted} bytes left of {full}");
    drop(c);
    spool.close();
    let spool = Spool::open(config(dir.path())).expect("reopen");
    check(&spool.consumer("pendo", Start::Earliest).expect("consumer"));
}

#[test]
fn replay_and_purge_by_id_and_all_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    // 6 MiB: a replay of all moves them in more than one chunk.
    dead_letter(&c, 1..=10, 600 << 10);
    assert_eq!(c.purge(Some(&[2, 99])).expect("purge one"), 1);
    assert_eq!(c.replay(Some(&[1])).expect("replay one"), 1);
    let one = read_all(&mut c);
    assert_eq!(one.len(), 1);
    assert!(one[0].replayed);
    assert_eq!(one[0].payload, event(1, 600 << 10));
    c.ack(one[0].receipt()).expect("ack");

    assert_eq!(c.replay(None).expect("replay all"), 8);
    assert_eq!(c.dead_letters().stats().letters, 0);
    assert_eq!(c.dead_letters().stats().replaying, 8);
    let all = read_all(&mut c);
    let got: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(got, [3, 4, 5, 6, 7, 8, 9, 10]);
    for r in &all {
        assert_eq!(r.payload, event(r.seq, 600 << 10));
    }
    // Delivered but two, which are still replayed after a restart.
    for r in &all[2..] {
        c.ack(r.receipt()).expect("ack");
    }
    drop(c);
    spool.close();
    let spool = Spool::open(config(dir.path())).expect("reopen");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let again: Vec<u64> = read_all(&mut c).iter().map(|r| r.seq).collect();
    assert_eq!(again, [3, 4]);
    assert!(ids(&c).is_empty());
}

#[test]
fn a_torn_last_operation_is_cut_and_later_letters_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(config(dir.path())).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    dead_letter(&c, [1, 2], 500);
    drop(c);
    spool.close();
    let log = dir.path().join("dead").join("pendo").join("dead.log");
    let mut bytes = fs::read(&log).expect("read");
    let whole = bytes.len();
    bytes.extend_from_slice(&[0xff; 30]);
    fs::write(&log, &bytes).expect("tear");

    let spool = Spool::open(config(dir.path())).expect("reopen");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    assert_eq!(fs::metadata(&log).expect("meta").len() as usize, whole);
    dead_letter(&c, [3], 500);
    drop(c);
    spool.close();
    let spool = Spool::open(config(dir.path())).expect("reopen");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    assert_eq!(ids(&c), [1, 2, 3]);
}

#[derive(Debug, Clone)]
enum Op {
    Add(u64, usize),
    Purge(u64),
    PurgeAll,
    Replay(u64),
    Reopen,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        8 => (1u64..24, 1usize..(300 << 10)).prop_map(|(id, size)| Op::Add(id, size)),
        4 => (1u64..24).prop_map(Op::Purge),
        1 => Just(Op::PurgeAll),
        2 => (1u64..24).prop_map(Op::Replay),
        1 => Just(Op::Reopen),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Letters come and go through compactions (each started and advanced by the changes that
    /// follow) and restarts: every page reads back exactly what a map of them holds.
    #[test]
    fn every_page_reads_back_what_was_kept(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(config(dir.path())).expect("open");
        let mut c = spool.consumer("p", Start::Earliest).expect("consumer");
        let mut model: std::collections::BTreeMap<u64, usize> = Default::default();
        for op in ops {
            match op {
                Op::Add(id, size) => {
                    dead_letter(&c, [id], size);
                    model.insert(id, size);
                }
                Op::Purge(id) => {
                    let n = c.purge(Some(&[id])).expect("purge");
                    proptest::prop_assert_eq!(n, usize::from(model.remove(&id).is_some()));
                }
                Op::PurgeAll => {
                    proptest::prop_assert_eq!(c.purge(None).expect("purge"), model.len());
                    model.clear();
                }
                Op::Replay(id) => {
                    let n = c.replay(Some(&[id])).expect("replay");
                    let size = model.remove(&id);
                    proptest::prop_assert_eq!(n, usize::from(size.is_some()));
                    let back = read_all(&mut c);
                    proptest::prop_assert_eq!(back.len(), n);
                    for r in back {
                        proptest::prop_assert_eq!(Some(r.payload.len()), size);
                        proptest::prop_assert_eq!(&r.payload, &event(id, r.payload.len()));
                        c.ack(r.receipt()).expect("ack");
                    }
                }
                Op::Reopen => {
                    drop(c);
                    spool.close();
                    spool = Spool::open(config(dir.path())).expect("reopen");
                    c = spool.consumer("p", Start::Earliest).expect("consumer");
                }
            }
            let letters = c.dead_letters().page(None, 1000).expect("page").letters;
            let got: Vec<(u64, usize)> = letters.iter().map(|d| (d.id, d.payload.len())).collect();
            let want: Vec<(u64, usize)> = model.iter().map(|(&id, &size)| (id, size)).collect();
            proptest::prop_assert_eq!(got, want);
            for d in &letters {
                proptest::prop_assert_eq!(&d.payload, &event(d.id, d.payload.len()));
            }
        }
    }
}
