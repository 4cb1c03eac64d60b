//! One log of dead-letter operations on disk, and its index in memory.
//!
//! The index keeps, per live `ADD`, only its id, time, and where its frame is (offset, size):
//! the events, reasons and vendor bodies stay on disk and are read back by offset through a
//! shared read handle, without any lock. Frames are written at the known end of the file
//! (positioned writes, never append mode) through the spool's [`Disk`] seam, so tests inject
//! faults into every change. Open reads the file back frame by frame past damage
//! (`oplog/scan.rs`). When more than half of the file is removed letters (past a slack), the
//! live frames are copied, in order, to a new file that replaces it, a bounded step per change
//! (`oplog/compact.rs`).

mod compact;
mod scan;

use super::op;
use crate::disk::{self, Disk, DiskFile};
use crate::error::SpoolError;
use crate::record::{self, HEADER, MAX_RECORD};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::ErrorKind;
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
    /// Every change to the disk goes through it.
    disk: Arc<dyn Disk>,
    /// Opened for writing at `file_bytes` (never in append mode).
    file: Box<dyn DiskFile>,
    /// For reads by offset, shared with page readers (a compaction replaces it; readers keep the
    /// file they started on).
    reader: Arc<File>,
    fsync: bool,
    /// The last operation number written.
    ops: u64,
    /// Bytes of whole frames in the file: where the next one goes.
    file_bytes: u64,
    /// A failed write's bytes may lie past `file_bytes` (its cut failed): cut again first.
    dirty: bool,
    /// The directory must be synced before the next change is answered (a compaction's rename,
    /// or the file's creation, not yet durable).
    dir_unsynced: bool,
    /// Damaged or unreadable stretches found at open.
    damaged: u64,
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

impl OpLog {
    /// Opens the log at `path` (created when missing). Damage is skipped, counted
    /// ([`damaged`](Self::damaged)) and logged with the file's name, never an error; a torn tail
    /// is cut. A compaction due is tried, and on failure (a full disk) logged and left for later.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or created.
    pub fn open(path: PathBuf, disk: Arc<dyn Disk>, fsync: bool) -> Result<Self, SpoolError> {
        let found = scan::scan(&path).map_err(|e| SpoolError::io("open dead letters", &path, e))?;
        // A compaction the last process did not finish.
        let _ = disk.remove_file(&path.with_extension("tmp"));
        let mut file = if found.exists {
            disk.open_write(&path)
        } else {
            disk.create_new(&path)
        }
        .map_err(|e| SpoolError::io("open dead letters", &path, e))?;
        let reader =
            File::open(&path).map_err(|e| SpoolError::io("open dead letters", &path, e))?;
        let mut dirty = false;
        if found.end < found.len && !found.unreadable {
            tracing::warn!(file = %path.display(), at = found.end, cut = found.len - found.end,
                "dead letters: cutting a torn or corrupt tail");
            if let Err(e) = file.set_len(found.end).and_then(|()| file.sync_all()) {
                // Frames written next go over it; what is left after them is never taken.
                tracing::error!(file = %path.display(), error = %e, "dead letters: cannot cut a torn tail");
                dirty = true;
            }
        }
        let mut log = Self {
            path,
            disk,
            file,
            reader: Arc::new(reader),
            fsync,
            ops: found.ops,
            file_bytes: found.end,
            dirty,
            dir_unsynced: !found.exists && fsync,
            damaged: found.damaged,
            live: BTreeMap::new(),
            live_bytes: 0,
            index_bytes: 0,
            appended: 0,
            compaction: None,
        };
        for (_, e) in found.live {
            log.insert(e);
        }
        if let Err(e) = log.compact_now() {
            tracing::warn!(file = %log.path.display(), error = %e,
                "dead letters: cannot compact at open; tried again as letters change");
        }
        Ok(log)
    }

    /// Damaged or unreadable stretches found at open.
    pub fn damaged(&self) -> u64 {
        self.damaged
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

    /// Writes `ops` as frames at the end (at `file_bytes`, never in append mode), synced;
    /// returns where each frame starts and its size. A failed write is cut back off; when the
    /// cut fails too, the next write goes over it, and what it leaves after that write is never
    /// read back: a failed write's numbers are never used again, and every frame read must be
    /// numbered above the one before.
    pub fn append(&mut self, ops: &[Vec<u8>]) -> Result<Vec<(u64, u32)>, SpoolError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.sync_dir_owed()?;
        if self.dirty && self.file.set_len(self.file_bytes).is_ok() {
            self.dirty = false;
        }
        let mut buf = Vec::new();
        let mut at = Vec::with_capacity(ops.len());
        let mut n = self.ops;
        for o in ops {
            n += 1;
            let start = buf.len();
            record::encode(&mut buf, n, o);
            at.push((self.file_bytes + start as u64, (buf.len() - start) as u32));
        }
        // Used, whatever happens: frames a failed write leaves behind are numbered below the next.
        self.ops = n;
        let fsync = self.fsync;
        let file = self.file.as_mut();
        let written = disk::write_all_at(file, &buf, self.file_bytes)
            .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            if let Err(cut) = file.set_len(self.file_bytes) {
                tracing::error!(file = %self.path.display(), error = %cut,
                    "dead letters: cannot cut back a failed write; the next write goes over it");
                self.dirty = true;
            }
            return Err(SpoolError::io("write dead letters", &self.path, e));
        }
        self.file_bytes += buf.len() as u64;
        self.appended += buf.len() as u64;
        Ok(at)
    }

    /// Syncs the directory when a rename or creation in it is not yet known durable: no change
    /// is answered Ok while the file it is written to could vanish in a power loss.
    fn sync_dir_owed(&mut self) -> Result<(), SpoolError> {
        if !self.dir_unsynced {
            return Ok(());
        }
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        self.disk
            .sync_dir(dir)
            .map_err(|e| SpoolError::io("sync dead-letter directory", dir, e))?;
        self.dir_unsynced = false;
        Ok(())
    }
}

/// The operation bytes of the entry `e`, read from `file` (the log at `path`).
pub(super) fn read_op(file: &File, path: &Path, e: &Entry) -> Result<Vec<u8>, SpoolError> {
    let frame = read_frame(file, path, e.offset, e.size)?;
    match unframe(&frame) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(corrupt(path, e.id)),
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
