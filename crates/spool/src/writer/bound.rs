//! Bounding a failed round of appends: before anyone is answered, the round's bytes are made
//! unreadable for good, even across a restart or a power loss (see the writer's module docs for
//! the order of attempts).

use super::{BOUND_ATTEMPTS, Writer};
use crate::disk;
use crate::error::SpoolError;
use crate::record;
use crate::segment;
use crate::spool::lock;
use std::sync::atomic::Ordering;

impl Writer {
    /// A round failed in the active segment: makes its bytes unreadable for good (see the
    /// module docs), and closes the segment when it holds records. A disk that refuses all of
    /// it is asked again a few times before anyone is answered, and then before every later
    /// round and probe (`ready`).
    pub(super) fn after_failure(&mut self, good_len: u64) {
        let has_records = {
            let segs = lock(&self.shared.segments);
            segs.last().is_some_and(|s| s.last >= s.base)
        };
        self.needs_cut = true;
        self.must_roll = has_records;
        for _ in 0..BOUND_ATTEMPTS {
            match self.bound(good_len, has_records) {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, "spool: cannot bound a failed write: it may be read back after a crash");
                }
            }
        }
    }

    /// One attempt at making a failed round's bytes unreadable: cut, else the next segment (or
    /// the removal of an empty one), else a zeroed header.
    pub(super) fn bound(&mut self, good_len: u64, has_records: bool) -> Result<(), SpoolError> {
        let Err(e) = self.cut(good_len) else {
            return Ok(());
        };
        tracing::error!(error = %e, "spool: cannot cut a failed write off the segment");
        let bounded = if has_records {
            self.roll()
        } else if !self.bounds_previous {
            self.remove_active()
        } else {
            Err(SpoolError::invalid(
                "the segment bounds the previous one's remains",
            ))
        };
        let Err(e) = bounded else {
            return Ok(());
        };
        tracing::error!(error = %e, "spool: cannot start a segment past a failed write, nor remove it; zeroing its first header");
        self.zero_at(good_len)
    }

    /// Removes the active segment, which holds no records, and makes the removal durable. Its
    /// entry stays (for its name) until the next segment starts.
    pub(super) fn remove_active(&mut self) -> Result<(), SpoolError> {
        let config = &self.shared.config;
        let (path, len) = match lock(&self.shared.segments).last() {
            Some(s) => (s.path.clone(), s.len),
            None => return Ok(()),
        };
        config
            .disk
            .remove_file(&path)
            .map_err(|e| SpoolError::io("remove segment", &path, e))?;
        if config.fsync
            && let Err(e) = config.disk.sync_dir(&config.dir)
        {
            // The removal may not last: make the file's failed bytes unreadable through the
            // handle still open, should the entry come back.
            tracing::warn!(error = %e, "spool: the removal of a segment may not be durable");
            let good_len = segment::MAGIC.len() as u64;
            if let Err(e) = self.zero_at(good_len) {
                tracing::error!(error = %e, "spool: cannot zero a failed write's header");
            }
        }
        self.file = None;
        self.removed = true;
        self.needs_cut = false;
        self.shared.total_bytes.fetch_sub(len, Ordering::AcqRel);
        if let Some(s) = lock(&self.shared.segments).last_mut() {
            s.len = 0;
        }
        Ok(())
    }

    /// Overwrites the record header at `at` with zeros and syncs: recovery reads the segment up
    /// to there and no further.
    pub(super) fn zero_at(&mut self, at: u64) -> Result<(), SpoolError> {
        let path = lock(&self.shared.segments)
            .last()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| SpoolError::invalid("no active segment"))?;
        disk::write_all_at(file.as_mut(), &[0u8; record::HEADER], at)
            .and_then(|()| file.sync_data())
            .map_err(|e| SpoolError::io("zero a failed write", &path, e))
    }

    /// Truncates the active segment to `good_len` and syncs the truncation.
    pub(super) fn cut(&mut self, good_len: u64) -> Result<(), SpoolError> {
        let Some(file) = self.file.as_mut() else {
            self.needs_cut = false;
            return Ok(());
        };
        let path = lock(&self.shared.segments)
            .last()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        file.set_len(good_len)
            .and_then(|()| file.sync_all())
            .map_err(|e| SpoolError::io("cut segment", &path, e))?;
        self.needs_cut = false;
        Ok(())
    }
}
