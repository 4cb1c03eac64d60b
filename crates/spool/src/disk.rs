//! The seam between the spool and the file system: every file operation that changes what is on
//! disk (create, write, sync, truncate, rename, remove, directory sync) goes through a [`Disk`],
//! so tests can make any of them fail, or write only part, on purpose.
//!
//! Production uses [`RealDisk`] (plain `std::fs`, chosen by [`SpoolConfig::new`]); test code
//! brings its own implementation (`crates/spool/tests/support/faults.rs`) through
//! [`SpoolConfig::disk`]. Reads do not go through the seam: they only ever look at what the
//! writes left, so a fault layer over the real file system sees the real outcome.
//!
//! The hot path costs one dynamic call per `write_at` and per `sync_data`.
//!
//! [`SpoolConfig::new`]: crate::SpoolConfig::new
//! [`SpoolConfig::disk`]: crate::SpoolConfig::disk

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The file-system operations the spool makes.
pub trait Disk: fmt::Debug + Send + Sync {
    /// Creates `path`, which must not exist, for reading and writing.
    ///
    /// # Errors
    ///
    /// As `open(2)` with `O_CREAT | O_EXCL`.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;

    /// Creates `path`, or empties it when it exists, for writing (cursor files).
    ///
    /// # Errors
    ///
    /// As `open(2)` with `O_CREAT | O_TRUNC`.
    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;

    /// Opens the existing `path` for writing (never in append mode: the spool writes at offsets
    /// it chooses, so a failed write leaves no gap before the next one).
    ///
    /// # Errors
    ///
    /// As `open(2)`.
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;

    /// Renames `from` to `to`, replacing `to`.
    ///
    /// # Errors
    ///
    /// As `rename(2)`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes the file `path`.
    ///
    /// # Errors
    ///
    /// As `unlink(2)`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Makes the entries of directory `dir` (files created, renamed, removed) durable.
    ///
    /// # Errors
    ///
    /// As `fsync(2)` on the directory.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file, as the spool writes it.
pub trait DiskFile: fmt::Debug + Send {
    /// Writes some of `buf` at `offset`, returning how much (as `pwrite(2)`).
    ///
    /// # Errors
    ///
    /// As `pwrite(2)`.
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<usize>;

    /// Makes the data written durable (`fdatasync(2)`).
    ///
    /// # Errors
    ///
    /// As `fdatasync(2)`. After an error the state of every byte written since the last
    /// successful sync is unknown.
    fn sync_data(&mut self) -> io::Result<()>;

    /// Makes the data and the metadata durable (`fsync(2)`).
    ///
    /// # Errors
    ///
    /// As `fsync(2)`.
    fn sync_all(&mut self) -> io::Result<()>;

    /// Truncates or extends the file to `len` bytes (`ftruncate(2)`).
    ///
    /// # Errors
    ///
    /// As `ftruncate(2)`.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// Writes all of `buf` at `offset`, through as many `write_at` calls as it takes.
pub(crate) fn write_all_at(
    file: &mut dyn DiskFile,
    mut buf: &[u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The file system itself, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealDisk;

/// A [`File`] as a [`DiskFile`].
#[derive(Debug)]
struct RealFile(File);

impl Disk for RealDisk {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let f = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Box::new(RealFile(f)))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        Ok(Box::new(RealFile(File::create(path)?)))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Box::new(RealFile(f)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl DiskFile for RealFile {
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<usize> {
        FileExt::write_at(&self.0, buf, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}
