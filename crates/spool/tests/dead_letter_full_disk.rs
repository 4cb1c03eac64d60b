//! The spool opens on a real full file system (a tmpfs this process mounts) with a dead-letter
//! log due for compaction: the compaction at open is housekeeping, not a reason to stay down.
//! Where the machine does not let this process mount a tmpfs, the test prints why and returns
//! (the same path runs under injected faults in `dead_letter_faults.rs` everywhere).

use signal_spool::{DeadLetterInfo, Record, Spool, SpoolConfig, Start};
use std::io::Write;
use std::process::Command;

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn the_spool_opens_on_a_real_full_disk_with_a_dead_letter_log_due_for_compaction() {
    let disk = match Tmpfs::mount("12m") {
        Ok(d) => d,
        Err(why) => {
            println!("skipped: the real full-disk test needs a tmpfs: {why}");
            return;
        }
    };
    let cfg = SpoolConfig::new(disk.dir.path().join("spool"));
    let spool = Spool::open(cfg.clone()).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    for seq in 1..=40u64 {
        let mut payload = format!("event-{seq}-").into_bytes();
        payload.resize(200 << 10, b'.');
        let info = DeadLetterInfo {
            reason: "vendor_rejected".into(),
            status: Some(400),
            body: "b".into(),
            attempts: 1,
        };
        let record = Record {
            seq,
            payload,
            replayed: false,
        };
        c.dead_letter(&record, info).expect("dead letter");
    }
    let purged: Vec<u64> = (1..=25).collect();
    assert_eq!(c.purge(Some(&purged)).expect("purge"), 25);
    drop(c);
    spool.close();

    // The disk fills up (another writer) while the node is down.
    let mut filler = std::fs::File::create(disk.dir.path().join("filler")).expect("filler");
    let chunk = vec![0u8; 4096];
    while filler.write_all(&chunk).is_ok() {}
    let _ = filler.sync_all();

    let spool = Spool::open(cfg).expect("the spool opens on a full disk");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let page = c.dead_letters().page(None, 100).expect("page");
    let ids: Vec<u64> = page.letters.iter().map(|d| d.id).collect();
    assert_eq!(ids, (26..=40).collect::<Vec<_>>());
}
