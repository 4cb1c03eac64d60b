//! Dead letters cost the heap only their index, never their events: counted by a counting
//! global allocator (its own test binary, so no other test shares the counter).

use signal_spool::{DeadLetterInfo, Record, Spool, SpoolConfig, Start};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

// `stats_alloc` wraps the system allocator and counts; it keeps unsafe code out of this repo.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// 200 dead letters of 256 KiB: 50 MiB of events.
const LETTERS: u64 = 200;
const EVENT: usize = 256 << 10;
const EVENTS: usize = LETTERS as usize * EVENT;

fn net(region: &Region<'_, System>) -> isize {
    let s = region.change();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

#[test]
fn dead_letters_are_indexed_in_memory_and_read_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = SpoolConfig::new(dir.path());
    config.fsync = false;
    config.dead_letter_max_bytes = 1 << 30;
    let spool = Spool::open(config.clone()).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let info = DeadLetterInfo {
        reason: "vendor_rejected".into(),
        status: Some(400),
        body: "no".into(),
        attempts: 1,
    };
    for seq in 1..=LETTERS {
        let record = Record {
            seq,
            payload: vec![b'x'; EVENT],
            replayed: false,
        };
        c.dead_letter(&record, info.clone()).expect("dead-letter");
    }
    drop(c);
    spool.close();

    // Opening reads the dead letters' index back; the events stay on disk.
    let region = Region::new(GLOBAL);
    let spool = Spool::open(config).expect("reopen");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let held = net(&region);
    assert!(
        held < (EVENTS / 10) as isize,
        "{held} bytes held after opening {LETTERS} dead letters of {EVENT} bytes"
    );

    // A page of one reads one event, not all of them.
    let region = Region::new(GLOBAL);
    let page = c.dead_letters().page(None, 1).expect("page");
    let read = region.change().bytes_allocated;
    assert_eq!(page.letters.len(), 1);
    assert_eq!(page.letters[0].payload.len(), EVENT);
    assert!(
        read < 4 * EVENT,
        "a page of one allocated {read} bytes for {LETTERS} dead letters"
    );
    assert_eq!(page.next, Some(1), "more follow after id 1");
    let stats = c.dead_letters().stats();
    assert_eq!(stats.letters, LETTERS);
    assert!(stats.index_bytes < EVENT as u64, "{stats:?}");
}
