//! A [`Disk`] that makes the spool's file operations fail on purpose: the Nth matching call of an
//! operation fails (once, or from then on until healed), does its work and then reports an error,
//! a write puts only part of its bytes on disk before failing, or the whole "machine" loses power
//! (every later operation fails and changes nothing). Everything that does not fail is done for
//! real on the real file system, so what the spool reads back is what a real fault would have
//! left.
//!
//! A power loss is modelled honestly for the file contents: the disk keeps, for every file made
//! or opened through it, the bytes its last successful sync made durable, and
//! [`Faults::crash`] puts every such file back to those bytes: whatever was written and not
//! synced is gone (directory entries, made or removed, are taken as durable at once).
//!
//! Test code only: production always uses `signal_spool::disk::RealDisk`.

#![allow(dead_code)] // each test binary uses a different part

use signal_spool::disk::{Disk, DiskFile, RealDisk};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// `ENOSPC` on Linux: what a full disk answers.
pub const ENOSPC: i32 = 28;
/// `EIO` on Linux: what a failing disk (or a failed writeback) answers.
pub const EIO: i32 = 5;

/// A file operation, as a fault rule names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `create_new` and `create`.
    Create,
    /// `open_write`.
    Open,
    /// A write of a file's bytes.
    Write,
    /// `sync_data` and `sync_all` of a file.
    Sync,
    /// `set_len` (truncation).
    SetLen,
    /// `rename`.
    Rename,
    /// `remove_file`.
    Remove,
    /// `sync_dir`.
    SyncDir,
}

/// Which files a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Segment files (`*.seg`).
    Segments,
    /// Cursor files (in `cursors/`).
    Cursors,
    /// Dead-letter files and their directories (anything under `dead/`).
    DeadLetters,
    /// Every path.
    Any,
}

impl Files {
    fn matches(self, path: &Path) -> bool {
        match self {
            Files::Any => true,
            Files::Segments => path.extension().is_some_and(|e| e == "seg"),
            Files::Cursors => path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "cursors"),
            Files::DeadLetters => path.components().any(|c| c.as_os_str() == "dead"),
        }
    }
}

/// What happens when a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this OS error and does nothing.
    Error(i32),
    /// A write puts this many bytes (at most) on disk, then fails with `ENOSPC`. For any other
    /// operation, the same as `Error(ENOSPC)`.
    Partial(usize),
    /// A write puts this many bytes (at most) on disk, then the machine crashes
    /// ([`Faults::crash`]): a torn write (those bytes reached the platter). For any other
    /// operation, a crash before it.
    Torn(usize),
    /// The call does its work, then fails with this OS error anyway: an `fdatasync` that reports
    /// `EIO` though the data reached the disk, a truncation or removal that happened though the
    /// call says it did not.
    After(i32),
}

#[derive(Debug)]
struct Rule {
    op: Op,
    files: Files,
    /// Matching calls still to let through before firing.
    skip: u64,
    fault: Fault,
    /// Keeps firing after the first time, until healed.
    sticky: bool,
}

#[derive(Debug, Default)]
struct Plan {
    rules: Vec<Rule>,
    crashed: bool,
    fired: u64,
    /// Per file made or opened through the disk: the bytes that survive a power loss.
    durable: HashMap<PathBuf, Vec<u8>>,
}

/// The fault plan, shared by the [`Disk`] it hands out and the test driving it.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Plan>>);

/// A fresh directory, a disk whose faults the test sets, and a spool configuration on both.
pub fn faulty_dir() -> (tempfile::TempDir, Faults, signal_spool::SpoolConfig) {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::new();
    let mut cfg = signal_spool::SpoolConfig::new(dir.path());
    cfg.disk = faults.disk();
    (dir, faults, cfg)
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    /// The disk to put in `SpoolConfig::disk`.
    pub fn disk(&self) -> Arc<dyn Disk> {
        Arc::new(FaultyDisk(self.clone()))
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `nth` (1 = the next) call of `op` on `files` from now fails with `fault`, once.
    pub fn fail(&self, op: Op, files: Files, nth: u64, fault: Fault) {
        self.plan().rules.push(Rule {
            op,
            files,
            skip: nth.saturating_sub(1),
            fault,
            sticky: false,
        });
    }

    /// Every call of `op` on `files` from now fails with `fault`, until [`heal`](Self::heal).
    pub fn fail_all(&self, op: Op, files: Files, fault: Fault) {
        self.plan().rules.push(Rule {
            op,
            files,
            skip: 0,
            fault,
            sticky: true,
        });
    }

    /// Forgets every rule not yet fired (a disk-full condition cleared).
    pub fn heal(&self) {
        self.plan().rules.clear();
    }

    /// The machine loses power: every file made or opened through the disk goes back to what
    /// its last successful sync made durable, and from now on every operation fails with `EIO`
    /// and changes nothing.
    pub fn crash(&self) {
        let mut plan = self.plan();
        if plan.crashed {
            return;
        }
        plan.crashed = true;
        for (path, bytes) in &plan.durable {
            if path.exists() {
                // The test's own machinery: a failure here is a broken test, not a finding.
                std::fs::write(path, bytes).expect("restore the durable bytes after a crash");
            }
        }
    }

    /// What `path` would hold after a power loss now, when the disk tracks it.
    pub fn durable(&self, path: &Path) -> Option<Vec<u8>> {
        self.plan().durable.get(path).cloned()
    }

    /// The durable bytes of `path` are now its whole present content (a successful sync).
    fn synced(&self, path: &Path) {
        if let Ok(bytes) = std::fs::read(path) {
            self.plan().durable.insert(path.to_owned(), bytes);
        }
    }

    /// `path` was made (empty) or opened: track it from now on.
    fn track(&self, path: &Path, empty: bool) {
        let mut plan = self.plan();
        if empty {
            plan.durable.insert(path.to_owned(), Vec::new());
        } else if !plan.durable.contains_key(path) {
            let bytes = std::fs::read(path).unwrap_or_default();
            plan.durable.insert(path.to_owned(), bytes);
        }
    }

    /// `buf` at `offset` reached the disk itself (a torn write's part).
    fn persisted(&self, path: &Path, buf: &[u8], offset: u64) {
        let mut plan = self.plan();
        let bytes = plan.durable.entry(path.to_owned()).or_default();
        let (at, end) = (offset as usize, offset as usize + buf.len());
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[at..end].copy_from_slice(buf);
    }

    /// Whether [`crash`](Self::crash) happened.
    pub fn is_crashed(&self) -> bool {
        self.plan().crashed
    }

    /// How many faults have fired so far.
    pub fn fired(&self) -> u64 {
        self.plan().fired
    }

    /// The fault, if any, for this call.
    fn check(&self, op: Op, path: &Path) -> Option<Fault> {
        let mut plan = self.plan();
        if plan.crashed {
            return Some(Fault::Error(EIO));
        }
        let mut fired = None;
        let mut spent = None;
        for (i, rule) in plan.rules.iter_mut().enumerate() {
            if rule.op != op || !rule.files.matches(path) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            fired = Some(rule.fault);
            if !rule.sticky {
                spent = Some(i);
            }
            break;
        }
        if let Some(i) = spent {
            plan.rules.remove(i);
        }
        if fired.is_some() {
            plan.fired += 1;
        }
        fired
    }

    /// `Err` for `op` on `path` when a rule says so.
    fn gate(&self, op: Op, path: &Path) -> io::Result<()> {
        match self.check(op, path) {
            None => Ok(()),
            Some(Fault::Error(code)) => Err(io::Error::from_raw_os_error(code)),
            Some(Fault::Partial(_)) => Err(io::Error::from_raw_os_error(ENOSPC)),
            Some(Fault::Torn(_)) => {
                self.crash();
                Err(io::Error::from_raw_os_error(EIO))
            }
            // The caller does the work, then reports this (see `after`).
            Some(Fault::After(code)) => Err(io::Error::from_raw_os_error(code)),
        }
    }

    /// Runs `op` on `path` with `work` doing it for real: a rule's error before, or (for
    /// [`Fault::After`]) after the work.
    fn run<T>(&self, op: Op, path: &Path, work: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        match self.check(op, path) {
            None => work(),
            Some(Fault::After(code)) => {
                work()?;
                Err(io::Error::from_raw_os_error(code))
            }
            Some(Fault::Error(code)) => Err(io::Error::from_raw_os_error(code)),
            Some(Fault::Partial(_)) => Err(io::Error::from_raw_os_error(ENOSPC)),
            Some(Fault::Torn(_)) => {
                self.crash();
                Err(io::Error::from_raw_os_error(EIO))
            }
        }
    }
}

#[derive(Debug)]
struct FaultyDisk(Faults);

#[derive(Debug)]
struct FaultyFile {
    faults: Faults,
    path: PathBuf,
    inner: Box<dyn DiskFile>,
}

impl FaultyDisk {
    fn wrap(&self, path: &Path, inner: Box<dyn DiskFile>) -> Box<dyn DiskFile> {
        Box::new(FaultyFile {
            faults: self.0.clone(),
            path: path.to_owned(),
            inner,
        })
    }
}

impl Disk for FaultyDisk {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let f = self.0.run(Op::Create, path, || {
            let f = RealDisk.create_new(path)?;
            self.0.track(path, true);
            Ok(f)
        })?;
        Ok(self.wrap(path, f))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let f = self.0.run(Op::Create, path, || {
            let f = RealDisk.create(path)?;
            self.0.track(path, true);
            Ok(f)
        })?;
        Ok(self.wrap(path, f))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let f = self.0.run(Op::Open, path, || {
            let f = RealDisk.open_write(path)?;
            self.0.track(path, false);
            Ok(f)
        })?;
        Ok(self.wrap(path, f))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.run(Op::Rename, to, || {
            RealDisk.rename(from, to)?;
            let mut plan = self.0.plan();
            match plan.durable.remove(from) {
                Some(bytes) => plan.durable.insert(to.to_owned(), bytes),
                None => plan.durable.remove(to),
            };
            Ok(())
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.run(Op::Remove, path, || {
            RealDisk.remove_file(path)?;
            self.0.plan().durable.remove(path);
            Ok(())
        })
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.run(Op::SyncDir, dir, || RealDisk.sync_dir(dir))
    }
}

impl DiskFile for FaultyFile {
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<usize> {
        match self.faults.check(Op::Write, &self.path) {
            None => self.inner.write_at(buf, offset),
            Some(Fault::Error(code)) => Err(io::Error::from_raw_os_error(code)),
            Some(Fault::After(code)) => {
                disk_write_all(self.inner.as_mut(), buf, offset)?;
                Err(io::Error::from_raw_os_error(code))
            }
            Some(fault @ (Fault::Partial(n) | Fault::Torn(n))) => {
                let part = &buf[..n.min(buf.len())];
                let mut done = 0;
                while done < part.len() {
                    match self.inner.write_at(&part[done..], offset + done as u64)? {
                        0 => break,
                        n => done += n,
                    }
                }
                let code = if fault == Fault::Partial(n) {
                    ENOSPC
                } else {
                    // The torn part reached the disk; then the power went.
                    self.faults.persisted(&self.path, &part[..done], offset);
                    self.faults.crash();
                    EIO
                };
                Err(io::Error::from_raw_os_error(code))
            }
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let (inner, faults, path) = (&mut self.inner, &self.faults, &self.path);
        faults.run(Op::Sync, path, || {
            inner.sync_data()?;
            faults.synced(path);
            Ok(())
        })
    }

    fn sync_all(&mut self) -> io::Result<()> {
        let (inner, faults, path) = (&mut self.inner, &self.faults, &self.path);
        faults.run(Op::Sync, path, || {
            inner.sync_all()?;
            faults.synced(path);
            Ok(())
        })
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let inner = &mut self.inner;
        self.faults
            .run(Op::SetLen, &self.path, || inner.set_len(len))
    }
}

/// Writes all of `buf` at `offset` (for a write that does its work and then fails).
fn disk_write_all(file: &mut dyn DiskFile, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset)? {
            0 => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}
