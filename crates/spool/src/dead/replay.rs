//! Replays of dead letters: moving them to `replay.log` (read from disk without the store's
//! lock, capped as dead letters are), handing them to the consumer before the log (one that
//! cannot be read is skipped, never stops delivery), and finishing them once delivered.

use super::oplog::{self, Entry};
use super::{DeadLetters, State, op, read_letter};
use crate::error::SpoolError;
use std::sync::atomic::Ordering;

/// Chunks of a replay: at most this many bytes of dead letters are moved per hold of the lock.
const REPLAY_CHUNK: u64 = 4 << 20;

impl DeadLetters {
    /// Moves dead letters (all, or those with these ids) to the replay queue; returns how many.
    /// Done in chunks of a few MiB: each chunk's letters are read from disk without the lock,
    /// then moved under it, so delivery goes on meanwhile. Replays not yet delivered are capped
    /// as dead letters are (`dead_letter_max_bytes`): letters past that stay dead letters (not
    /// counted), to be replayed once the replays before them are delivered.
    ///
    /// # Errors
    ///
    /// A letter cannot be read back, or the change cannot be written (the chunks before stay
    /// moved).
    pub fn replay(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        let chosen = Self::chosen(&self.lock(), ids);
        let mut moved = 0;
        let mut rest = chosen.as_slice();
        while !rest.is_empty() {
            let (file, path, entries) = {
                let s = self.lock();
                let mut entries = Vec::new();
                let mut bytes = 0u64;
                while let Some((&id, tail)) = rest.split_first() {
                    if bytes >= REPLAY_CHUNK {
                        break;
                    }
                    rest = tail;
                    // Gone meanwhile (purged, or dropped by the cap): nothing to replay.
                    if let Some(e) = s.dead.live().get(&id) {
                        bytes += u64::from(e.size);
                        entries.push(e.clone());
                    }
                }
                (s.dead.reader(), s.dead.path().to_owned(), entries)
            };
            let mut read = Vec::with_capacity(entries.len());
            for e in entries {
                read.push((oplog::read_op(&file, &path, &e)?, e));
            }
            let (n, full) = self.move_to_replay(read)?;
            moved += n;
            if full {
                break;
            }
        }
        Ok(moved)
    }

    /// Moves letters read from disk to the replay queue, those still listed as they were read
    /// and as many as its cap leaves room for; returns how many, and whether it is full.
    fn move_to_replay(&self, read: Vec<(Vec<u8>, Entry)>) -> Result<(usize, bool), SpoolError> {
        let mut s = self.lock();
        let mut room = self.max_bytes.saturating_sub(s.replay.live_bytes());
        let mut full = false;
        let mut adds = Vec::new();
        let mut entries = Vec::new();
        for (add, e) in read {
            let same = s
                .dead
                .live()
                .get(&e.id)
                .is_some_and(|now| now.at_ms == e.at_ms && now.size == e.size);
            if !same {
                continue;
            }
            let freed = s.replay.live().get(&e.id).map_or(0, |r| u64::from(r.size));
            if u64::from(e.size) > room + freed {
                full = true;
                continue;
            }
            room = room + freed - u64::from(e.size);
            adds.push(add);
            entries.push(e);
        }
        // Replay first, then remove from the dead letters: a crash between the two leaves the
        // letter in both places, delivered and still listed, never in neither.
        let at = s.replay.append(&adds)?;
        let removes: Vec<Vec<u8>> = entries.iter().map(|e| op::encode_remove(e.id)).collect();
        s.dead.append(&removes)?;
        let moved = entries.len();
        for (e, (offset, size)) in entries.into_iter().zip(at) {
            s.dead.remove(e.id);
            s.replay.insert(Entry { offset, size, ..e });
        }
        if full {
            tracing::warn!(consumer = %self.name, cap = self.max_bytes, replaying = s.replay.live().len(),
                "dead letters: replays waiting for delivery are at the cap; the rest stay dead letters");
        }
        s.dead.compact_step();
        s.replay.compact_step();
        Ok((moved, full))
    }

    /// Up to `max` replays not yet handed out, as (id, payload), read from disk without the lock.
    /// One that cannot be read back is skipped (logged and counted in
    /// [`DeadLetterStats::skipped_replays`]) and not handed out again in this process: one bad
    /// letter never stops delivery. It stays in `replay.log` and is tried again after a restart.
    pub(crate) fn take_replays(&self, max: usize) -> Vec<(u64, Vec<u8>)> {
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
        let mut out = Vec::with_capacity(entries.len());
        for e in &entries {
            match read_letter(&file, &path, e) {
                Ok(dl) => out.push((dl.id, dl.payload)),
                Err(err) => {
                    let skipped = self.skipped_replays.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::error!(consumer = %self.name, id = e.id, error = %err, skipped,
                        "dead letters: a replayed letter cannot be read back; skipped");
                }
            }
        }
        out
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
