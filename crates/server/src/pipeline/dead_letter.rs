//! Dead-lettering (and the ends of replays), off the async workers and outside delivery's lock.
//!
//! The outcome task hands each record the delivery engine gave up on to the dead-letter task
//! and leaves it in flight; and each replayed dead letter delivered, whose replay's end is a
//! synced write too. The dead-letter task does these writes (a few at a time, in order) on
//! tokio's blocking pool, holding no lock delivery needs while a file is written and synced;
//! only a letter written is acknowledged, under the lock for as long as the (in-memory)
//! acknowledgement takes.
//!
//! A write that fails (a full or failing disk) leaves its record in flight and unacknowledged,
//! and is tried again after a backoff ([`Backoff`]: 100 ms, doubling up to 10 s), each failure
//! logged and counted ([`Stats::dead_letter_write_failed`]). A brief fault delays dead letters; it
//! never stops the consumer's committed position (and with it the freeing of segments) until a
//! restart. Meanwhile the records waiting count against delivery's bound of events in flight,
//! so a long fault stops reading, not memory. On stop, letters not yet written stay
//! unacknowledged in the spool and are read again at the next start (at least once); a
//! replay's end not written leaves the replay to be delivered again after it.
//!
//! Where letters go is a [`DeadLetterStore`]: the consumer's `signal_spool::DeadLetters` in
//! production; tests bring one whose writes fail or hang on purpose.

use super::Reading;
use crate::live::Stats;
use crate::sync::lock;
use bytes::Bytes;
use signal_spool::{DeadLetterInfo, DeadLetters};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Keeps a record given up on as a dead letter.
pub(crate) trait DeadLetterStore: Send + Sync + 'static {
    /// Writes (and syncs) the dead letter `id` with `payload` and `info`; blocking file I/O.
    ///
    /// # Errors
    ///
    /// The dead letter cannot be written (a full or failing disk); the spool's error is carried
    /// inside the `io::Error`.
    fn add(&self, id: u64, payload: &[u8], info: DeadLetterInfo) -> io::Result<()>;

    /// Finishes the replay of dead letter `id` (delivered, or dead-lettered again); blocking
    /// file I/O.
    ///
    /// # Errors
    ///
    /// The change cannot be written; the replay stays, delivered again after a restart.
    fn finish_replay(&self, id: u64) -> io::Result<()>;
}

impl DeadLetterStore for DeadLetters {
    fn add(&self, id: u64, payload: &[u8], info: DeadLetterInfo) -> io::Result<()> {
        DeadLetters::add(self, id, payload, info).map_err(io::Error::other)
    }

    fn finish_replay(&self, id: u64) -> io::Result<()> {
        self.replay_done(id).map_err(io::Error::other)
    }
}

/// A record to keep as a dead letter: its sequence number, its bytes (shared with its live
/// events, not copied), why it was given up on, and whether it was a replay (whose end is then
/// written too).
pub(super) struct Letter {
    pub(super) seq: u64,
    pub(super) payload: Bytes,
    pub(super) info: DeadLetterInfo,
    pub(super) replayed: bool,
}

/// A synced write the outcome task hands on.
pub(super) enum Work {
    /// Keep this record as a dead letter, then acknowledge it.
    DeadLetter(Letter),
    /// This replayed dead letter was delivered (and has left delivery): finish its replay.
    FinishReplay(u64),
}

impl Work {
    /// Does it, blocking.
    fn run(&self, store: &dyn DeadLetterStore) -> io::Result<()> {
        match self {
            Work::DeadLetter(l) => {
                store.add(l.seq, &l.payload, l.info.clone())?;
                if l.replayed {
                    store.finish_replay(l.seq)?;
                }
                Ok(())
            }
            Work::FinishReplay(seq) => store.finish_replay(*seq),
        }
    }
}

/// How long to wait before trying a failed dead-letter write again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    /// After the first failure.
    pub(super) first: Duration,
    /// The longest wait, however many failures.
    pub(super) max: Duration,
}

impl Backoff {
    /// 100 ms, doubling up to 10 s: a freed disk is used again within seconds, a dead one is
    /// tried (and logged) a few times a minute.
    pub(super) const DEFAULT: Backoff = Backoff {
        first: Duration::from_millis(100),
        max: Duration::from_secs(10),
    };

    /// The wait after `failures` failures in a row (from 1).
    fn after(self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

/// Writes done per trip to the blocking pool, at most.
const BATCH: usize = 64;

/// Does `work` in order until one fails; gives it back with how much was done and the error
/// that stopped the rest. Runs on the blocking pool.
fn write(store: &dyn DeadLetterStore, work: Vec<Work>) -> (Vec<Work>, usize, Option<io::Error>) {
    for (i, w) in work.iter().enumerate() {
        if let Err(e) = w.run(store) {
            return (work, i, Some(e));
        }
    }
    let n = work.len();
    (work, n, None)
}

/// Acknowledges the records of letters written; they leave delivery. A replay's receipt needs
/// no more: its end was written with the letter.
fn acknowledge(reading: &Mutex<Reading>, stats: &Stats, done: &[Work]) {
    let mut r = lock(reading);
    let mut written = 0;
    for w in done {
        let Work::DeadLetter(l) = w else { continue };
        written += 1;
        if let Some(f) = r.release(l.seq)
            && !f.replayed
            && let Err(e) = r.consumer.ack(f.receipt)
        {
            tracing::error!(seq = l.seq, error = %e, "cannot acknowledge a dead-lettered record; it is read again at the next start");
        }
    }
    drop(r);
    stats.dead_letters_written(written);
}

/// The dead-letter task: writes what `rx` brings, retrying failures, until `rx` closes and all
/// is written, or `stop` is set and a write fails.
pub(super) async fn dead_letter_loop(
    mut rx: mpsc::UnboundedReceiver<Work>,
    store: Arc<dyn DeadLetterStore>,
    reading: Arc<Mutex<Reading>>,
    stats: Arc<Stats>,
    backoff: Backoff,
    mut stop: watch::Receiver<bool>,
) {
    let mut pending: VecDeque<Work> = VecDeque::new();
    let mut failures = 0u32;
    let mut stopping = false;
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(w) => pending.push_back(w),
                None => return,
            }
        }
        while pending.len() < BATCH {
            match rx.try_recv() {
                Ok(w) => pending.push_back(w),
                Err(_) => break,
            }
        }
        let batch: Vec<Work> = pending.drain(..pending.len().min(BATCH)).collect();
        let s = store.clone();
        let (batch, written, error) = match tokio::task::spawn_blocking(move || write(&*s, batch))
            .await
        {
            Ok(done) => done,
            Err(e) => {
                // A panic in the store, or the runtime shutting down: the batch's records stay
                // unacknowledged in the spool, read again at the next start.
                tracing::error!(error = %e, "the dead-letter write did not finish; its events are read again at the next start");
                return;
            }
        };
        let mut batch = batch;
        let rest = batch.split_off(written);
        acknowledge(&reading, &stats, &batch);
        for w in rest.into_iter().rev() {
            pending.push_front(w);
        }
        let Some(e) = error else {
            failures = 0;
            continue;
        };
        failures = failures.saturating_add(1);
        stats.dead_letter_write_failed();
        let wait = backoff.after(failures);
        if stopping || *stop.borrow() {
            tracing::error!(error = %e, waiting = pending.len(),
                "cannot write a dead letter (or a replay's end) while stopping; its events stay unacknowledged and are read again at the next start");
            return;
        }
        tracing::error!(error = %e, failures, waiting = pending.len(), retry_in_ms = wait.as_millis() as u64,
            "cannot write a dead letter (or a replay's end); its event stays in flight, unacknowledged, and the write is tried again");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            // Stopping (or the runtime gone): one more try, then what is left stays unacknowledged.
            _ = stop.wait_for(|s| *s) => stopping = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn the_backoff_doubles_from_the_first_wait_up_to_the_longest() {
        let b = Backoff::DEFAULT;
        let waits: Vec<u128> = [1, 2, 3, 7, 8, 9, 1000]
            .iter()
            .map(|&n| b.after(n).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 6400, 10_000, 10_000, 10_000]);
        assert_eq!(b.after(0), Duration::from_millis(100));
    }
}
