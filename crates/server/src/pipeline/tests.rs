//! The outcome task against a real spool whose dead-letter writes a test makes fail or hang:
//! a record given up on is acknowledged only once its dead letter is written, a failed write is
//! tried again, and a slow one holds up no other acknowledgement.

use super::dead_letter::{Backoff, DeadLetterStore};
use super::outcomes::Outcomes;
use super::{Flight, Reading};
use crate::live::{Live, Meta, Stats};
use signal_forward::{Outcome, OutcomeKind};
use signal_spool::{DeadLetterInfo, DeadLetters, Spool, SpoolConfig, Start};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The consumer's real dead letters, with writes that fail (as on a full disk) or hang (as on a
/// stalled one) while a test says so.
struct FaultyDead {
    real: Arc<DeadLetters>,
    failing: AtomicBool,
    attempts: AtomicU64,
    finish_attempts: AtomicU64,
    hang: Mutex<bool>,
    released: Condvar,
}

impl FaultyDead {
    fn new(real: Arc<DeadLetters>) -> Arc<Self> {
        Arc::new(Self {
            real,
            failing: AtomicBool::new(false),
            attempts: AtomicU64::new(0),
            finish_attempts: AtomicU64::new(0),
            hang: Mutex::new(false),
            released: Condvar::new(),
        })
    }

    fn set_hang(&self, on: bool) {
        *self.hang.lock().unwrap() = on;
        self.released.notify_all();
    }

    /// Hangs while told to, then fails while told to (`ENOSPC`: what a full disk answers).
    fn fault(&self) -> std::io::Result<()> {
        {
            // Held until released (or a backstop of 30 s, so a failing test still ends).
            let hang = self.hang.lock().unwrap();
            let _unused = self
                .released
                .wait_timeout_while(hang, Duration::from_secs(30), |h| *h)
                .unwrap();
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        Ok(())
    }
}

impl DeadLetterStore for FaultyDead {
    fn add(&self, id: u64, payload: &[u8], info: DeadLetterInfo) -> std::io::Result<()> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.fault()?;
        self.real
            .add(id, payload, info)
            .map_err(std::io::Error::other)
    }

    fn finish_replay(&self, id: u64) -> std::io::Result<()> {
        self.finish_attempts.fetch_add(1, Ordering::SeqCst);
        self.fault()?;
        self.real.finish_replay(id)
    }
}

/// Releases a hanging store when a test ends, passed or failed, so nothing stays blocked.
struct Release(Arc<FaultyDead>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.set_hang(false);
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    spool: Spool,
    reading: Arc<Mutex<Reading>>,
    dead: Arc<DeadLetters>,
    store: Arc<FaultyDead>,
    stats: Arc<Stats>,
    tx: mpsc::UnboundedSender<Outcome>,
    outcomes: Outcomes,
}

/// A spool holding `n` events (sequence numbers 1..=n), all read and in delivery.
fn rig(n: usize) -> Rig {
    rig_with_replays(n, &[])
}

/// `rig(n)`, the events `replayed` dead-lettered earlier and now in delivery as replays.
fn rig_with_replays(n: usize, replayed: &[u64]) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(SpoolConfig::new(dir.path().join("spool"))).unwrap();
    let records = (0..n)
        .map(|i| {
            format!(r#"{{"receivedAt":0,"context":{{}},"batch":[{{"type":"track","event":"E{i}","userId":"u"}}]}}"#)
                .into_bytes()
        })
        .collect();
    // The append's wait blocks: not on a runtime's thread.
    let append = spool.append(records);
    std::thread::scope(|s| s.spawn(|| append.wait().unwrap()).join().unwrap());
    let mut consumer = spool.consumer("pendo", Start::Earliest).unwrap();
    let mut read = consumer.read(n).unwrap();
    assert_eq!(read.len(), n);
    let dead = consumer.dead_letters();
    if !replayed.is_empty() {
        for r in read.iter().filter(|r| replayed.contains(&r.seq)) {
            consumer.dead_letter(r, DeadLetterInfo::default()).unwrap();
        }
        assert_eq!(dead.replay(Some(replayed)).unwrap(), replayed.len());
        read.retain(|r| !replayed.contains(&r.seq));
        let again = consumer.read(n).unwrap();
        assert!(again.iter().all(|r| r.replayed), "replays come first");
        read.extend(again);
    }
    let mut reading = Reading::new(super::source::Source::Local(consumer));
    for r in read {
        let meta = Arc::new(Meta {
            kind: signal_core::EventType::Track,
            warnings: Vec::new(),
            input: bytes::Bytes::from(r.payload.clone()),
        });
        let flight = Flight {
            receipt: r.receipt(),
            meta,
            replayed: r.replayed,
            bytes: r.payload.len(),
            items: 1,
            dead: None,
        };
        reading.hold(r.seq, flight);
    }
    let reading = Arc::new(Mutex::new(reading));
    let store = FaultyDead::new(dead.clone());
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::unbounded_channel();
    let outcomes = Outcomes::spawn(
        rx,
        reading.clone(),
        Arc::new(Live::new(10)),
        stats.clone(),
        store.clone(),
        Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(20),
        },
    );
    Rig {
        _dir: dir,
        spool,
        reading,
        dead,
        store,
        stats,
        tx,
        outcomes,
    }
}

fn outcome(id: u64, kind: OutcomeKind) -> Outcome {
    Outcome {
        integration_id: "pendo".into(),
        id,
        kind,
        reason: (kind == OutcomeKind::DeadLettered).then(|| "vendor_rejected".to_owned()),
        attempt: 1,
        latency: None,
        request: None,
        response: None,
        diagnosis: None,
        warnings: Vec::new(),
    }
}

/// Waits until `f` holds; panics naming `what` after 10 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Rig {
    /// The consumer's committed position, if the delivery lock is free now.
    fn committed(&self) -> Option<u64> {
        self.reading.try_lock().ok().map(|r| r.consumer.committed())
    }

    /// Whether `seq` is still in delivery, if the delivery lock is free now.
    fn in_flight(&self, seq: u64) -> Option<bool> {
        self.reading
            .try_lock()
            .ok()
            .map(|r| r.inflight.contains_key(&seq))
    }

    fn dead_ids(&self) -> Vec<u64> {
        let page = self.dead.page(None, 100).unwrap();
        page.letters.iter().map(|l| l.id).collect()
    }

    async fn finish(self) {
        drop(self.tx);
        self.outcomes.finish().await;
        drop(self.reading);
        let spool = self.spool;
        tokio::task::spawn_blocking(move || spool.close())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_that_cannot_be_written_stays_in_flight_and_is_written_once_the_disk_recovers()
 {
    let rig = rig(2);
    rig.store.failing.store(true, Ordering::SeqCst);
    rig.tx.send(outcome(1, OutcomeKind::DeadLettered)).unwrap();
    rig.tx.send(outcome(2, OutcomeKind::Delivered)).unwrap();

    // The disk refuses the dead letter: the record is neither lost nor acknowledged.
    eventually("the record after it acknowledged", || {
        rig.in_flight(2) == Some(false)
    })
    .await;
    eventually("a second try at the dead letter", || {
        rig.store.attempts.load(Ordering::SeqCst) >= 2
    })
    .await;
    // (The dead-letter task takes the delivery lock for a moment at each try: these read it
    // when it is free, which a try may not leave it at once.)
    eventually("still in flight while unwritten", || {
        rig.in_flight(1) == Some(true)
    })
    .await;
    eventually("nothing acknowledged past it", || {
        rig.committed() == Some(0)
    })
    .await;
    assert!(rig.dead_ids().is_empty());
    let (waiting, failures) = rig.stats.dead_letter_writes();
    assert_eq!(waiting, 1, "one dead letter waits to be written");
    assert!(failures >= 1, "the failed writes are counted");

    // Room again: the dead letter is written and the record acknowledged, without a restart.
    rig.store.failing.store(false, Ordering::SeqCst);
    eventually("the consumer past both records", || {
        rig.committed() == Some(2)
    })
    .await;
    assert_eq!(rig.dead_ids(), [1], "listed as a dead letter");
    assert_eq!(rig.in_flight(1), Some(false));
    assert_eq!(rig.stats.dead_letter_writes().0, 0, "none waits any more");
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_while_a_dead_letter_cannot_be_written_ends_and_leaves_its_record_for_the_next_start()
 {
    let rig = rig(2);
    rig.store.failing.store(true, Ordering::SeqCst);
    rig.tx.send(outcome(1, OutcomeKind::DeadLettered)).unwrap();
    rig.tx.send(outcome(2, OutcomeKind::Delivered)).unwrap();
    eventually("the dead letter's write refused", || {
        rig.store.attempts.load(Ordering::SeqCst) >= 1
    })
    .await;
    let Rig {
        _dir,
        spool,
        reading,
        dead,
        tx,
        outcomes,
        ..
    } = rig;
    drop(tx);
    tokio::time::timeout(Duration::from_secs(10), outcomes.finish())
        .await
        .expect("the stop ends though the disk still refuses the dead letter");
    assert!(dead.page(None, 10).unwrap().letters.is_empty());
    drop(reading);
    // The next start reads the record given up on again: it was never acknowledged.
    let again = tokio::task::spawn_blocking(move || {
        let mut consumer = spool.consumer("pendo", Start::Earliest).unwrap();
        let seqs: Vec<u64> = consumer.read(10).unwrap().iter().map(|r| r.seq).collect();
        drop(consumer);
        spool.close();
        seqs
    })
    .await
    .unwrap();
    assert_eq!(
        again,
        [1, 2],
        "record 1 unacknowledged, so read again from there"
    );
}

/// With the store's writes hanging: record 1's outcome `first`, waited for until `started`
/// (the count of the write it sets off) is under way; then record 2 delivered, and waited for
/// until it is acknowledged while that write still hangs (delivery's lock is free).
async fn the_next_is_acknowledged_while_a_write_hangs(
    rig: &Rig,
    first: OutcomeKind,
    started: &AtomicU64,
) {
    rig.store.set_hang(true);
    rig.tx.send(outcome(1, first)).unwrap();
    eventually("the write under way", || {
        started.load(Ordering::SeqCst) >= 1
    })
    .await;
    rig.tx.send(outcome(2, OutcomeKind::Delivered)).unwrap();
    eventually("the delivered record acknowledged during the write", || {
        rig.in_flight(2) == Some(false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_write_that_hangs_holds_up_no_other_acknowledgement() {
    let rig = rig(2);
    let _release = Release(rig.store.clone());
    the_next_is_acknowledged_while_a_write_hangs(
        &rig,
        OutcomeKind::DeadLettered,
        &rig.store.attempts,
    )
    .await;
    assert_eq!(rig.in_flight(1), Some(true), "in flight until written");
    assert_eq!(rig.committed(), Some(0));

    rig.store.set_hang(false);
    eventually("the consumer past both records", || {
        rig.committed() == Some(2)
    })
    .await;
    assert_eq!(rig.dead_ids(), [1]);
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_delivered_is_finished_outside_the_lock_and_a_slow_finish_holds_up_nothing() {
    let rig = rig_with_replays(2, &[1]);
    assert_eq!(rig.dead.stats().replaying, 1);
    let _release = Release(rig.store.clone());
    the_next_is_acknowledged_while_a_write_hangs(
        &rig,
        OutcomeKind::Delivered,
        &rig.store.finish_attempts,
    )
    .await;
    rig.store.set_hang(false);
    eventually("the replay finished", || rig.dead.stats().replaying == 0).await;
    eventually("the consumer past both records", || {
        rig.committed() == Some(2)
    })
    .await;
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_given_up_on_again_is_a_dead_letter_again_and_its_replay_finished() {
    let rig = rig_with_replays(1, &[1]);
    rig.tx.send(outcome(1, OutcomeKind::DeadLettered)).unwrap();
    eventually("the replay finished", || rig.dead.stats().replaying == 0).await;
    // The replay's end is written first; the record leaves the in-flight set just after.
    eventually("the record acknowledged", || {
        rig.in_flight(1) == Some(false)
    })
    .await;
    assert_eq!(rig.dead_ids(), [1], "listed again");
    assert_eq!(rig.store.finish_attempts.load(Ordering::SeqCst), 1);
    rig.finish().await;
}

/// Marks `seq` as an event that made `items` requests.
fn with_items(rig: &Rig, seq: u64, items: u32) {
    if let Some(f) = rig.reading.lock().unwrap().inflight.get_mut(&seq) {
        f.items = items;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_made_two_requests_is_acknowledged_only_when_both_are_delivered() {
    let rig = rig(2);
    with_items(&rig, 1, 2);
    rig.tx.send(outcome(1, OutcomeKind::Delivered)).unwrap();
    rig.tx.send(outcome(2, OutcomeKind::Delivered)).unwrap();
    eventually("the one-item record acknowledged", || {
        rig.in_flight(2) == Some(false)
    })
    .await;
    assert_eq!(
        rig.in_flight(1),
        Some(true),
        "its second request is still out"
    );
    assert_eq!(rig.committed(), Some(0), "nothing acknowledged past it");
    rig.tx.send(outcome(1, OutcomeKind::Delivered)).unwrap();
    eventually("both records acknowledged", || rig.committed() == Some(2)).await;
    assert!(rig.dead_ids().is_empty());
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_with_one_request_dead_lettered_and_one_delivered_is_kept_as_a_dead_letter() {
    let rig = rig(1);
    with_items(&rig, 1, 2);
    rig.tx.send(outcome(1, OutcomeKind::DeadLettered)).unwrap();
    rig.tx.send(outcome(1, OutcomeKind::Delivered)).unwrap();
    eventually("the record finished", || rig.committed() == Some(1)).await;
    assert_eq!(
        rig.dead_ids(),
        [1],
        "kept whole, with the dead item's answer"
    );
    let page = rig.dead.page(None, 10).unwrap();
    assert_eq!(page.letters[0].info.reason, "vendor_rejected");
    rig.finish().await;
}
