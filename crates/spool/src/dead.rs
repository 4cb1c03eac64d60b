//! Dead letters and their replay, per consumer.
//!
//! `dead/<consumer>/dead.log` records each dead letter (added; removed by purge, replay or the
//! cap) and `replay.log` each replayed one (added; removed once delivered). Both are logs of
//! checksummed operations (`dead/oplog.rs`, `dead/op.rs`), written at their known end through
//! the spool's `Disk` seam (`SpoolConfig::disk`) and read back at open, so a dead letter
//! survives restarts and a replay interrupted by a crash is delivered after it. Each change is
//! synced before the call returns; a failed one is answered `Err` and never read back.
//!
//! Damage never stops the spool from opening: a stretch of either file that does not read back
//! is skipped, logged with the file's name and counted ([`DeadLetterStats::corrupt`]), and the
//! letters after it are kept. A replayed letter that cannot be read is skipped by delivery
//! (logged, [`DeadLetterStats::skipped_replays`]), which goes on with the rest and the log.
//!
//! Memory holds only an index (per letter: id, time, offset and size on disk, about 64 bytes):
//! events, reasons and vendor bodies are read from disk a page at a time. The store's lock
//! guards the index and the writes; reading a page or a replay takes it only to copy index
//! entries, then reads from disk without it, so a slow page never holds up delivery. What runs
//! under the lock is each change's own write and sync, plus a bounded step of a compaction
//! (about 1 MiB plus twice what the change wrote, copied and, at its end, synced): a caller on
//! an async runtime blocks that long. The delivery engine and the management API share the store
//! through an `Arc`.
//!
//! The dead letters of a consumer are capped (`SpoolConfig::dead_letter_max_bytes`). Past the
//! cap the oldest (lowest id: first received) are dropped to make room, counted and logged, as a
//! ring buffer would: refusing new dead letters would leave their records unacknowledged and stop
//! delivery behind them for good, which a cap for dead letters must never do. Replays waiting
//! for delivery are capped the same (a replay moves what fits; the rest stay dead letters). So
//! each of the two files stays within a few times the cap on disk: twice the cap plus 1 MiB of
//! removed frames before a compaction starts, plus the copy while one is under way.

mod op;
mod oplog;
mod replay;

use crate::disk::Disk;
use crate::error::SpoolError;
use oplog::{Entry, OpLog};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Why a record was given up on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterInfo {
    /// Why (`vendor_rejected`, `max_attempts`, `too_old`, ...); kept up to 1 KiB.
    pub reason: String,
    /// The vendor's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// The vendor's last response body (or the error, if it did not answer); kept up to 64 KiB.
    pub body: String,
    /// Delivery attempts made.
    pub attempts: u32,
}

/// A dead-lettered record, as read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The record's sequence number, which is also the dead letter's id.
    pub id: u64,
    /// The record's bytes.
    pub payload: Vec<u8>,
    /// Why it was given up on.
    pub info: DeadLetterInfo,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
}

/// One page of dead letters, oldest (lowest id) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterPage {
    /// The dead letters of the page.
    pub letters: Vec<DeadLetter>,
    /// When more follow: the id to ask for the next page after.
    pub next: Option<u64>,
}

/// Figures of one consumer's dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterStats {
    /// Dead letters listed.
    pub letters: u64,
    /// Their bytes on disk: what the cap counts.
    pub bytes: u64,
    /// Replayed dead letters not yet delivered.
    pub replaying: u64,
    /// Bytes of both files on disk (removed letters included until a compaction).
    pub file_bytes: u64,
    /// Bytes the index takes in memory, roughly: no event or vendor body is held.
    pub index_bytes: u64,
    /// Dead letters dropped to stay within the cap since the spool was opened.
    pub dropped: u64,
    /// Damaged or unreadable stretches of the two files found when they were opened (each is
    /// logged with the file's name); the letters around them are kept.
    pub corrupt: u64,
    /// Replays that could not be read back from disk since the spool was opened (each logged);
    /// delivery skipped them and went on.
    pub skipped_replays: u64,
}

/// The dead letters and replays of one consumer. Shared (`Arc`) by its consumer and whoever
/// lists, replays or purges them; every method takes the store's own lock briefly, never for
/// reading events from disk.
pub struct DeadLetters {
    name: String,
    max_bytes: u64,
    dropped: AtomicU64,
    /// Damaged stretches found in the two files at open.
    corrupt: u64,
    skipped_replays: AtomicU64,
    state: Mutex<State>,
}

struct State {
    dead: OpLog,
    replay: OpLog,
    /// Replays handed to the consumer in this process and not yet delivered.
    handed_out: BTreeSet<u64>,
}

/// Reads one page of dead letters from disk, a letter at a time, holding no lock: the page's
/// index entries were copied when it was made.
pub struct DeadLetterPageReader {
    file: Arc<File>,
    path: PathBuf,
    entries: std::vec::IntoIter<Entry>,
    next: Option<u64>,
}

impl DeadLetterPageReader {
    /// When more follow this page: the id to ask for the next page after.
    pub fn next_cursor(&self) -> Option<u64> {
        self.next
    }
}

impl Iterator for DeadLetterPageReader {
    type Item = Result<DeadLetter, SpoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.entries.next()?;
        Some(read_letter(&self.file, &self.path, &e))
    }
}

fn read_letter(file: &File, path: &Path, e: &Entry) -> Result<DeadLetter, SpoolError> {
    let frame = oplog::read_frame(file, path, e.offset, e.size)?;
    match oplog::unframe(&frame).and_then(op::decode) {
        Some(op::Op::Add(add)) if add.id == e.id && add.at_ms == e.at_ms => Ok(add.to_letter()),
        _ => Err(oplog::corrupt(path, e.id)),
    }
}

impl DeadLetters {
    /// Opens (or creates) the dead letters in `dir`, capped at `max_bytes`, changing the disk
    /// only through `disk`. Damage in the files is skipped, logged and counted
    /// ([`DeadLetterStats::corrupt`]), and a compaction that cannot be done (a full disk) is left
    /// for later: neither is an error.
    ///
    /// # Errors
    ///
    /// The directory or a file cannot be created or opened.
    pub(crate) fn open(
        dir: &Path,
        disk: Arc<dyn Disk>,
        fsync: bool,
        max_bytes: u64,
    ) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(|e| SpoolError::io("create directory", dir, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dead = OpLog::open(dir.join("dead.log"), disk.clone(), fsync)?;
        let replay = OpLog::open(dir.join("replay.log"), disk, fsync)?;
        let corrupt = dead.damaged() + replay.damaged();
        if corrupt > 0 {
            tracing::error!(consumer = %name, corrupt, letters = dead.live().len(),
                replaying = replay.live().len(),
                "dead letters: damage found at open; the letters that read back whole are kept");
        }
        Ok(Self {
            name,
            max_bytes,
            dropped: AtomicU64::new(0),
            corrupt,
            skipped_replays: AtomicU64::new(0),
            state: Mutex::new(State {
                dead,
                replay,
                handed_out: BTreeSet::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `payload` as a dead letter; past the cap the oldest are dropped first. A letter
    /// larger than the whole cap is dropped itself (counted and logged). One already kept under
    /// `id` is replaced. This does not acknowledge the record ([`Consumer::dead_letter`] does
    /// both): a caller that writes dead letters away from its consumer acknowledges after.
    ///
    /// # Errors
    ///
    /// The dead letter cannot be written; it is not kept.
    ///
    /// [`Consumer::dead_letter`]: crate::Consumer::dead_letter
    pub fn add(&self, id: u64, payload: &[u8], info: DeadLetterInfo) -> Result<(), SpoolError> {
        let at_ms = crate::spool::now_ms();
        let add = op::encode_add(id, at_ms, &info, payload);
        let size = (crate::record::HEADER + add.len()) as u64;
        if size > self.max_bytes {
            if self.count_dropped(1) {
                tracing::warn!(consumer = %self.name, id, bytes = size, cap = self.max_bytes,
                    dropped = self.dropped.load(Ordering::Relaxed),
                    "dead letters: one larger than the whole cap is dropped");
            }
            return Ok(());
        }
        let mut s = self.lock();
        // The oldest go first, until the new one fits (one already under this id is replaced).
        let mut room =
            s.dead.live_bytes() - s.dead.live().get(&id).map_or(0, |e| u64::from(e.size));
        let mut drop = Vec::new();
        for e in s.dead.live().values() {
            if room + size <= self.max_bytes {
                break;
            }
            if e.id != id {
                room -= u64::from(e.size);
                drop.push(e.id);
            }
        }
        let mut ops: Vec<Vec<u8>> = drop.iter().map(|&d| op::encode_remove(d)).collect();
        ops.push(add);
        let at = s.dead.append(&ops)?;
        for d in &drop {
            s.dead.remove(*d);
        }
        if let Some(&(offset, size)) = at.last() {
            s.dead.insert(Entry {
                id,
                at_ms,
                offset,
                size,
            });
        }
        if !drop.is_empty() && self.count_dropped(drop.len() as u64) {
            tracing::warn!(consumer = %self.name, now = drop.len(), oldest = drop[0], cap = self.max_bytes,
                dropped = self.dropped.load(Ordering::Relaxed),
                "dead letters over their cap: the oldest are dropped");
        }
        s.dead.compact_step();
        Ok(())
    }

    /// Counts `n` dropped letters; whether to log it: the first time, then once per 1,000, so
    /// that a vendor refusing everything does not flood the log.
    fn count_dropped(&self, n: u64) -> bool {
        let before = self.dropped.fetch_add(n, Ordering::Relaxed);
        before == 0 || before / 1000 != (before + n) / 1000
    }

    /// A reader of up to `limit` dead letters with ids after `after` (from the first when
    /// `None`), oldest first. The lock is held only to copy the page's index entries.
    pub fn page_reader(&self, after: Option<u64>, limit: usize) -> DeadLetterPageReader {
        let s = self.lock();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut entries: Vec<Entry> = s
            .dead
            .live()
            .range((from, Bound::Unbounded))
            .take(limit.saturating_add(1))
            .map(|(_, e)| e.clone())
            .collect();
        let more = entries.len() > limit;
        entries.truncate(limit);
        DeadLetterPageReader {
            file: s.dead.reader(),
            path: s.dead.path().to_owned(),
            next: more.then(|| entries.last().map(|e| e.id)).flatten(),
            entries: entries.into_iter(),
        }
    }

    /// Up to `limit` dead letters with ids after `after`, read from disk, oldest first.
    ///
    /// # Errors
    ///
    /// A dead letter cannot be read back.
    pub fn page(&self, after: Option<u64>, limit: usize) -> Result<DeadLetterPage, SpoolError> {
        let mut reader = self.page_reader(after, limit);
        let letters = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
        Ok(DeadLetterPage {
            letters,
            next: reader.next_cursor(),
        })
    }

    /// Current figures.
    pub fn stats(&self) -> DeadLetterStats {
        let s = self.lock();
        DeadLetterStats {
            letters: s.dead.live().len() as u64,
            bytes: s.dead.live_bytes(),
            replaying: s.replay.live().len() as u64,
            file_bytes: s.dead.file_bytes() + s.replay.file_bytes(),
            index_bytes: s.dead.index_bytes() + s.replay.index_bytes(),
            dropped: self.dropped.load(Ordering::Relaxed),
            corrupt: self.corrupt,
            skipped_replays: self.skipped_replays.load(Ordering::Relaxed),
        }
    }

    fn chosen(s: &State, ids: Option<&[u64]>) -> Vec<u64> {
        let live = s.dead.live();
        match ids {
            None => live.keys().copied().collect(),
            Some(ids) => ids
                .iter()
                .copied()
                .filter(|id| live.contains_key(id))
                .collect(),
        }
    }

    /// Deletes dead letters (all, or those with these ids) for good; returns how many.
    ///
    /// # Errors
    ///
    /// The change cannot be written.
    pub fn purge(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        let mut s = self.lock();
        let chosen = Self::chosen(&s, ids);
        let removes: Vec<Vec<u8>> = chosen.iter().map(|&id| op::encode_remove(id)).collect();
        s.dead.append(&removes)?;
        for id in &chosen {
            s.dead.remove(*id);
        }
        s.dead.compact_step();
        Ok(chosen.len())
    }
}
