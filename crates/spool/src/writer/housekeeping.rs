//! The writer's housekeeping, when idle and after rounds: readiness probes of a failing disk,
//! cursors persisted, acknowledged segments deleted (after their retention, or at once when an
//! append needs the room under the cap).

use super::{PROBE, Writer};
use crate::disk;
use crate::error::SpoolError;
use crate::spool::{lock, now_secs, persist_cursor};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Writer {
    /// While appends fail: makes the active segment writable and checks that a block can be
    /// written and synced, and if so clears [`Shared::failing`].
    pub(super) fn probe(&mut self) {
        let every = self.shared.config.probe_every;
        if !self.shared.failing.load(Ordering::Acquire) || self.last_probe.elapsed() < every {
            return;
        }
        self.last_probe = Instant::now();
        let config = &self.shared.config;
        let path = config.dir.join(PROBE);
        let disk = config.disk.clone();
        let result = self.ready().and_then(|()| {
            let mut f = disk
                .create(&path)
                .map_err(|e| SpoolError::io("create probe", &path, e))?;
            let wrote = disk::write_all_at(f.as_mut(), &[0u8; 4096], 0)
                .and_then(|()| f.sync_data())
                .map_err(|e| SpoolError::io("write probe", &path, e));
            drop(f);
            let removed = disk
                .remove_file(&path)
                .map_err(|e| SpoolError::io("remove probe", &path, e));
            wrote.and(removed)
        });
        match result {
            Ok(()) => {
                tracing::info!("spool: the disk takes writes again");
                self.shared.failing.store(false, Ordering::Release);
            }
            Err(e) => tracing::debug!(error = %e, "spool: the disk still refuses writes"),
        }
    }

    /// Persists changed cursors, deletes segments every consumer is done with, probes a
    /// failing disk.
    pub(super) fn housekeeping(&mut self) {
        self.last_housekeeping = Instant::now();
        self.probe();
        let min_committed = self.persist_cursors();
        self.delete_acked(min_committed, false);
    }

    /// An append does not fit under the cap: deletes every acknowledged segment whatever the
    /// retention, and when the active segment's records are all acknowledged, closes it (a new
    /// one starts) and deletes it too. Without this, a cap a few segments wide could stay full
    /// for good of records already delivered.
    pub(super) fn reclaim(&mut self) {
        let min_committed = self.persist_cursors();
        let active_acked = {
            let segs = lock(&self.shared.segments);
            segs.last()
                .is_some_and(|s| s.last >= s.base && s.last <= min_committed)
        };
        let writable = self.file.is_some() && !self.needs_cut && !self.must_roll;
        if active_acked
            && writable
            && let Err(e) = self.roll()
        {
            tracing::warn!(error = %e, "spool: cannot close an acknowledged segment to make room");
        }
        self.delete_acked(min_committed, true);
    }

    /// Persists every consumer's changed cursor; returns the lowest committed position.
    pub(super) fn persist_cursors(&self) -> u64 {
        let shared = &self.shared;
        let mut min_committed = u64::MAX;
        let consumers = lock(&shared.consumers);
        for (name, entry) in consumers.iter() {
            let mut cursor = lock(&entry.cursor);
            min_committed = min_committed.min(cursor.committed);
            if let Err(e) = persist_cursor(shared, name, &mut cursor) {
                tracing::error!(consumer = %name, error = %e, "spool: cannot persist cursor");
            }
        }
        min_committed
    }

    /// Deletes closed segments, oldest first, whose records are all at or below
    /// `min_committed`: past their retention, or all of them when `for_room`.
    pub(super) fn delete_acked(&self, min_committed: u64, for_room: bool) {
        let shared = &self.shared;
        let config = &shared.config;
        let now = now_secs();
        let mut segs = lock(&shared.segments);
        let closed = segs.len().saturating_sub(1);
        let mut acked_bytes: u64 = segs[..closed]
            .iter()
            .filter(|s| s.last <= min_committed)
            .map(|s| s.len)
            .sum();
        let mut remove = 0;
        for s in &segs[..closed] {
            if s.last > min_committed {
                break;
            }
            let old = s
                .closed_at
                .is_some_and(|t| now.saturating_sub(t) >= config.retain_acked_for.as_secs());
            if !(for_room || old || acked_bytes > config.retain_acked_bytes) {
                break;
            }
            if let Err(e) = config.disk.remove_file(&s.path) {
                tracing::error!(file = %s.path.display(), error = %e, "spool: cannot delete segment");
                break;
            }
            acked_bytes -= s.len;
            shared.total_bytes.fetch_sub(s.len, Ordering::AcqRel);
            remove += 1;
        }
        segs.drain(..remove);
    }
}
