//! Dead letters under injected disk faults (`support/faults.rs`) and damaged files: every dead
//! letter answered Ok is listed, before and after a restart, whatever failed around it; a
//! compaction that fails at any step leaves the store writing to the file it reads at the next
//! start; a full disk or a damaged log never stops the spool from opening; an unreadable replay
//! never stops delivery.

mod support;

use signal_spool::{Consumer, Spool, SpoolConfig, Start};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use support::faults::{EIO, ENOSPC, Fault, Files, Op, faulty_dir};
use support::letters::{event, try_dead_letter};

/// Opens the spool and its `pendo` consumer, from the earliest record.
fn open(cfg: &SpoolConfig, what: &str) -> (Spool, Consumer) {
    let spool = Spool::open(cfg.clone()).expect(what);
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    (spool, c)
}

/// Closes the spool and opens it again on the same files, as a restarted node does.
fn restart(spool: Spool, c: Consumer, cfg: &SpoolConfig) -> (Spool, Consumer) {
    drop(c);
    spool.close();
    open(cfg, "reopen")
}

/// Every letter listed, each checked to read back whole.
fn listed(c: &Consumer, size: usize) -> Vec<u64> {
    let letters = c.dead_letters().page(None, 1000).expect("page").letters;
    for d in &letters {
        assert_eq!(
            d.payload,
            event(d.id, size),
            "letter {} reads back whole",
            d.id
        );
    }
    letters.iter().map(|d| d.id).collect()
}

fn pendo(dir: &Path) -> PathBuf {
    dir.join("dead").join("pendo")
}

/// 40 letters of 200 KiB, 25 of them purged: a compaction is under way (`dead.tmp`).
fn compaction_under_way(c: &Consumer, dir: &Path) -> Vec<u64> {
    for seq in 1..=40 {
        try_dead_letter(c, seq, 200 << 10).expect("dead letter");
    }
    let purged: Vec<u64> = (1..=25).collect();
    assert_eq!(c.purge(Some(&purged)).expect("purge"), 25);
    assert!(
        pendo(dir).join("dead.tmp").exists(),
        "a compaction under way"
    );
    (26..=40).collect()
}

/// Adds letters until the compaction under way has finished (or failed); returns them.
fn until_compacted(c: &Consumer, dir: &Path, from: u64) -> Vec<u64> {
    let mut added = Vec::new();
    for seq in from..from + 20 {
        try_dead_letter(c, seq, 200 << 10).expect("dead letter answered Ok");
        added.push(seq);
        if !pendo(dir).join("dead.tmp").exists() {
            break;
        }
    }
    assert!(
        !pendo(dir).join("dead.tmp").exists(),
        "the compaction ended"
    );
    added
}

/// After a compaction failed at some step: one more letter (too little for another compaction
/// to finish and hide where the last one left the store writing), then every one answered Ok is
/// listed, before and after a restart.
fn every_letter_survives(spool: Spool, c: Consumer, cfg: &SpoolConfig, mut want: Vec<u64>) {
    try_dead_letter(&c, 200, 200 << 10).expect("dead letter after the failure");
    want.push(200);
    want.sort_unstable();
    assert_eq!(listed(&c, 200 << 10), want, "before a restart");
    let (_spool, c) = restart(spool, c, cfg);
    assert_eq!(listed(&c, 200 << 10), want, "after a restart");
}

/// A compaction under way whose `op` fails once (`what`): it ends, and every letter answered Ok
/// survives it.
fn a_compaction_whose_step_fails(op: Op, what: &str) {
    let (dir, faults, cfg) = faulty_dir();
    let (spool, c) = open(&cfg, "open");
    let mut want = compaction_under_way(&c, dir.path());
    faults.fail(op, Files::DeadLetters, 1, Fault::Error(EIO));
    want.extend(until_compacted(&c, dir.path(), 100));
    assert_eq!(faults.fired(), 1, "{what}");
    every_letter_survives(spool, c, &cfg, want);
}

#[test]
fn dead_letters_answered_ok_survive_a_compaction_whose_directory_sync_fails() {
    a_compaction_whose_step_fails(Op::SyncDir, "the directory sync after the rename failed");
}

#[test]
fn dead_letters_answered_ok_survive_a_compaction_whose_rename_fails() {
    a_compaction_whose_step_fails(Op::Rename, "the rename failed");
}

#[test]
fn dead_letters_answered_ok_survive_a_compaction_whose_copy_fails() {
    let (dir, faults, cfg) = faulty_dir();
    let (spool, c) = open(&cfg, "open");
    let want = compaction_under_way(&c, dir.path());
    // The copy's next write, then the start of the next copy, fail.
    faults.fail(Op::Write, Files::DeadLetters, 2, Fault::Partial(100));
    faults.fail(Op::Create, Files::DeadLetters, 1, Fault::Error(ENOSPC));
    let mut all = want;
    for seq in 100..103 {
        try_dead_letter(&c, seq, 200 << 10).expect("dead letter answered Ok");
        all.push(seq);
    }
    assert_eq!(
        faults.fired(),
        2,
        "the copy and the next copy's start failed"
    );
    every_letter_survives(spool, c, &cfg, all);
}

#[test]
fn the_spool_opens_on_a_full_disk_with_a_dead_letter_log_due_for_compaction() {
    let (dir, faults, cfg) = faulty_dir();
    let (spool, c) = open(&cfg, "open");
    let want = compaction_under_way(&c, dir.path());
    drop(c);
    spool.close();
    // The disk is full when the node starts again.
    for op in [Op::Create, Op::Write, Op::Sync] {
        faults.fail_all(op, Files::Any, Fault::Error(ENOSPC));
    }
    let (spool, c) = open(&cfg, "the spool opens on a full disk");
    assert!(faults.fired() > 0, "the compaction at open was tried");
    assert_eq!(listed(&c, 200 << 10), want);
    faults.heal();
    every_letter_survives(spool, c, &cfg, want);
}

#[test]
fn a_failed_dead_letter_write_whose_cut_fails_never_loses_a_later_letter() {
    let (_dir, faults, cfg) = faulty_dir();
    let (spool, c) = open(&cfg, "open");
    try_dead_letter(&c, 1, 3000).expect("first");
    // Half the frame reaches the disk, and cutting it back off fails too.
    faults.fail(Op::Write, Files::DeadLetters, 1, Fault::Partial(1500));
    faults.fail(Op::SetLen, Files::DeadLetters, 1, Fault::Error(EIO));
    try_dead_letter(&c, 2, 3000).expect_err("the failed write is answered Err");
    assert_eq!(faults.fired(), 2);
    // Shorter letters: part of the failed frame is still on disk after them at the restart.
    for seq in 3..=5 {
        try_dead_letter(&c, seq, 100).expect("later letters");
    }
    assert_eq!(listed_sized(&c), [1, 3, 4, 5]);
    let (_spool, c) = restart(spool, c, &cfg);
    assert_eq!(listed_sized(&c), [1, 3, 4, 5], "after a restart");
}

#[test]
fn a_failed_dead_letter_sync_never_loses_a_later_letter() {
    let (_dir, faults, cfg) = faulty_dir();
    let (spool, c) = open(&cfg, "open");
    try_dead_letter(&c, 1, 3000).expect("first");
    faults.fail(Op::Sync, Files::DeadLetters, 1, Fault::Error(EIO));
    faults.fail(Op::SetLen, Files::DeadLetters, 1, Fault::Error(EIO));
    try_dead_letter(&c, 2, 3000).expect_err("the failed sync is answered Err");
    assert_eq!(faults.fired(), 2);
    try_dead_letter(&c, 3, 100).expect("a shorter letter over the failed one");
    try_dead_letter(&c, 4, 100).expect("later letters");
    assert_eq!(listed_sized(&c), [1, 3, 4]);
    let (_spool, c) = restart(spool, c, &cfg);
    assert_eq!(listed_sized(&c), [1, 3, 4], "after a restart");
}

#[test]
fn a_failed_purge_whose_cut_fails_never_comes_back_after_a_restart() {
    let (_dir, faults, cfg) = faulty_dir();
    let (spool, c) = open(&cfg, "open");
    for seq in 1..=3 {
        try_dead_letter(&c, seq, 100).expect("dead letter");
    }
    // Both removals reach the file whole, but their sync fails and so does the cut.
    faults.fail(Op::Sync, Files::DeadLetters, 1, Fault::Error(EIO));
    faults.fail(Op::SetLen, Files::DeadLetters, 2, Fault::Error(EIO));
    faults.fail(Op::SetLen, Files::DeadLetters, 1, Fault::Error(EIO));
    c.purge(Some(&[1, 2]))
        .expect_err("the failed purge is answered Err");
    assert_eq!(faults.fired(), 2, "the sync and the cut");
    // One removal of the same size goes over the first of them (cutting the two off fails
    // again first); the second is left after it.
    assert_eq!(c.purge(Some(&[3])).expect("purge"), 1);
    assert_eq!(faults.fired(), 3, "the cut again");
    assert_eq!(listed_sized(&c), [1, 2]);
    let (_spool, c) = restart(spool, c, &cfg);
    assert_eq!(
        listed_sized(&c),
        [1, 2],
        "the purge answered Err did not happen"
    );
}

/// Every letter listed (payloads of any size, each checked whole).
fn listed_sized(c: &Consumer) -> Vec<u64> {
    let letters = c.dead_letters().page(None, 1000).expect("page").letters;
    for d in &letters {
        assert_eq!(d.payload, event(d.id, d.payload.len()), "letter {}", d.id);
    }
    letters.iter().map(|d| d.id).collect()
}

#[test]
fn a_corrupt_dead_letter_is_reported_and_the_letters_after_it_kept() {
    let (dir, _faults, cfg) = faulty_dir();
    let (spool, c) = open(&cfg, "open");
    for seq in 1..=4 {
        try_dead_letter(&c, seq, 1000).expect("dead letter");
    }
    drop(c);
    spool.close();
    // A byte of the second letter's event flips on disk.
    let log = pendo(dir.path()).join("dead.log");
    let bytes = fs::read(&log).expect("read");
    let second = bytes
        .windows(8)
        .position(|w| w == b"event-2-")
        .expect("the second letter");
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .write_all_at(b"X", second as u64 + 100)
        .expect("damage");

    let (spool, c) = open(&cfg, "a damaged dead-letter log does not stop the open");
    assert_eq!(
        listed(&c, 1000),
        [1, 3, 4],
        "only the damaged letter is gone"
    );
    assert_eq!(c.dead_letters().stats().corrupt, 1, "the damage is counted");
    try_dead_letter(&c, 5, 1000).expect("later letters");
    let (_spool, c) = restart(spool, c, &cfg);
    assert_eq!(listed(&c, 1000), [1, 3, 4, 5]);
}

#[test]
fn an_unreadable_replay_is_skipped_and_delivery_goes_on() {
    let (dir, _faults, cfg) = faulty_dir();
    let (spool, mut c) = open(&cfg, "open");
    for seq in [1, 2] {
        try_dead_letter(&c, seq, 1000).expect("dead letter");
    }
    assert_eq!(c.replay(None).expect("replay"), 2);
    // The first replayed letter is damaged on disk after it was replayed.
    let log = pendo(dir.path()).join("replay.log");
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .write_all_at(b"X", 200)
        .expect("damage");
    spool.append(vec![b"live".to_vec()]).wait().expect("append");
    let got = c
        .read(10)
        .expect("an unreadable replay does not stop reading");
    let seqs: Vec<(u64, bool)> = got.iter().map(|r| (r.seq, r.replayed)).collect();
    assert_eq!(
        seqs,
        [(2, true), (1, false)],
        "the other replay, then the log"
    );
    assert_eq!(got[0].payload, event(2, 1000));
    assert_eq!(c.dead_letters().stats().skipped_replays, 1);
    for r in &got {
        c.ack(r.receipt()).expect("ack");
    }
    assert!(
        c.read(10).expect("read").is_empty(),
        "the bad one is not retried in a loop"
    );
}

#[test]
fn a_replay_moves_no_more_than_the_cap_holds() {
    let (_dir, _faults, mut cfg) = faulty_dir();
    // Room for three letters of 3,000 bytes (about 3,100 on disk each), not four.
    cfg.dead_letter_max_bytes = 10_000;
    let (_spool, c) = open(&cfg, "open");
    for seq in 1..=3 {
        try_dead_letter(&c, seq, 3000).expect("dead letter");
    }
    // Replayed, never delivered (the vendor is down): they wait in replay.log.
    assert_eq!(c.replay(None).expect("replay"), 3);
    for seq in 4..=6 {
        try_dead_letter(&c, seq, 3000).expect("dead letter");
    }
    assert_eq!(
        c.replay(None).expect("replay"),
        0,
        "replay.log is at the cap"
    );
    let stats = c.dead_letters().stats();
    assert_eq!((stats.letters, stats.replaying), (3, 3), "{stats:?}");
    assert_eq!(
        listed(&c, 3000),
        [4, 5, 6],
        "what did not fit stays a dead letter"
    );
}
