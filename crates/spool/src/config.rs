//! Spool settings.

use crate::disk::{Disk, RealDisk};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How a spool is laid out and bounded.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The directory of the segment files, cursors and dead letters.
    pub dir: PathBuf,
    /// A segment is closed and a new one started past this size. The spool uses at most an
    /// eighth of [`max_bytes`](Self::max_bytes) (and at least 4 KiB), so that
    /// acknowledged segments can always be deleted to make room under a small cap.
    pub segment_bytes: u64,
    /// Hard cap on the bytes of all segments: an append that would pass it fails with
    /// [`SpoolError::is_full`](crate::SpoolError::is_full). Nothing is ever dropped to make room.
    pub max_bytes: u64,
    /// Most bytes waiting for the writer before appends are refused as full.
    pub max_pending_bytes: u64,
    /// Acknowledged segments are kept this long (for inspection), then deleted; sooner when an
    /// append needs the room under [`max_bytes`](Self::max_bytes).
    pub retain_acked_for: Duration,
    /// Acknowledged segments are deleted, oldest first, while they take more than this (or
    /// when an append needs the room).
    pub retain_acked_bytes: u64,
    /// Cap on the bytes of one consumer's dead letters (on disk). Past it the oldest dead letters
    /// are dropped, counted and logged: refusing new ones would stop delivery for good.
    pub dead_letter_max_bytes: u64,
    /// `fdatasync` after every group of appends. Only tests of other things turn it off.
    pub fsync: bool,
    /// The file operations: the real file system ([`RealDisk`]) unless a test injects faults.
    pub disk: Arc<dyn Disk>,
    /// While appends fail with disk errors, the idle writer checks this often whether the disk
    /// takes writes again (one 4 KiB file written, synced and removed), so that
    /// [`Spool::is_failing`](crate::Spool::is_failing) clears without waiting for traffic.
    pub probe_every: Duration,
}

/// The smallest segment size the spool derives from a small cap.
pub(crate) const MIN_SEGMENT_BYTES: u64 = 4 << 10;

impl SpoolConfig {
    /// Defaults for a spool in `dir`: 64 MiB segments, a 10 GiB cap, acknowledged data deleted
    /// at once, 256 MiB of dead letters per consumer.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: 64 << 20,
            max_bytes: 10 << 30,
            max_pending_bytes: 64 << 20,
            retain_acked_for: Duration::ZERO,
            retain_acked_bytes: 0,
            dead_letter_max_bytes: 256 << 20,
            fsync: true,
            disk: Arc::new(RealDisk),
            probe_every: Duration::from_secs(1),
        }
    }

    /// The segment size the spool uses: [`segment_bytes`](Self::segment_bytes), but no more than
    /// an eighth of the cap (and no less than `MIN_SEGMENT_BYTES`).
    pub(crate) fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes
            .min((self.max_bytes / 8).max(MIN_SEGMENT_BYTES))
            .max(1)
    }
}
