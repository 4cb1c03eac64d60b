//! A real small filesystem for the full-disk tests: a tmpfs the test mounts (which needs root
//! and a kernel that lets this process mount) and fills until it refuses writes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a directory, unmounted on drop (before its fresh directory, if any, goes).
pub struct Tmpfs {
    at: PathBuf,
    _fresh: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on a fresh directory.
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut tmpfs = Tmpfs::mount_at(dir.path(), size)?;
        tmpfs._fresh = Some(dir);
        Ok(tmpfs)
    }

    /// Mounts a tmpfs of `size` on the existing directory `at`; why not, where it cannot.
    pub fn mount_at(at: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            at: at.to_owned(),
            _fresh: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.at
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Writes a file in `dir` until its filesystem is full; returns its path.
pub fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0xAB_u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    // Leave no room even for a small write the page cache could still take.
    let _ = f.sync_all();
    path
}
