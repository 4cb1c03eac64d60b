//! Segment files: `<first seq, 20 digits>.seg`, an 8-byte magic, then records back to back.
//!
//! Recovery reads every segment once at open. The last one's torn tail (a record cut short or
//! failing its checksum, as a crash mid-write leaves it) is cut off. A segment before the last
//! that is corrupt part-way is kept up to the last good record and the rest is skipped, with an
//! error log line naming the file and a counter: the spool opens either way, so a bad disk block
//! never turns into a crash loop. A segment holds only records numbered below the next segment's
//! name; any past it, and anything after a segment that is whole up to that name, are the remains
//! of a failed write and are cut (`recovery.rs`). So is everything from a zeroed record header on.

use crate::disk::{self, Disk, DiskFile};
use crate::error::SpoolError;
use crate::record::{self, Decoded};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The first bytes of every segment.
pub(crate) const MAGIC: &[u8; 8] = b"SGSPOOL1";

/// What the spool knows of one segment.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub path: PathBuf,
    /// The sequence number the file is named after (its first record's, when it has one).
    pub base: u64,
    /// The last valid record's sequence number, or `base - 1` when empty.
    pub last: u64,
    /// Bytes up to the end of the last valid record.
    pub len: u64,
    /// When the segment was closed (for retention), as seconds since the epoch.
    pub closed_at: Option<u64>,
}

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Segments read.
    pub segments: usize,
    /// Records found valid.
    pub records: u64,
    /// Bytes cut off the ends of segments: a torn write (a crash mid-write), or the remains of a
    /// write that failed and could not be cut off at the time.
    pub torn_bytes: u64,
    /// Segments corrupt part-way, by file name, with what was wrong.
    pub corrupt: Vec<String>,
}

pub(crate) fn name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// The segment files in `dir`, oldest first.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let mut found = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| SpoolError::io("read directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| SpoolError::io("read directory", dir, e))?;
        let path = entry.path();
        let base = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(base) = base {
            found.push((base, path));
        }
    }
    found.sort();
    Ok(found)
}

/// What follows a segment's last good record, when something does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Bytes that are not a valid next record: a torn write, or corruption.
    Torn(&'static str),
    /// Valid records numbered at or past the next segment's name: the remains of a write that
    /// failed, after which the writer started that segment. Never acknowledged.
    Superseded,
}

/// Reads one segment, whose records must come after `after` and, when a segment follows it,
/// before that segment's name `below`. The records it holds are handed to `each`.
pub(crate) fn scan(
    path: &Path,
    base: u64,
    after: u64,
    below: Option<u64>,
    mut each: impl FnMut(u64, &[u8]),
) -> Result<(Segment, Option<Tail>), SpoolError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| SpoolError::io("read segment", path, e))?;
    let mut seg = Segment {
        path: path.to_owned(),
        base,
        last: base.saturating_sub(1).max(after),
        len: MAGIC.len() as u64,
        closed_at: None,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        seg.len = 0;
        let problem = if bytes.is_empty() {
            "empty file"
        } else {
            "bad magic"
        };
        return Ok((seg, Some(Tail::Torn(problem))));
    }
    let mut at = MAGIC.len();
    let mut prev = after;
    let tail = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break None;
        }
        if rest.iter().take(record::HEADER).all(|&b| b == 0) {
            // The writer zeroed the first header of a write that failed: the end.
            break Some(Tail::Superseded);
        }
        match record::decode(rest) {
            Decoded::Record { seq, .. } if below.is_some_and(|b| seq >= b) => {
                break Some(Tail::Superseded);
            }
            Decoded::Record { seq, payload, size } if seq > prev => {
                each(seq, payload);
                prev = seq;
                seg.last = seq;
                at += size;
            }
            Decoded::Record { .. } => break Some(Tail::Torn("sequence went backwards")),
            Decoded::Short => break Some(Tail::Torn("record cut short")),
            Decoded::Corrupt(why) => break Some(Tail::Torn(why)),
        }
    };
    // A segment that holds every record up to the next one's name lost nothing: what follows
    // its last record is the remains of a write that failed (its cut failed too).
    let tail = match tail {
        Some(Tail::Torn(_)) if below.is_some_and(|b| seg.last + 1 == b) => Some(Tail::Superseded),
        tail => tail,
    };
    Ok((seg.with_len(at), tail))
}

impl Segment {
    fn with_len(mut self, len: usize) -> Self {
        self.len = len as u64;
        self
    }
}

/// Creates a new, empty segment and makes its existence durable.
///
/// A file of that name holding no more than the magic can only be what an earlier attempt left
/// when it failed half-way (the writer names a new segment past every record it holds): it is
/// made whole in place, never removed first, since its name may be what bounds the remains of
/// a failed write in the segment before. One holding more is never touched. When this attempt
/// fails, the file stays for the next attempt (or recovery) to finish.
pub(crate) fn create(
    disk: &dyn Disk,
    dir: &Path,
    base: u64,
    fsync: bool,
) -> Result<(Segment, Box<dyn DiskFile>), SpoolError> {
    let path = dir.join(name(base));
    let half_made = || fs::metadata(&path).is_ok_and(|m| m.len() <= MAGIC.len() as u64);
    let mut file = match disk.create_new(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && half_made() => {
            tracing::warn!(file = %path.display(), "spool: finishing a segment file left half-made");
            disk.open_write(&path)
                .map_err(|e| SpoolError::io("open segment", &path, e))?
        }
        made => made.map_err(|e| SpoolError::io("create segment", &path, e))?,
    };
    let mut made = disk::write_all_at(file.as_mut(), MAGIC, 0)
        .map_err(|e| SpoolError::io("write segment", &path, e));
    if made.is_ok() && fsync {
        made = file
            .sync_all()
            .map_err(|e| SpoolError::io("sync segment", &path, e))
            .and_then(|()| {
                disk.sync_dir(dir)
                    .map_err(|e| SpoolError::io("sync directory", dir, e))
            });
    }
    made?;
    Ok((
        Segment {
            path,
            base,
            last: base - 1,
            len: MAGIC.len() as u64,
            closed_at: None,
        },
        file,
    ))
}

/// Reads records of one segment sequentially through a buffer, never past a given length.
pub(crate) struct Reader {
    file: File,
    path: PathBuf,
    /// File offset of `buf[0]`.
    buf_at: u64,
    buf: Vec<u8>,
    /// Offset of the next record.
    pub at: u64,
}

const CHUNK: usize = 256 << 10;

impl Reader {
    pub fn open(path: &Path) -> Result<Self, SpoolError> {
        let file = File::open(path).map_err(|e| SpoolError::io("open segment", path, e))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            buf_at: 0,
            buf: Vec::new(),
            at: MAGIC.len() as u64,
        })
    }

    /// The next record before `end`, if one is whole before it.
    pub fn next(&mut self, end: u64) -> Result<Option<(u64, Vec<u8>)>, SpoolError> {
        if self.at >= end {
            return Ok(None);
        }
        for attempt in 0..2 {
            if self.at >= self.buf_at && self.at - self.buf_at <= self.buf.len() as u64 {
                let lo = (self.at - self.buf_at) as usize;
                match record::decode(&self.buf[lo..]) {
                    Decoded::Record { seq, payload, size } if self.at + size as u64 <= end => {
                        let payload = payload.to_vec();
                        self.at += size as u64;
                        return Ok(Some((seq, payload)));
                    }
                    Decoded::Short if attempt == 0 => {}
                    _ => return Ok(None),
                }
            }
            if attempt == 0 {
                self.refill(end)?;
            }
        }
        Ok(None)
    }

    /// Loads the bytes from `at` on: everything up to `end`, or enough for the largest record.
    fn refill(&mut self, end: u64) -> Result<(), SpoolError> {
        use std::os::unix::fs::FileExt;
        let want = ((end - self.at) as usize).min(CHUNK.max(record::MAX_RECORD + record::HEADER));
        self.buf.resize(want, 0);
        let mut got = 0;
        while got < want {
            let n = self
                .file
                .read_at(&mut self.buf[got..], self.at + got as u64)
                .map_err(|e| SpoolError::io("read segment", &self.path, e))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        self.buf.truncate(got);
        self.buf_at = self.at;
        Ok(())
    }
}
