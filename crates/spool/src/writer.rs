//! The writer thread: the one owner of the active segment file.
//!
//! Appends are requests on a channel; the writer takes every request waiting, writes them all at
//! the segment's known good length (a positioned write: the file's own offset never matters),
//! syncs once (`fdatasync`), and only then publishes the new length and answers each. While it
//! syncs, new requests gather for the next round: that is the group commit.
//!
//! When a write or a sync fails, the whole round is answered with the error and nothing of it is
//! published. Before anyone is answered, the round's bytes are made unreadable for good, even
//! across a restart or a crash (after a failed `fdatasync` the page cache's state is unknown, so
//! they may be on disk whole):
//!
//! 1. the file is cut back to the last good length and the cut synced; when that fails,
//! 2. a segment holding records is closed and the next one started at once, named after the
//!    first sequence number not yet published (recovery ignores records at or past the next
//!    segment's name); an empty segment is removed instead (unless its name is what bounds the
//!    previous segment's remains); when that fails too,
//! 3. the first failed record's header is overwritten with zeros and synced: recovery reads a
//!    zeroed header as the end of the segment.
//!
//! A segment whose failed bytes were not cut is never written again. A segment with records is
//! closed after a failed round; an empty one is reused once cut. While rounds fail,
//! [`Shared::failing`] is set; when idle, the writer probes the disk now and then so that
//! readiness comes back once space is freed, without waiting for traffic. (The bounding is
//! `writer/bound.rs`.)
//!
//! A round that would pass the size cap first deletes every acknowledged segment, closing the
//! active one when all its records are acknowledged (`writer/housekeeping.rs`), so a cap only a
//! few segments wide never stays full of records already delivered.

use crate::disk::{self, DiskFile};
use crate::error::SpoolError;
use crate::record;
use crate::segment::{self, Segment};
use crate::spool::{Shared, lock, now_secs};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

mod bound;
mod housekeeping;

/// The open file of the segment being written.
pub(crate) type ActiveFile = Box<dyn DiskFile>;

/// Where an append's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<Range<u64>, SpoolError>>;

/// One append waiting for the writer.
pub(crate) struct Request {
    pub records: Vec<Vec<u8>>,
    pub bytes: u64,
    pub reply: Reply,
}

/// What the writer thread is told.
pub(crate) enum Msg {
    Append(Request),
    /// Finish what came before, persist cursors, stop.
    Close,
}

/// The writer's side of the spool.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// The active segment's file; `None` when a new segment must be started before writing.
    file: Option<ActiveFile>,
    /// The active segment may hold bytes past its good length (a failed round whose cut failed).
    needs_cut: bool,
    /// The active segment holds records and took a failed round: start a new one.
    must_roll: bool,
    /// The active segment's name (or the next one's, while there is no active file) is what
    /// bounds the previous segment's uncut remains: it is never removed.
    bounds_previous: bool,
    /// The active segment (empty) was removed after a failed round: its entry only keeps its
    /// name, and goes when the next segment starts.
    removed: bool,
    buf: Vec<u8>,
    last_housekeeping: Instant,
    last_probe: Instant,
}

const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// Attempts at bounding a failed round before its appends are answered.
const BOUND_ATTEMPTS: usize = 3;
/// The name of the file the readiness probe writes and removes.
const PROBE: &str = "probe.tmp";

impl Writer {
    /// `uncut_before`: the last segment recovery kept holds remains that only the name of the
    /// segment written next bounds.
    pub fn new(shared: Arc<Shared>, file: Option<ActiveFile>, uncut_before: bool) -> Self {
        if file.is_none() {
            shared.failing.store(true, Ordering::Release);
        }
        Self {
            shared,
            file,
            needs_cut: false,
            must_roll: false,
            bounds_previous: uncut_before,
            removed: false,
            buf: Vec::with_capacity(1 << 20),
            last_housekeeping: Instant::now(),
            last_probe: Instant::now(),
        }
    }

    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut closing = false;
        while !closing {
            let first = match rx.recv_timeout(HOUSEKEEPING) {
                Ok(Msg::Append(r)) => r,
                Ok(Msg::Close) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.housekeeping();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < 8192 {
                match rx.try_recv() {
                    Ok(Msg::Append(r)) => batch.push(r),
                    Ok(Msg::Close) => {
                        closing = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write_batch(batch);
            if self.last_housekeeping.elapsed() >= HOUSEKEEPING {
                self.housekeeping();
            }
        }
        self.housekeeping();
    }

    fn write_batch(&mut self, batch: Vec<Request>) {
        let shared = self.shared.clone();
        let pending: u64 = batch.iter().map(|r| r.bytes).sum();
        if let Err(e) = self.ready() {
            tracing::error!(error = %e, "spool: cannot write");
            shared.failing.store(true, Ordering::Release);
            shared.pending_bytes.fetch_sub(pending, Ordering::AcqRel);
            for r in batch {
                let _ = r.reply.send(Err(e.duplicate()));
            }
            return;
        }
        let cap = shared.config.max_bytes;
        if shared.total_bytes.load(Ordering::Acquire) + pending > cap {
            self.reclaim();
        }
        let (next, good_len, path) = {
            let segs = lock(&shared.segments);
            let active = segs.last();
            (
                active.map_or(1, |s| s.last + 1),
                active.map_or(0, |s| s.len),
                active.map(|s| s.path.clone()).unwrap_or_default(),
            )
        };
        let accepted = self.encode(batch, next);
        if accepted.is_empty() {
            shared.pending_bytes.fetch_sub(pending, Ordering::AcqRel);
            return;
        }
        let next = accepted.last().map_or(next, |(_, r)| r.end);
        let written = self.buf.len() as u64;
        let result = self.write_and_sync(good_len, &path);
        shared.pending_bytes.fetch_sub(pending, Ordering::AcqRel);
        match result {
            Ok(()) => {
                {
                    let mut segs = lock(&shared.segments);
                    if let Some(active) = segs.last_mut() {
                        active.len += written;
                        active.last = next - 1;
                    }
                }
                shared.total_bytes.fetch_add(written, Ordering::AcqRel);
                shared.failing.store(false, Ordering::Release);
                shared.durable_cv.notify_all();
                shared.notify.notify_waiters();
                for (reply, range) in accepted {
                    let _ = reply.send(Ok(range));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "spool: write failed; the round is refused");
                shared.failing.store(true, Ordering::Release);
                // Cut before answering: when an append learns of its failure, its bytes are gone.
                self.after_failure(good_len);
                for (reply, _) in accepted {
                    let _ = reply.send(Err(e.duplicate()));
                }
            }
        }
    }

    /// Encodes the requests that fit under the size cap into `self.buf`, numbered from `next`;
    /// the others are answered as full.
    fn encode(&mut self, batch: Vec<Request>, mut next: u64) -> Vec<(Reply, Range<u64>)> {
        self.buf.clear();
        let total = self.shared.total_bytes.load(Ordering::Acquire);
        let cap = self.shared.config.max_bytes;
        let mut accepted = Vec::with_capacity(batch.len());
        for r in batch {
            if total + self.buf.len() as u64 + r.bytes > cap {
                let _ = r.reply.send(Err(SpoolError::full("the spool", cap)));
                continue;
            }
            let first = next;
            for rec in &r.records {
                record::encode(&mut self.buf, next, rec);
                next += 1;
            }
            accepted.push((r.reply, first..next));
        }
        accepted
    }

    /// Writes `self.buf` at the active segment's good length and makes it durable.
    fn write_and_sync(&mut self, good_len: u64, path: &Path) -> Result<(), SpoolError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| SpoolError::invalid("no active segment"))?;
        disk::write_all_at(file.as_mut(), &self.buf, good_len)
            .map_err(|e| SpoolError::io("write segment", path, e))?;
        if self.shared.config.fsync {
            file.sync_data()
                .map_err(|e| SpoolError::io("sync segment", path, e))?;
        }
        Ok(())
    }

    /// Starts the next segment, named after the first sequence number not yet published.
    fn roll(&mut self) -> Result<(), SpoolError> {
        let next = lock(&self.shared.segments).last().map_or(1, |s| s.last + 1);
        let config = &self.shared.config;
        let (seg, file) = segment::create(config.disk.as_ref(), &config.dir, next, config.fsync)?;
        self.start(seg, file);
        Ok(())
    }

    /// Makes the active segment writable: cuts what a failed round left, starts a new segment
    /// when the active one is full, took a failed round, or could not be made.
    fn ready(&mut self) -> Result<(), SpoolError> {
        let (good_len, has_records, full, next) = {
            let segs = lock(&self.shared.segments);
            let active = segs.last();
            (
                active.map_or(0, |s| s.len),
                active.is_some_and(|s| s.last >= s.base),
                active.is_some_and(|s| s.len >= self.shared.config.segment_bytes),
                active.map_or(1, |s| s.last + 1),
            )
        };
        if self.needs_cut
            && let Err(e) = self.cut(good_len)
        {
            if self.must_roll {
                // The new segment's name bounds what recovery reads of this one.
                tracing::warn!(error = %e, "spool: starting a new segment past an uncut one");
            } else if self.bounds_previous || self.remove_active().is_err() {
                return Err(e);
            }
        }
        let roll = self.file.is_none() || self.must_roll || (full && has_records);
        if roll {
            let config = &self.shared.config;
            let (seg, file) =
                segment::create(config.disk.as_ref(), &config.dir, next, config.fsync)?;
            self.start(seg, file);
        }
        Ok(())
    }

    /// Makes `seg` the active segment.
    fn start(&mut self, seg: Segment, file: ActiveFile) {
        let mut segs = lock(&self.shared.segments);
        if self.removed {
            // The entry of a removed segment, kept for its name: the new one has that name.
            segs.pop();
            self.removed = false;
        } else if let Some(active) = segs.last_mut() {
            active.closed_at = Some(now_secs());
        }
        self.shared.total_bytes.fetch_add(seg.len, Ordering::AcqRel);
        segs.push(seg);
        // Remains the cut could not remove are bounded by this segment's name alone. (Without
        // an active file, the segment before is the one that was active, as it was.)
        if self.file.is_some() {
            self.bounds_previous = self.needs_cut;
        }
        self.file = Some(file);
        self.must_roll = false;
        self.needs_cut = false;
    }
}
