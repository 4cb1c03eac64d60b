//! A [`Disk`] that makes the spool's file operations fail on purpose: the Nth matching call of an
//! operation fails (once, or from then on until healed), a write puts only part of its bytes on
//! disk before failing, or the whole "machine" crashes (every later operation fails and changes
//! nothing). Everything that does not fail is done for real on the real file system, so what the
//! spool reads back is what a real fault would have left.
//!
//! Test code only: production always uses `signal_spool::disk::RealDisk`.

#![allow(dead_code)] // each test binary uses a different part

use signal_spool::disk::{Disk, DiskFile, RealDisk};
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
    /// ([`Faults::crash`]): a torn write. For any other operation, a crash before it.
    Torn(usize),
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
}

/// The fault plan, shared by the [`Disk`] it hands out and the test driving it.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Plan>>);

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

    /// The machine stops: from now on every operation fails with `EIO` and changes nothing,
    /// as if the process had died at this instant.
    pub fn crash(&self) {
        self.plan().crashed = true;
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
        if matches!(fired, Some(Fault::Torn(_))) {
            plan.crashed = true;
        }
        fired
    }

    /// `Err` for `op` on `path` when a rule says so.
    fn gate(&self, op: Op, path: &Path) -> io::Result<()> {
        match self.check(op, path) {
            None => Ok(()),
            Some(Fault::Error(code)) => Err(io::Error::from_raw_os_error(code)),
            Some(Fault::Partial(_)) => Err(io::Error::from_raw_os_error(ENOSPC)),
            Some(Fault::Torn(_)) => Err(io::Error::from_raw_os_error(EIO)),
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
        self.0.gate(Op::Create, path)?;
        let f = RealDisk.create_new(path)?;
        Ok(self.wrap(path, f))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        self.0.gate(Op::Create, path)?;
        let f = RealDisk.create(path)?;
        Ok(self.wrap(path, f))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        self.0.gate(Op::Open, path)?;
        let f = RealDisk.open_write(path)?;
        Ok(self.wrap(path, f))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.gate(Op::Rename, to)?;
        RealDisk.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.gate(Op::Remove, path)?;
        RealDisk.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.gate(Op::SyncDir, dir)?;
        RealDisk.sync_dir(dir)
    }
}

impl DiskFile for FaultyFile {
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<usize> {
        match self.faults.check(Op::Write, &self.path) {
            None => self.inner.write_at(buf, offset),
            Some(Fault::Error(code)) => Err(io::Error::from_raw_os_error(code)),
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
                    EIO
                };
                Err(io::Error::from_raw_os_error(code))
            }
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.faults.gate(Op::Sync, &self.path)?;
        self.inner.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.faults.gate(Op::Sync, &self.path)?;
        self.inner.sync_all()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.faults.gate(Op::SetLen, &self.path)?;
        self.inner.set_len(len)
    }
}
