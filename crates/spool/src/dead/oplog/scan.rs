//! Reading a log back at open, one frame at a time, past damage.
//!
//! A frame is taken when it is whole, its checksum matches and its operation number is above
//! the last one taken (every write numbers its frames above all before it, so a frame left
//! behind by a failed write, numbered below the frames written over and after it, is never
//! taken). At a frame that is not, the scan looks for the next one that is, byte by byte (only
//! plausible headers are checked, so damage costs one pass over it): the stretch between is
//! counted and logged, and the letters after it are kept. Past the last good frame is a torn
//! tail (a write that never returned), cut at open. A read error stops the scan: what was read
//! is kept, nothing after it is cut, and new frames go after the whole file.

use super::super::op::{self, Op};
use super::{Entry, MAX_OP, unframe, word};
use crate::record::HEADER;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// How far above the last operation number a frame found past damage may be (garbage read as a
/// header is mostly far above).
const PLAUSIBLE: u64 = 1 << 48;
/// Bytes read from the file at a time.
const WINDOW: usize = 1 << 20;

/// What a scan of a log found.
pub(super) struct Scan {
    /// The file exists.
    pub exists: bool,
    pub live: BTreeMap<u64, Entry>,
    /// The highest operation number taken.
    pub ops: u64,
    /// Where the next frame goes: after the last good frame, or after the whole file when part
    /// of it could not be read.
    pub end: u64,
    /// Bytes in the file.
    pub len: u64,
    /// Damaged stretches skipped, plus one for a read error.
    pub damaged: u64,
    /// A read error stopped the scan (nothing may be cut).
    pub unreadable: bool,
}

/// The file through a window of bytes, read a megabyte at a time.
struct Window {
    file: File,
    len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl Window {
    /// `n` bytes at `at`, or `None` past the end of the file.
    fn get(&mut self, at: u64, n: usize) -> io::Result<Option<&[u8]>> {
        if at + n as u64 > self.len {
            return Ok(None);
        }
        let inside = at >= self.start && at + n as u64 <= self.start + self.buf.len() as u64;
        if !inside {
            let want = (self.len - at).min(n.max(WINDOW) as u64) as usize;
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, at)?;
            self.start = at;
        }
        let from = (at - self.start) as usize;
        Ok(Some(&self.buf[from..from + n]))
    }

    /// The frame at `at` if it is whole, valid and numbered above `last`: its bytes and number.
    fn frame(&mut self, at: u64, last: u64, strict: bool) -> io::Result<Option<(Vec<u8>, u64)>> {
        let Some(header) = self.get(at, HEADER)? else {
            return Ok(None);
        };
        let len = word(header, 0) as usize;
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&header[8..16]);
        let seq = u64::from_le_bytes(seq);
        if len == 0 || len > MAX_OP || seq <= last || (strict && seq - last > PLAUSIBLE) {
            return Ok(None);
        }
        let Some(frame) = self.get(at, HEADER + len)? else {
            return Ok(None);
        };
        Ok(unframe(frame).is_some().then(|| (frame.to_vec(), seq)))
    }
}

/// Reads the log at `path` (a missing file reads as empty).
pub(super) fn scan(path: &Path) -> io::Result<Scan> {
    let mut out = Scan {
        exists: false,
        live: BTreeMap::new(),
        ops: 0,
        end: 0,
        len: 0,
        damaged: 0,
        unreadable: false,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    out.exists = true;
    out.len = file.metadata()?.len();
    let mut w = Window {
        file,
        len: out.len,
        start: 0,
        buf: Vec::new(),
    };
    if let Err(e) = read_frames(&mut w, &mut out, path) {
        tracing::error!(file = %path.display(), at = out.end, error = %e,
            "dead letters: part of the file cannot be read; the letters before it are kept");
        out.unreadable = true;
        out.damaged += 1;
        out.end = out.len;
        // Frames past the error may carry any number: new ones go above them all.
        out.ops += PLAUSIBLE;
    }
    Ok(out)
}

fn read_frames(w: &mut Window, out: &mut Scan, path: &Path) -> io::Result<()> {
    let mut at = 0u64;
    loop {
        let frame = match w.frame(at, out.ops, false)? {
            Some(f) => f,
            None => match resync(w, at, out.ops)? {
                None => return Ok(()),
                Some(next) => {
                    tracing::error!(file = %path.display(), at, skipped = next - at,
                        "dead letters: a damaged stretch is skipped; the letters after it are kept");
                    out.damaged += 1;
                    at = next;
                    continue;
                }
            },
        };
        let (bytes, seq) = frame;
        let size = bytes.len() as u32;
        out.ops = seq;
        match unframe(&bytes).and_then(op::decode) {
            Some(Op::Add(add)) => {
                out.live.insert(
                    add.id,
                    Entry {
                        id: add.id,
                        at_ms: add.at_ms,
                        offset: at,
                        size,
                    },
                );
            }
            Some(Op::Remove(id)) => {
                out.live.remove(&id);
            }
            None => {}
        }
        at += u64::from(size);
        out.end = at;
    }
}

/// The first offset after `from` where a good frame numbered above `last` starts.
fn resync(w: &mut Window, from: u64, last: u64) -> io::Result<Option<u64>> {
    let mut at = from + 1;
    while at + HEADER as u64 <= w.len {
        if w.frame(at, last, true)?.is_some() {
            return Ok(Some(at));
        }
        at += 1;
    }
    Ok(None)
}
