//! Dead letters and their replay, per consumer.
//!
//! `dead/<consumer>/dead.log` records each dead letter (added; removed by purge or replay) and
//! `replay.log` each replayed one (added; removed once delivered). Both are append-only files of
//! the spool's checksummed records, read back at open, so a dead letter survives restarts and a
//! replay interrupted by a crash is delivered after it. Each change is synced before the call
//! returns. Files are compacted at open when most of what they hold was removed.

use crate::error::SpoolError;
use crate::record::{self, Decoded};
use crate::segment::sync_dir;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a record was given up on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterInfo {
    /// Why (`vendor_rejected`, `max_attempts`, `too_old`, ...).
    pub reason: String,
    /// The vendor's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// The vendor's last response body (or the error, if it did not answer).
    pub body: String,
    /// Delivery attempts made.
    pub attempts: u32,
}

/// A dead-lettered record.
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

const ADD: u8 = 1;
const REMOVE: u8 = 2;

/// One append-only log of add and remove operations, and the entries it leaves.
struct OpLog {
    path: PathBuf,
    file: File,
    ops: u64,
    live: BTreeMap<u64, DeadLetter>,
}

impl OpLog {
    fn open(path: PathBuf, fsync: bool) -> Result<Self, SpoolError> {
        let mut live = BTreeMap::new();
        let mut ops = 0u64;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(SpoolError::io("read dead letters", &path, e)),
        };
        let mut at = 0;
        while at < bytes.len() {
            let Decoded::Record { seq, payload, size } = record::decode(&bytes[at..]) else {
                // A torn last operation: it never returned to its caller. Cut it off below.
                break;
            };
            ops = seq;
            at += size;
            match decode_op(payload) {
                Some((ADD, Some(dl))) => {
                    live.insert(dl.id, dl);
                }
                Some((REMOVE, None)) => {
                    let id = payload
                        .get(1..9)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_le_bytes);
                    if let Some(id) = id {
                        live.remove(&id);
                    }
                }
                _ => {}
            }
        }
        let mut log = Self {
            file: open_append(&path)?,
            path,
            ops,
            live,
        };
        if at < bytes.len() || (ops > 1000 && ops as usize > 2 * log.live.len()) {
            log.compact(fsync)?;
        }
        Ok(log)
    }

    fn compact(&mut self, fsync: bool) -> Result<(), SpoolError> {
        let tmp = self.path.with_extension("tmp");
        let mut buf = Vec::new();
        self.ops = 0;
        for dl in self.live.values() {
            self.ops += 1;
            record::encode(&mut buf, self.ops, &encode_add(dl));
        }
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&buf)?;
            if fsync {
                f.sync_all()?;
            }
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| SpoolError::io("compact dead letters", &self.path, e))?;
        if let Some(dir) = self.path.parent()
            && fsync
        {
            sync_dir(dir)?;
        }
        self.file = open_append(&self.path)?;
        Ok(())
    }

    fn write(&mut self, payloads: &[Vec<u8>], fsync: bool) -> Result<(), SpoolError> {
        let mut buf = Vec::new();
        for p in payloads {
            self.ops += 1;
            record::encode(&mut buf, self.ops, p);
        }
        self.file
            .write_all(&buf)
            .and_then(|()| if fsync { self.file.sync_data() } else { Ok(()) })
            .map_err(|e| SpoolError::io("write dead letters", &self.path, e))
    }
}

fn open_append(path: &Path) -> Result<File, SpoolError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| SpoolError::io("open dead letters", path, e))
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn encode_add(dl: &DeadLetter) -> Vec<u8> {
    let mut out = vec![ADD];
    out.extend_from_slice(&dl.id.to_le_bytes());
    out.extend_from_slice(&dl.at_ms.to_le_bytes());
    out.extend_from_slice(&dl.info.attempts.to_le_bytes());
    out.extend_from_slice(&dl.info.status.unwrap_or(0).to_le_bytes());
    put(&mut out, dl.info.reason.as_bytes());
    put(&mut out, dl.info.body.as_bytes());
    put(&mut out, &dl.payload);
    out
}

fn encode_remove(id: u64) -> Vec<u8> {
    let mut out = vec![REMOVE];
    out.extend_from_slice(&id.to_le_bytes());
    out
}

fn decode_op(p: &[u8]) -> Option<(u8, Option<DeadLetter>)> {
    let (&op, mut rest) = p.split_first()?;
    if op != ADD {
        return Some((op, None));
    }
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let id = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let at_ms = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let attempts = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let status = u16::from_le_bytes(take(2)?.try_into().ok()?);
    let mut field = || -> Option<Vec<u8>> {
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        Some(take(n)?.to_vec())
    };
    let reason = String::from_utf8(field()?).ok()?;
    let body = String::from_utf8(field()?).ok()?;
    let payload = field()?;
    Some((
        ADD,
        Some(DeadLetter {
            id,
            payload,
            info: DeadLetterInfo {
                reason,
                status: (status != 0).then_some(status),
                body,
                attempts,
            },
            at_ms,
        }),
    ))
}

/// The dead letters and replays of one consumer.
pub(crate) struct DeadLetters {
    fsync: bool,
    state: Mutex<State>,
}

struct State {
    dead: OpLog,
    replay: OpLog,
    /// Replays handed to the consumer in this process and not yet delivered.
    handed_out: std::collections::BTreeSet<u64>,
}

impl DeadLetters {
    pub fn open(dir: &Path, fsync: bool) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(|e| SpoolError::io("create directory", dir, e))?;
        Ok(Self {
            fsync,
            state: Mutex::new(State {
                dead: OpLog::open(dir.join("dead.log"), fsync)?,
                replay: OpLog::open(dir.join("replay.log"), fsync)?,
                handed_out: Default::default(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn add(&self, id: u64, payload: Vec<u8>, info: DeadLetterInfo) -> Result<(), SpoolError> {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let dl = DeadLetter {
            id,
            payload,
            info,
            at_ms,
        };
        let mut s = self.lock();
        s.dead.write(&[encode_add(&dl)], self.fsync)?;
        s.dead.live.insert(id, dl);
        Ok(())
    }

    pub fn list(&self) -> Vec<DeadLetter> {
        self.lock().dead.live.values().cloned().collect()
    }

    fn chosen(live: &BTreeMap<u64, DeadLetter>, ids: Option<&[u64]>) -> Vec<u64> {
        match ids {
            None => live.keys().copied().collect(),
            Some(ids) => ids
                .iter()
                .copied()
                .filter(|id| live.contains_key(id))
                .collect(),
        }
    }

    /// Moves dead letters to the replay queue; returns how many.
    pub fn replay(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        let mut s = self.lock();
        let chosen = Self::chosen(&s.dead.live, ids);
        let adds: Vec<Vec<u8>> = chosen
            .iter()
            .filter_map(|id| s.dead.live.get(id).map(encode_add))
            .collect();
        // Replay first, then remove from the dead letters: a crash between the two leaves the
        // letter in both places, delivered and still listed, never in neither.
        s.replay.write(&adds, self.fsync)?;
        let removes: Vec<Vec<u8>> = chosen.iter().map(|&id| encode_remove(id)).collect();
        s.dead.write(&removes, self.fsync)?;
        for id in &chosen {
            if let Some(dl) = s.dead.live.remove(id) {
                s.replay.live.insert(*id, dl);
            }
        }
        Ok(chosen.len())
    }

    /// Deletes dead letters for good; returns how many.
    pub fn purge(&self, ids: Option<&[u64]>) -> Result<usize, SpoolError> {
        let mut s = self.lock();
        let chosen = Self::chosen(&s.dead.live, ids);
        let removes: Vec<Vec<u8>> = chosen.iter().map(|&id| encode_remove(id)).collect();
        s.dead.write(&removes, self.fsync)?;
        for id in &chosen {
            s.dead.live.remove(id);
        }
        Ok(chosen.len())
    }

    /// Up to `max` replays not yet handed out, as (id, payload).
    pub fn take_replays(&self, max: usize) -> Vec<(u64, Vec<u8>)> {
        let mut s = self.lock();
        let State {
            replay, handed_out, ..
        } = &mut *s;
        let mut out = Vec::new();
        for (id, dl) in &replay.live {
            if out.len() >= max {
                break;
            }
            if handed_out.insert(*id) {
                out.push((*id, dl.payload.clone()));
            }
        }
        out
    }

    /// Whether replays wait to be handed out.
    pub fn has_replays(&self) -> bool {
        let s = self.lock();
        s.replay.live.keys().any(|id| !s.handed_out.contains(id))
    }

    /// A replayed record was delivered (or dead-lettered again).
    pub fn replay_done(&self, id: u64) -> Result<(), SpoolError> {
        let mut s = self.lock();
        if s.replay.live.remove(&id).is_some() {
            s.replay.write(&[encode_remove(id)], self.fsync)?;
        }
        s.handed_out.remove(&id);
        Ok(())
    }
}
