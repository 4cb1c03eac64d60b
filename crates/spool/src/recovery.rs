//! Opening a spool: every segment is read once. A torn tail of the last segment (a crash
//! mid-write) is cut; a segment before the last that is corrupt part-way is kept up to its last
//! good record and reported. The remains of a write that failed are cut, never read, and never
//! reported as corruption: records at or past the next segment's name (the writer started that
//! segment after the failure), anything after a segment's last record when that record is the one
//! just before the next segment's name, and anything from a zeroed record header on (the writer's
//! last resort when it could neither cut nor start a segment).
//!
//! Nothing here stops the spool from opening on a full or failing disk: a tail that cannot be
//! cut is bounded by the name of the segment written next (the one it is in is never written
//! on again), a last segment that cannot be opened is followed by a new one, and when no segment
//! can be started the spool opens failing and the writer starts one once it can.

use crate::config::SpoolConfig;
use crate::error::SpoolError;
use crate::segment::{self, Recovery, Segment, Tail};
use crate::spool::now_secs;
use crate::writer::ActiveFile;
use std::fs;
use std::path::Path;

/// What opening found: the segments, oldest first, the last one open for writing (none when
/// a new one was needed and could not be made).
pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    pub report: Recovery,
    pub file: Option<ActiveFile>,
    /// The segment before the one written next holds remains of a failed write that could not
    /// be cut: only the name of the segment written next bounds them.
    pub uncut_before: bool,
}

/// The segments as read, before the one to write is chosen.
struct Scanned {
    segments: Vec<Segment>,
    /// Per segment: its tail could not be cut.
    uncut: Vec<bool>,
    /// An empty segment after the last one could not be removed: the last is not written on.
    blocked: bool,
    /// The last valid sequence number.
    last: u64,
}

pub(crate) fn recover(dir: &Path, config: &SpoolConfig) -> Result<Recovered, SpoolError> {
    let mut report = Recovery::default();
    let Scanned {
        mut segments,
        mut uncut,
        blocked,
        last,
    } = scan_all(dir, config, &mut report)?;
    let disk = config.disk.as_ref();
    // The newest segment is written on unless it is full (and holds records: an empty one is
    // never replaced by one of the same name), corrupt, or holds uncut remains.
    let reuse = !blocked
        && !uncut.last().is_some_and(|u| *u)
        && segments.last().is_some_and(|s| {
            let full = s.len >= config.segment_bytes && s.last >= s.base;
            let corrupt = report
                .corrupt
                .iter()
                .any(|c| c.starts_with(&segment::name(s.base)));
            !full && !corrupt
        });
    let reopened = match segments.last_mut() {
        Some(seg) if reuse => match disk.open_write(&seg.path) {
            Ok(file) => {
                seg.closed_at = None;
                Some(file)
            }
            Err(e) => {
                // Not fatal: a new segment is started after it.
                tracing::error!(file = %seg.path.display(), error = %e, "spool: cannot open the last segment; starting a new one");
                None
            }
        },
        _ => None,
    };
    if let Some(file) = reopened {
        // The segment written on is the last; what bounds the one before it is its name.
        let before = uncut.len().checked_sub(2).is_some_and(|i| uncut[i]);
        return Ok(Recovered {
            segments,
            report,
            file: Some(file),
            uncut_before: before,
        });
    }
    if segments.last().is_some_and(|s| s.last < s.base) {
        // An empty last segment not written on: the new one takes its name (and its file,
        // which holds no more than the magic).
        segments.pop();
        uncut.pop();
    }
    let uncut_before = uncut.last().is_some_and(|u| *u);
    let file = match segment::create(disk, dir, last + 1, config.fsync) {
        Ok((seg, file)) => {
            segments.push(seg);
            Some(file)
        }
        // A restart on a full (or failing) disk still opens: what is spooled can be
        // delivered (which frees space), and the writer starts the segment once it can.
        Err(e) if e.is_storage_full() => {
            tracing::error!(error = %e, "spool: no room for a new segment; appends fail until there is");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "spool: cannot start a segment; appends fail until it can");
            None
        }
    };
    Ok(Recovered {
        segments,
        report,
        file,
        uncut_before,
    })
}

/// Reads every segment, cutting what is to be cut (where it can).
fn scan_all(
    dir: &Path,
    config: &SpoolConfig,
    report: &mut Recovery,
) -> Result<Scanned, SpoolError> {
    let disk = config.disk.as_ref();
    let found = segment::list(dir)?;
    let mut out = Scanned {
        segments: Vec::new(),
        uncut: Vec::new(),
        blocked: false,
        last: 0,
    };
    let count = found.len();
    for (i, (base, path)) in found.iter().enumerate() {
        let is_last = i + 1 == count;
        let below = found.get(i + 1).map(|(b, _)| *b);
        let mut records = 0u64;
        let (mut seg, tail) = segment::scan(path, *base, out.last, below, |_, _| records += 1)?;
        report.segments += 1;
        report.records += records;
        let mut uncut = false;
        if cut_needed(path, &seg, tail, is_last, report) {
            let file_len = fs::metadata(path).map_or(seg.len, |m| m.len());
            report.torn_bytes += file_len.saturating_sub(seg.len);
            let has_records = seg.last >= seg.base;
            let cut = if seg.len == 0 && is_last {
                // A segment whose making failed (or was cut short by a crash): removed below.
                Err(SpoolError::invalid("no magic"))
            } else {
                disk.open_write(path)
                    .and_then(|mut f| f.set_len(seg.len).and_then(|()| f.sync_all()))
                    .map_err(|e| SpoolError::io("cut segment", path, e))
            };
            match cut {
                Ok(()) => {}
                Err(e) if has_records || !is_last => {
                    tracing::warn!(error = %e, "spool: cannot cut; the next segment's name bounds the rest");
                    uncut = true;
                }
                Err(_) => {
                    // No records: the whole file goes, unless its name bounds the uncut remains
                    // of the segment before. When it stays, it is left out, a new segment of
                    // its name takes its place (see `segment::create`), and the segment before
                    // is not written on (its records would pass that name).
                    if out.uncut.last().is_some_and(|u| *u) {
                        out.blocked = true;
                    } else if let Err(e) = disk.remove_file(path) {
                        tracing::warn!(file = %path.display(), error = %e, "spool: cannot remove an empty segment");
                        out.blocked = true;
                    }
                    continue;
                }
            }
        }
        seg.closed_at = Some(now_secs());
        out.last = seg.last;
        out.segments.push(seg);
        out.uncut.push(uncut);
    }
    Ok(out)
}

/// Whether the bytes after `seg`'s last good record are to be cut; reports corruption.
fn cut_needed(
    path: &Path,
    seg: &Segment,
    tail: Option<Tail>,
    is_last: bool,
    report: &mut Recovery,
) -> bool {
    match tail {
        None => false,
        Some(Tail::Superseded) => {
            tracing::warn!(file = %path.display(), at = seg.len, "spool: cutting the remains of a failed write");
            true
        }
        Some(Tail::Torn(why)) if is_last => {
            tracing::warn!(file = %path.display(), at = seg.len, why, "spool: cutting a torn tail");
            true
        }
        Some(Tail::Torn(why)) => {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            tracing::error!(file = %path.display(), at = seg.len, why, "spool: corrupt segment, skipping the rest of it");
            report
                .corrupt
                .push(format!("{name}: {why} at byte {}", seg.len));
            false
        }
    }
}
