//! The reader thread: spool -> parse -> map -> delivery task. An event the mapping drops is
//! acknowledged here; a record that cannot be read (it does not parse, or its event breaks a
//! rule) is kept as a dead letter naming why, then acknowledged. A replayed one's end, and
//! these dead letters, are written without delivery's lock (on this thread, which is not a
//! tokio worker).

use super::dead_letter::DeadLetterStore;
use super::source::Source;
use super::{Flight, Limits, Reading};
use crate::live::{Entry, Live, Meta, Stats};
use crate::{clock::now_ms, sync::lock};
use bytes::Bytes;
use signal_core::record::Reader;
use signal_core::{Mapped, Mapper, PADDING};
use signal_forward::Job;
use signal_spool::{DeadLetterInfo, Record};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// At most this many records read at once.
const READ_BATCH: usize = 500;

/// What one record can hold in delivery, at most: its record (the event limit, plus the
/// gateway's envelope and User-Agent) and its mapped body (about as large). A read asks for no
/// more records than the room left at this size, so the cap is passed by one record at most.
const RECORD_ROOM: usize = 2 * (signal_core::limits::MAX_EVENT_BYTES + 8 * 1024);

/// What a mapped job holds in memory.
fn job_bytes(job: &Job) -> usize {
    job.bytes()
}

/// What the reader thread works with.
pub(super) struct ReadLoop {
    pub(super) spool: signal_spool::Spool,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) reading: Arc<Mutex<Reading>>,
    pub(super) dead: Arc<dyn DeadLetterStore>,
    pub(super) mapper: Mapper,
    pub(super) store: signal_store::Store,
    pub(super) integration: signal_forward::Integration,
    pub(super) live: Arc<Live>,
    pub(super) stats: Arc<Stats>,
    pub(super) limits: Limits,
    /// On JetStream, this node's share of the rate limit, requests a second: it holds at
    /// most two seconds of it ([`held_most`]), leaving the rest of a backlog in the stream for
    /// the other nodes.
    pub(super) share: Option<Arc<AtomicU32>>,
}

/// The most records a node on JetStream holds at once for a rate share: two seconds' worth
/// (at least 64; none for a share of 0). A node that read as much as its in-flight limit
/// allows would take a whole backlog from the shared consumer and send it alone, at its share
/// of the rate.
pub(super) fn held_most(share: u32) -> usize {
    if share == 0 {
        // A rate below the nodes alive: this node sends none of it, the others do.
        return 0;
    }
    usize::try_from(share)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .max(64)
}

impl ReadLoop {
    /// Reads, maps and hands on until told to stop.
    pub(super) fn run(mut self) {
        let mut reader = Reader::new();
        // The record being decoded, with simd-json's padding: one buffer for every record.
        let mut buf = Vec::new();
        let mut last_seen = lock(&self.reading).consumer.committed();
        let nats = lock(&self.reading).consumer.nats();
        while !self.stop.load(Ordering::Acquire) {
            if let Some(n) = &nats {
                // Held records stay this node's while they wait on a retry or a pause.
                n.keep_alive();
            }
            let batch = self.next_batch();
            if batch.is_empty() {
                if self.room(&lock(&self.reading)) == 0 {
                    self.stats.read_held();
                    std::thread::sleep(Duration::from_millis(20));
                } else if nats.is_none() {
                    // Wait without holding the consumer, so acknowledgements go on meanwhile.
                    self.spool
                        .wait_durable_after(last_seen, Duration::from_millis(100));
                }
                continue;
            }
            if let Some(last) = batch.iter().filter(|r| !r.replayed).map(|r| r.seq).max() {
                last_seen = last_seen.max(last);
            }
            // One read transaction for the batch's identity lookups, taken after the read: an
            // event's links are stored before it is spooled, so they are all in it (on this
            // node: on JetStream, links another node stored are not in this node's store).
            // Let go while a dead letter's write is retried, so a long disk fault does not keep
            // redb from reusing its pages.
            let mut links = None;
            for record in batch {
                self.hand_on(&mut reader, &mut buf, &mut links, record);
            }
        }
    }

    /// How many records may be read now: none while delivery holds its most (by count or by
    /// bytes), else as many as fit in the bytes left at `RECORD_ROOM` each (at least one).
    fn room(&self, r: &Reading) -> usize {
        let Limits { events, bytes } = self.limits;
        let events = match &self.share {
            Some(share) => events.min(held_most(share.load(Ordering::Acquire))),
            None => events,
        };
        if r.inflight.len() >= events || r.inflight_bytes >= bytes {
            return 0;
        }
        ((bytes - r.inflight_bytes) / RECORD_ROOM)
            .clamp(1, READ_BATCH)
            .min(events - r.inflight.len())
    }

    /// Up to 500 records, as many as there is room for in delivery. From JetStream, the read
    /// (which waits up to 100 ms for a first record) is made without delivery's lock.
    fn next_batch(&self) -> Vec<Record> {
        let mut r = lock(&self.reading);
        let room = self.room(&r);
        if room == 0 {
            return Vec::new();
        }
        let nats = match &mut r.consumer {
            Source::Local(c) => {
                return c.read(room).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "spool read failed");
                    Vec::new()
                });
            }
            Source::Nats(n) => n.clone(),
        };
        drop(r);
        nats.read(room).unwrap_or_else(|e| {
            tracing::error!(error = %e, "JetStream read failed; trying again");
            std::thread::sleep(Duration::from_millis(100));
            Vec::new()
        })
    }

    /// Acknowledges a record that is not sent. A replay's end is a synced write: made without
    /// delivery's lock.
    fn acknowledge(&self, record: &Record) {
        let done = if record.replayed {
            self.dead
                .finish_replay(record.seq)
                .map_err(|e| e.to_string())
        } else {
            lock(&self.reading)
                .consumer
                .ack(record.receipt())
                .map_err(|e| e.to_string())
        };
        if let Err(e) = done {
            tracing::error!(seq = record.seq, error = %e, "cannot acknowledge an event not sent; it is read again at the next start");
        }
    }

    /// Keeps a record the pipeline cannot read as a dead letter saying why, then acknowledges
    /// it: never acknowledged unkept. The write is synced (this thread is not a tokio worker);
    /// one that fails (a full or failing disk) is tried again, 100 ms doubling up to 10 s, and
    /// on stop the record stays unacknowledged, read again at the next start.
    fn dead_letter(&self, record: &Record, reason: String) {
        tracing::error!(seq = record.seq, %reason, "a spooled record cannot be read; kept as a dead letter");
        let info = DeadLetterInfo {
            reason,
            status: None,
            body: String::new(),
            attempts: 0,
        };
        let mut wait = Duration::from_millis(100);
        while let Err(e) = self.dead.add(record.seq, &record.payload, info.clone()) {
            self.stats.dead_letter_write_failed();
            tracing::error!(seq = record.seq, error = %e, retry_in_ms = wait.as_millis() as u64,
                "cannot write the dead letter of an unreadable record; tried again");
            if !self.pause(wait) {
                return;
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
        self.stats
            .count_reason("dead_lettered", "unreadable_record");
        // A replay's end is written by `acknowledge`, as for a record not sent.
        self.acknowledge(record);
    }

    /// Waits `wait`, or less when told to stop; whether to go on.
    fn pause(&self, wait: Duration) -> bool {
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if self.stop.load(Ordering::Acquire) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20).min(wait));
        }
        !self.stop.load(Ordering::Acquire)
    }

    /// Parses and maps one record, and hands it to the delivery task (or drops it, or keeps it
    /// as a dead letter when it cannot be read).
    fn hand_on(
        &mut self,
        reader: &mut Reader,
        buf: &mut Vec<u8>,
        links: &mut Option<signal_store::Links>,
        mut record: Record,
    ) {
        // Either record version (`signal_core::record`): a version 2 record is not validated
        // again. The copy has room for simd-json's padding, which spares it a copy of its own.
        buf.clear();
        buf.reserve(record.payload.len() + PADDING);
        buf.extend_from_slice(&record.payload);
        let decoded = match reader.read(buf) {
            Ok(d) => d,
            Err(e) => {
                *links = None;
                return self.dead_letter(&record, e.to_string());
            }
        };
        let ev = match decoded.event() {
            Ok(ev) => ev,
            Err(e) => {
                *links = None;
                return self.dead_letter(&record, e.to_string());
            }
        };
        let input = Bytes::from(std::mem::take(&mut record.payload));
        let links = links.get_or_insert_with(|| self.store.links());
        let mapping = self.mapper.map(&ev, links, now_ms());
        let meta = Arc::new(Meta {
            kind: ev.kind,
            warnings: mapping.warnings.to_vec(),
            input,
        });
        let items = match mapping.outcome {
            Mapped::Send(items) => items,
            Mapped::Dropped(reason) => {
                self.acknowledge(&record);
                self.stats.count_reason("dropped", reason.as_str());
                self.live.push(Entry {
                    at_ms: now_ms(),
                    meta,
                    outcome: "dropped",
                    reason: Some(reason.as_str().to_owned()),
                    attempt: 0,
                    latency_ms: None,
                    result: None,
                });
                return;
            }
        };
        // One event may make several requests (a group call: a user link and account
        // properties); the record is finished when every one of them is.
        let jobs: Vec<Job> = items
            .iter()
            .map(|item| Job::from_item(record.seq, &item))
            .collect();
        let flight = Flight {
            receipt: record.receipt(),
            bytes: meta.input.len() + jobs.iter().map(job_bytes).sum::<usize>(),
            meta,
            replayed: record.replayed,
            items: u32::try_from(jobs.len()).unwrap_or(u32::MAX),
            dead: None,
        };
        lock(&self.reading).hold(record.seq, flight);
        let mut refused = 0usize;
        for job in jobs {
            refused += usize::from(!self.integration.deliver(job));
        }
        if refused > 0 {
            tracing::warn!(
                seq = record.seq,
                refused,
                "the integration's delivery task is gone: events not handed over"
            );
        }
    }
}
