//! Dead letters and their replay, per consumer.
//!
//! `dead/<consumer>/dead.log` records each dead letter (added; removed by purge, replay or the
//! cap) and `replay.log` each replayed one (added; removed once delivered). Both are append-only
//! files of checksummed operations (`dead/oplog.rs`, `dead/op.rs`), read back at open, so a dead
//! letter survives restarts and a replay interrupted by a crash is delivered after it. Each
//! change is synced before the call returns.
//!
//! Memory holds only an index (per letter: id, time, offset and size on disk, about 64 bytes):
//! events, reasons and vendor bodies are read from disk a page at a time. The store's lock
//! guards the index and the writes; reading a page takes it only to copy the page's index
//! entries, then reads from disk without it, so a slow page never holds up delivery. The
//! delivery engine and the management API share the store through an `Arc`.
//!
//! The dead letters of a consumer are capped (`SpoolConfig::dead_letter_max_bytes`). Past the
//! cap the oldest (lowest id: first received) are dropped to make room, counted and logged, as a
//! ring buffer would: refusing new dead letters would leave their records unacknowledged and stop
//! delivery behind them for good, which a cap for dead letters must never do.

mod op;
mod oplog;

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
}

/// The dead letters and replays of one consumer. Shared (`Arc`) by its consumer and whoever
/// lists, replays or purges them; every method takes the store's own lock briefly, never for
/// reading events from disk.
pub struct DeadLetters {
    name: String,
    max_bytes: u64,
    dropped: AtomicU64,
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

/// Chunks of a replay: at most this many bytes of dead letters are moved per hold of the lock.
const REPLAY_CHUNK: u64 = 4 << 20;

impl DeadLetters {
    /// Opens (or creates) the dead letters in `dir`, capped at `max_bytes`.
    pub(crate) fn open(dir: &Path, fsync: bool, max_bytes: u64) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(|e| SpoolError::io("create directory", dir, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            name,
            max_bytes,
            dropped: AtomicU64::new(0),
            state: Mutex::new(State {
                dead: OpLog::open(dir.join("dead.log"), fsync)?,
                replay: OpLog::open(dir.join("replay.log"), fsync)?,
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
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
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

    /// Moves dead letters (all, or those with these ids) to the replay queue; returns how many.
    /// Done in chunks of a few MiB, so delivery goes on between them.
    ///
    /// # Errors
    ///
    /// The change cannot be written (the chunks before stay moved).
    pub fn replay(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        let chosen = Self::chosen(&self.lock(), ids);
        let mut moved = 0;
        let mut rest = chosen.as_slice();
        while !rest.is_empty() {
            let mut s = self.lock();
            let mut adds = Vec::new();
            let mut ids = Vec::new();
            let mut bytes = 0u64;
            while let Some((&id, tail)) = rest.split_first() {
                if bytes >= REPLAY_CHUNK {
                    break;
                }
                rest = tail;
                // Gone meanwhile (purged, or dropped by the cap): nothing to replay.
                let Some(e) = s.dead.live().get(&id).cloned() else {
                    continue;
                };
                bytes += u64::from(e.size);
                adds.push(s.dead.read_op(&e)?);
                ids.push(e);
            }
            // Replay first, then remove from the dead letters: a crash between the two leaves the
            // letter in both places, delivered and still listed, never in neither.
            let at = s.replay.append(&adds)?;
            let removes: Vec<Vec<u8>> = ids.iter().map(|e| op::encode_remove(e.id)).collect();
            s.dead.append(&removes)?;
            for (e, (offset, size)) in ids.into_iter().zip(at) {
                s.dead.remove(e.id);
                s.replay.insert(Entry { offset, size, ..e });
                moved += 1;
            }
            s.dead.compact_step();
        }
        Ok(moved)
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

    /// Up to `max` replays not yet handed out, as (id, payload), read from disk without the lock.
    pub(crate) fn take_replays(&self, max: usize) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        let (file, path, entries) = {
            let mut s = self.lock();
            let State {
                replay, handed_out, ..
            } = &mut *s;
            let mut entries = Vec::new();
            for (id, e) in replay.live() {
                if entries.len() >= max {
                    break;
                }
                if handed_out.insert(*id) {
                    entries.push(e.clone());
                }
            }
            (replay.reader(), replay.path().to_owned(), entries)
        };
        let read: Result<Vec<_>, _> = entries
            .iter()
            .map(|e| read_letter(&file, &path, e).map(|dl| (dl.id, dl.payload)))
            .collect();
        if read.is_err() {
            let mut s = self.lock();
            for e in &entries {
                s.handed_out.remove(&e.id);
            }
        }
        read
    }

    /// Whether replays wait to be handed out.
    pub(crate) fn has_replays(&self) -> bool {
        let s = self.lock();
        s.replay.live().keys().any(|id| !s.handed_out.contains(id))
    }

    /// A replayed record was delivered (or dead-lettered again): what [`Consumer::ack`] does
    /// for a replayed record's receipt, for a caller that finishes replays away from its
    /// consumer (the write is synced, so it is not to be made under a lock delivery needs).
    ///
    /// # Errors
    ///
    /// The change cannot be written; the replay stays, delivered again after a restart.
    ///
    /// [`Consumer::ack`]: crate::Consumer::ack
    pub fn replay_done(&self, id: u64) -> Result<(), SpoolError> {
        let mut s = self.lock();
        if s.replay.live().contains_key(&id) {
            s.replay.append(&[op::encode_remove(id)])?;
            s.replay.remove(id);
            s.replay.compact_step();
        }
        s.handed_out.remove(&id);
        Ok(())
    }
}
