//! Compaction of an operation log, a bounded step at a time.
//!
//! When the removed frames take more than the live ones (past a 1 MiB slack), the live frames as
//! they are at that moment are copied, oldest first, to `<log>.tmp`; then the frames appended
//! since (the tail: adds and removes made meanwhile) are copied after them byte for byte, and the
//! copy replaces the log. Each change to the log advances the copy by a step of 1 MiB plus twice
//! what the change appended, under the store's lock: no change ever waits for a whole copy, and
//! the copy always catches up. Page readers keep the file they started on (their handle stays
//! valid after the rename). A failed step drops the copy, and the log stays as it was.
//!
//! The copy's own handle (and a read handle on it) become the log's before the rename, so once
//! the rename is done the store writes to and reads from the file that is now the log, whatever
//! fails after: nothing can leave it writing to the old, deleted file. A failed directory sync
//! after the rename is logged and retried before the next change is answered.

use super::{Entry, OpLog, read_frame};
use crate::disk::{self, DiskFile};
use crate::error::SpoolError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Removed bytes tolerated before compacting, beyond as many as are live.
const SLACK: u64 = 1 << 20;
/// The least a step copies.
const STEP: u64 = 1 << 20;

/// A copy under way.
pub(in crate::dead) struct Compaction {
    tmp: PathBuf,
    out: Box<dyn DiskFile>,
    /// The frames live when it started, by offset, not yet copied.
    todo: std::vec::IntoIter<(u64, u32)>,
    /// Old offset to new offset of the frames copied, by old offset.
    moved: Vec<(u64, u64)>,
    /// Bytes written to the copy.
    written: u64,
    /// Bytes of the live frames copied (where the tail starts in the copy), once all are.
    head: Option<u64>,
    /// The log's length when it started: its tail begins there.
    end: u64,
}

impl OpLog {
    /// Whether removed frames take enough room to compact.
    fn wants_compaction(&self) -> bool {
        self.file_bytes > 2 * self.live_bytes + SLACK
    }

    /// Advances (or starts) a compaction by a step sized to what was appended since the last.
    /// A failure is logged and drops the copy: compaction is housekeeping.
    pub fn compact_step(&mut self) {
        let budget = STEP + 2 * std::mem::take(&mut self.appended);
        if let Err(e) = self.step(budget) {
            tracing::error!(file = %self.path.display(), error = %e, "dead letters: cannot compact");
        }
    }

    /// Compacts to the end now, if it is due (at open).
    pub(super) fn compact_now(&mut self) -> Result<(), SpoolError> {
        self.step(u64::MAX)
    }

    fn step(&mut self, budget: u64) -> Result<(), SpoolError> {
        if self.compaction.is_none() {
            if !self.wants_compaction() {
                return Ok(());
            }
            self.compaction = Some(self.start()?);
        }
        let result = self.advance(budget);
        if result.is_err()
            && let Some(c) = self.compaction.take()
        {
            drop(c.out);
            let _ = self.disk.remove_file(&c.tmp);
        }
        result
    }

    fn start(&self) -> Result<Compaction, SpoolError> {
        let tmp = self.path.with_extension("tmp");
        let out = self
            .disk
            .create(&tmp)
            .map_err(|e| SpoolError::io("compact dead letters", &tmp, e))?;
        let mut todo: Vec<(u64, u32)> = self.live.values().map(|e| (e.offset, e.size)).collect();
        todo.sort_unstable();
        Ok(Compaction {
            tmp,
            out,
            moved: Vec::with_capacity(todo.len()),
            todo: todo.into_iter(),
            written: 0,
            head: None,
            end: self.file_bytes,
        })
    }

    fn advance(&mut self, budget: u64) -> Result<(), SpoolError> {
        let Some(c) = self.compaction.as_mut() else {
            return Ok(());
        };
        let io = |e| SpoolError::io("compact dead letters", &c.tmp, e);
        let mut spent = 0u64;
        let mut chunk = Vec::new();
        while spent < budget {
            if c.head.is_none() {
                match c.todo.next() {
                    Some((offset, size)) => {
                        let frame = read_frame(&self.reader, &self.path, offset, size)?;
                        disk::write_all_at(c.out.as_mut(), &frame, c.written).map_err(io)?;
                        c.moved.push((offset, c.written));
                        c.written += u64::from(size);
                        spent += u64::from(size);
                        continue;
                    }
                    None => c.head = Some(c.written),
                }
            }
            let head = c.head.unwrap_or(c.written);
            let from = c.end + (c.written - head);
            if from >= self.file_bytes {
                return self.finish();
            }
            let n = (self.file_bytes - from).min(STEP).min(budget - spent);
            chunk.resize(n as usize, 0);
            self.reader
                .read_exact_at(&mut chunk, from)
                .map_err(|e| SpoolError::io("compact dead letters", &self.path, e))?;
            disk::write_all_at(c.out.as_mut(), &chunk, c.written).map_err(io)?;
            c.written += n;
            spent += n;
        }
        Ok(())
    }

    /// The copy has caught up: it replaces the log, and the index moves to its offsets.
    fn finish(&mut self) -> Result<(), SpoolError> {
        let Some(mut c) = self.compaction.take() else {
            return Ok(());
        };
        let io = |e| SpoolError::io("compact dead letters", &c.tmp, e);
        let head = c.head.unwrap_or(c.written);
        if self.fsync {
            c.out.sync_all().map_err(io)?;
        }
        // Every live entry is either one copied from the start or one appended since.
        let new_offset = |e: &Entry| -> Option<u64> {
            if e.offset >= c.end {
                return Some(head + (e.offset - c.end));
            }
            let i = c.moved.binary_search_by_key(&e.offset, |m| m.0).ok()?;
            Some(c.moved[i].1)
        };
        let moved: Option<Vec<(u64, u64)>> = self
            .live
            .values()
            .map(|e| new_offset(e).map(|o| (e.id, o)))
            .collect();
        let Some(moved) = moved else {
            let _ = self.disk.remove_file(&c.tmp);
            return Err(SpoolError::invalid(
                "dead letters: a compaction lost track of a letter",
            ));
        };
        // Everything the new file needs is open before it becomes the log.
        let reader = match File::open(&c.tmp) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                let _ = self.disk.remove_file(&c.tmp);
                return Err(io(e));
            }
        };
        if let Err(e) = self.disk.rename(&c.tmp, &self.path) {
            let _ = self.disk.remove_file(&c.tmp);
            return Err(io(e));
        }
        // The rename is done: the copy is the log, whatever fails from here on.
        self.file = c.out;
        self.reader = reader;
        self.file_bytes = c.written;
        self.dirty = false;
        for (id, offset) in moved {
            if let Some(e) = self.live.get_mut(&id) {
                e.offset = offset;
            }
        }
        if self.fsync {
            self.dir_unsynced = true;
            if let Err(e) = self.sync_dir_owed() {
                tracing::error!(error = %e,
                    "dead letters: cannot sync a compaction's rename; tried again before the next change");
            }
        }
        Ok(())
    }
}
