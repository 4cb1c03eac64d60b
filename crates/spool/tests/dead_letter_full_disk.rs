//! The spool opens on a real full file system (a tmpfs this process mounts) with a dead-letter
//! log due for compaction: the compaction at open is housekeeping, not a reason to stay down.
//! Where the machine does not let this process mount a tmpfs, the test prints why and returns
//! (the same path runs under injected faults in `dead_letter_faults.rs` everywhere).

mod support;

use signal_spool::{Spool, SpoolConfig, Start};
use support::letters::try_dead_letter;
use support::tmpfs::{Tmpfs, fill};

#[test]
fn the_spool_opens_on_a_real_full_disk_with_a_dead_letter_log_due_for_compaction() {
    let disk = match Tmpfs::mount("12m") {
        Ok(d) => d,
        Err(why) => {
            println!("skipped: the real full-disk test needs a tmpfs: {why}");
            return;
        }
    };
    let cfg = SpoolConfig::new(disk.path().join("spool"));
    let spool = Spool::open(cfg.clone()).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    for seq in 1..=40 {
        try_dead_letter(&c, seq, 200 << 10).expect("dead letter");
    }
    let purged: Vec<u64> = (1..=25).collect();
    assert_eq!(c.purge(Some(&purged)).expect("purge"), 25);
    drop(c);
    spool.close();

    // The disk fills up (another writer) while the node is down.
    fill(disk.path());

    let spool = Spool::open(cfg).expect("the spool opens on a full disk");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let page = c.dead_letters().page(None, 100).expect("page");
    let ids: Vec<u64> = page.letters.iter().map(|d| d.id).collect();
    assert_eq!(ids, (26..=40).collect::<Vec<_>>());
}
