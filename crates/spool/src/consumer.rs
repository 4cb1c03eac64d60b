//! A consumer: one integration's way through the spool. It reads records after its last
//! acknowledged one (replayed dead letters first), acknowledges them in any order, and
//! dead-letters the ones it gives up on. After a restart it starts again after the last record
//! acknowledged without a gap: every record not acknowledged is read again (at-least-once).

use crate::dead::{DeadLetterInfo, DeadLetters};
use crate::error::SpoolError;
use crate::ranges::Cursor;
use crate::segment::Reader;
use crate::spool::{Shared, lock};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a new consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the oldest record the spool still holds.
    Earliest,
    /// After the last record appended so far (an integration installed now receives only what
    /// arrives from now on, as Segment's destinations do).
    Latest,
}

/// One record as read by a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number in the spool.
    pub seq: u64,
    /// Its bytes.
    pub payload: Vec<u8>,
    /// True when it comes from a replay of a dead letter.
    pub replayed: bool,
}

impl Record {
    /// What to hand back to [`Consumer::ack`] once it is delivered.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            seq: self.seq,
            replayed: self.replayed,
        }
    }
}

/// Proof of delivery of one record, for [`Consumer::ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    seq: u64,
    replayed: bool,
}

impl Receipt {
    /// The record's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The record this receipt is for, its bytes given back: for dead-lettering a record whose
    /// bytes a consumer kept elsewhere.
    pub fn into_record(self, payload: Vec<u8>) -> Record {
        Record {
            seq: self.seq,
            payload,
            replayed: self.replayed,
        }
    }
}

/// A consumer's handle. Only one handle per consumer exists at a time; dropping it frees the
/// name (acknowledgements made stay).
pub struct Consumer {
    shared: Arc<Shared>,
    name: String,
    cursor: Arc<Mutex<Cursor>>,
    dead: Arc<DeadLetters>,
    in_use: Arc<AtomicBool>,
    /// The next sequence number to read from the log.
    next: u64,
    reader: Option<(u64, Reader)>,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.in_use.store(false, Ordering::Release);
    }
}

impl Consumer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        name: String,
        cursor: Arc<Mutex<Cursor>>,
        dead: Arc<DeadLetters>,
        in_use: Arc<AtomicBool>,
    ) -> Self {
        let next = lock(&cursor).committed + 1;
        Self {
            shared,
            name,
            cursor,
            dead,
            in_use,
            next,
            reader: None,
        }
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Up to `max` records not yet read by this handle: replayed dead letters first, then the log
    /// in order, never past what is durable. Returns at once, possibly with none.
    ///
    /// # Errors
    ///
    /// A segment cannot be opened or read. A replayed dead letter that cannot be read is skipped
    /// (logged and counted in [`DeadLetterStats::skipped_replays`](crate::DeadLetterStats)),
    /// never an error: the log is read after it.
    pub fn read(&mut self, max: usize) -> Result<Vec<Record>, SpoolError> {
        let mut out: Vec<Record> = self
            .dead
            .take_replays(max)
            .into_iter()
            .map(|(seq, payload)| Record {
                seq,
                payload,
                replayed: true,
            })
            .collect();
        while out.len() < max {
            // The segment holding `next`: the first whose last record is at or after it.
            let found = {
                let segs = lock(&self.shared.segments);
                let i = segs.partition_point(|s| s.last < self.next);
                segs.get(i)
                    .map(|s| (s.base, s.path.clone(), s.len, s.last, i + 1 == segs.len()))
            };
            let Some((base, path, len, last, _active)) = found else {
                break;
            };
            if self.reader.as_ref().is_none_or(|(b, _)| *b != base) {
                self.reader = Some((base, Reader::open(&path)?));
            }
            let Some((_, reader)) = self.reader.as_mut() else {
                break;
            };
            match reader.next(len)? {
                Some((seq, _)) if seq < self.next => continue,
                Some((seq, payload)) => {
                    if seq > self.next {
                        // Records lost to a corrupt segment: nothing to deliver, nothing to wait for.
                        lock(&self.cursor).ack(self.next..seq);
                    }
                    self.next = seq + 1;
                    out.push(Record {
                        seq,
                        payload,
                        replayed: false,
                    });
                }
                None => {
                    // The end of what this segment holds, though `last` says there is more:
                    // the rest was lost to corruption. Skip past it.
                    if self.next <= last {
                        lock(&self.cursor).ack(self.next..last + 1);
                        self.next = last + 1;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether [`read`](Self::read) would return something now.
    pub fn has_more(&self) -> bool {
        self.shared.durable() >= self.next || self.dead.has_replays()
    }

    /// Waits until there may be something to read.
    ///
    /// # Cancel safety
    ///
    /// Safe to drop at any point: nothing is consumed by waiting.
    pub async fn readable(&self) {
        loop {
            let notified = self.shared.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.has_more() {
                return;
            }
            notified.await;
        }
    }

    /// Blocks up to `timeout` until there may be something to read; returns whether there is.
    pub fn wait_readable(&self, timeout: Duration) -> bool {
        self.shared
            .wait_durable_after(self.next.saturating_sub(1), timeout)
            || self.dead.has_replays()
    }

    /// Marks a record delivered. Acknowledgements may come in any order; the consumer resumes
    /// after the last record acknowledged without a gap.
    ///
    /// # Errors
    ///
    /// Finishing a replay is written to disk, which can fail.
    pub fn ack(&self, receipt: Receipt) -> Result<(), SpoolError> {
        if receipt.replayed {
            return self.dead.replay_done(receipt.seq);
        }
        lock(&self.cursor).ack(receipt.seq..receipt.seq + 1);
        Ok(())
    }

    /// Gives up on a record: it is kept as a dead letter with `info`, and acknowledged. Past the
    /// dead-letter cap the oldest dead letters are dropped to make room.
    ///
    /// # Errors
    ///
    /// The dead letter cannot be written; the record is then not acknowledged.
    pub fn dead_letter(&self, record: &Record, info: DeadLetterInfo) -> Result<(), SpoolError> {
        self.dead.add(record.seq, &record.payload, info)?;
        self.ack(record.receipt())
    }

    /// This consumer's dead letters: a handle to list (a page at a time, from disk), replay and
    /// purge them that holds nothing delivery needs, for the management API to keep.
    pub fn dead_letters(&self) -> Arc<DeadLetters> {
        self.dead.clone()
    }

    /// Replays dead letters (all, or those with these ids): they are read again, before the log.
    /// Returns how many.
    ///
    /// # Errors
    ///
    /// The change cannot be written.
    pub fn replay(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        self.dead.replay(ids)
    }

    /// Deletes dead letters (all, or those with these ids) for good. Returns how many.
    ///
    /// # Errors
    ///
    /// The change cannot be written.
    pub fn purge(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        self.dead.purge(ids)
    }

    /// The last sequence number acknowledged without a gap.
    pub fn committed(&self) -> u64 {
        lock(&self.cursor).committed
    }

    /// Writes the cursor to disk now (the writer also does so every 100 ms).
    ///
    /// # Errors
    ///
    /// The cursor file cannot be written.
    pub fn flush(&self) -> Result<(), SpoolError> {
        let mut cursor = lock(&self.cursor);
        crate::spool::persist_cursor(&self.shared, &self.name, &mut cursor)
    }
}
