//! One append-only log of dead-letter operations on disk, and its index in memory.
//!
//! The index keeps, per live `ADD`, only its id, time, and where its frame is (offset, size):
//! the events, reasons and vendor bodies stay on disk and are read back by offset through a shared read handle, without any lock. Open
//! scans the file once, frame by frame, holding one frame at a time. A failed write is cut back
//! off the end, so later frames are never written behind a torn one. When more than half of the
//! file is removed letters (past a slack), the live frames are copied, in order, to a new file
//! that replaces it, a bounded step per change (`oplog/compact.rs`).

mod compact;

use super::op::{self, Op};
use crate::error::SpoolError;
use crate::record::{self, HEADER, MAX_RECORD};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest operation read back: an event of the largest record, with its reason and body.
const MAX_OP: usize = MAX_RECORD + op::MAX_BODY + op::MAX_REASON + 64;

/// Where one live dead letter is. Nothing else is needed before reading it: a page reads the
/// letter whole from disk.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub id: u64,
    /// When it was dead-lettered (checked against the frame read back).
    pub at_ms: u64,
    /// Where its frame starts in the file.
    pub offset: u64,
    /// Its frame's bytes on disk.
    pub size: u32,
}

impl Entry {
    /// Heap and index bytes this entry costs (its map node counted roughly).
    fn cost(&self) -> u64 {
        (std::mem::size_of::<Self>() + 3 * std::mem::size_of::<u64>()) as u64
    }
}

/// One operation log: `dead.log` or `replay.log`.
pub(super) struct OpLog {
    path: PathBuf,
    /// Opened for appending.
    file: File,
    /// For reads by offset, shared with page readers (a compaction replaces it; readers keep the
    /// file they started on).
    reader: Arc<File>,
    fsync: bool,
    /// The last operation number written.
    ops: u64,
    /// Bytes of whole frames in the file: where the next one goes.
    file_bytes: u64,
    live: BTreeMap<u64, Entry>,
    live_bytes: u64,
    index_bytes: u64,
    /// Bytes appended since the last compaction step (the next step copies more than that).
    appended: u64,
    /// A compaction under way, advanced a bounded step at a time.
    compaction: Option<compact::Compaction>,
}

fn crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn word(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// The operation bytes of the frame `frame`, if it is whole and its checksum matches.
pub(super) fn unframe(frame: &[u8]) -> Option<&[u8]> {
    let header = frame.get(..HEADER)?;
    let len = word(header, 0) as usize;
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&header[8..16]);
    let payload = frame.get(HEADER..HEADER + len)?;
    (crc(u64::from_le_bytes(seq), payload) == word(header, 4)).then_some(payload)
}

/// Reads the frame at `offset` of `size` bytes from `file`.
pub(super) fn read_frame(
    file: &File,
    path: &Path,
    offset: u64,
    size: u32,
) -> Result<Vec<u8>, SpoolError> {
    let mut frame = vec![0u8; size as usize];
    file.read_exact_at(&mut frame, offset)
        .map_err(|e| SpoolError::io("read dead letter", path, e))?;
    Ok(frame)
}

fn open_append(path: &Path) -> Result<(File, Arc<File>), SpoolError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| SpoolError::io("open dead letters", path, e))?;
    let reader = File::open(path).map_err(|e| SpoolError::io("open dead letters", path, e))?;
    Ok((file, Arc::new(reader)))
}

/// What a scan of a log found.
struct Scan {
    live: BTreeMap<u64, Entry>,
    ops: u64,
    /// Bytes of whole, valid frames from the start.
    good: u64,
    /// Bytes in the file.
    len: u64,
}

/// Reads a log from the start, one frame at a time, stopping at the first frame that is cut
/// short or fails its checksum (a write that never returned to its caller).
fn scan(path: &Path) -> Result<Scan, SpoolError> {
    let mut out = Scan {
        live: BTreeMap::new(),
        ops: 0,
        good: 0,
        len: 0,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(SpoolError::io("read dead letters", path, e)),
    };
    out.len = file
        .metadata()
        .map_err(|e| SpoolError::io("read dead letters", path, e))?
        .len();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut frame = Vec::new();
    loop {
        frame.resize(HEADER, 0);
        match r.read_exact(&mut frame) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(SpoolError::io("read dead letters", path, e)),
        }
        let len = word(&frame, 0) as usize;
        if len > MAX_OP {
            break;
        }
        frame.resize(HEADER + len, 0);
        match r.read_exact(&mut frame[HEADER..]) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(SpoolError::io("read dead letters", path, e)),
        }
        let Some(bytes) = unframe(&frame) else { break };
        let offset = out.good;
        out.good += frame.len() as u64;
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&frame[8..16]);
        out.ops = out.ops.max(u64::from_le_bytes(seq));
        match op::decode(bytes) {
            Some(Op::Add(add)) => {
                out.live.insert(
                    add.id,
                    Entry {
                        id: add.id,
                        at_ms: add.at_ms,
                        offset,
                        size: frame.len() as u32,
                    },
                );
            }
            Some(Op::Remove(id)) => {
                out.live.remove(&id);
            }
            None => {}
        }
    }
    Ok(out)
}

impl OpLog {
    /// Opens the log at `path` (created when missing), cutting off a torn last operation.
    pub fn open(path: PathBuf, fsync: bool) -> Result<Self, SpoolError> {
        let found = scan(&path)?;
        // A compaction the last process did not finish.
        let _ = std::fs::remove_file(path.with_extension("tmp"));
        if found.good < found.len {
            tracing::warn!(file = %path.display(), at = found.good, cut = found.len - found.good,
                "dead letters: cutting a torn or corrupt tail");
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(found.good).and_then(|()| f.sync_all()))
                .map_err(|e| SpoolError::io("cut torn tail", &path, e))?;
        }
        let (file, reader) = open_append(&path)?;
        let mut log = Self {
            path,
            file,
            reader,
            fsync,
            ops: found.ops,
            file_bytes: found.good,
            live: BTreeMap::new(),
            live_bytes: 0,
            index_bytes: 0,
            appended: 0,
            compaction: None,
        };
        for (_, e) in found.live {
            log.insert(e);
        }
        log.compact_now()?;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn live(&self) -> &BTreeMap<u64, Entry> {
        &self.live
    }

    /// Bytes on disk of the live entries' frames.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Bytes of the file.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Bytes the index takes in memory, roughly.
    pub fn index_bytes(&self) -> u64 {
        self.index_bytes
    }

    /// The read handle of the current file.
    pub fn reader(&self) -> Arc<File> {
        self.reader.clone()
    }

    /// Puts an entry in the index (replacing one with its id).
    pub fn insert(&mut self, e: Entry) {
        self.live_bytes += u64::from(e.size);
        self.index_bytes += e.cost();
        if let Some(old) = self.live.insert(e.id, e) {
            self.forget(&old);
        }
    }

    /// Takes an entry out of the index (its frame stays until a compaction).
    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.live.remove(&id)?;
        self.forget(&e);
        Some(e)
    }

    fn forget(&mut self, e: &Entry) {
        self.live_bytes -= u64::from(e.size);
        self.index_bytes -= e.cost();
    }

    /// Writes `ops` as frames at the end, synced; returns where each frame starts and its size.
    /// A failed write is cut back off, so the file ends on a whole frame.
    pub fn append(&mut self, ops: &[Vec<u8>]) -> Result<Vec<(u64, u32)>, SpoolError> {
        let mut buf = Vec::new();
        let mut at = Vec::with_capacity(ops.len());
        let mut n = self.ops;
        for o in ops {
            n += 1;
            let start = buf.len();
            record::encode(&mut buf, n, o);
            at.push((self.file_bytes + start as u64, (buf.len() - start) as u32));
        }
        let fsync = self.fsync;
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| if fsync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            if let Err(cut) = self.file.set_len(self.file_bytes) {
                tracing::error!(file = %self.path.display(), error = %cut, "dead letters: cannot cut back a failed write");
            }
            return Err(SpoolError::io("write dead letters", &self.path, e));
        }
        self.ops = n;
        self.file_bytes += buf.len() as u64;
        self.appended += buf.len() as u64;
        Ok(at)
    }

    /// The operation bytes of a live entry, read from disk.
    pub fn read_op(&self, e: &Entry) -> Result<Vec<u8>, SpoolError> {
        let frame = read_frame(&self.reader, &self.path, e.offset, e.size)?;
        match unframe(&frame) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(corrupt(&self.path, e.id)),
        }
    }
}

/// The error of a frame that no longer reads back as the dead letter the index says.
pub(super) fn corrupt(path: &Path, id: u64) -> SpoolError {
    SpoolError::io(
        "read dead letter",
        path,
        std::io::Error::new(
            ErrorKind::InvalidData,
            format!("dead letter {id} does not read back whole"),
        ),
    )
}
