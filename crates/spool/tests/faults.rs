//! The spool under injected disk faults (`support/faults.rs`): after a failed write, a failed
//! `fdatasync` or a failed segment creation, every append that answered Ok is read back, by a
//! running consumer and after a restart, and no append that failed ever comes back as a record.

mod support;

use signal_spool::{Spool, SpoolConfig, Start};
use std::path::Path;
use std::time::{Duration, Instant};
use support::faults::{EIO, ENOSPC, Fault, Faults, Files, Op, faulty_dir};

/// Opens the spool with the two consumers the checks read through, so that no segment is
/// deleted as read by all before they look.
fn open(cfg: SpoolConfig) -> Spool {
    let spool = Spool::open(cfg).expect("open");
    for name in ["live", "after"] {
        drop(spool.consumer(name, Start::Earliest).expect("consumer"));
    }
    spool
}

fn one(text: &str) -> Vec<Vec<u8>> {
    vec![text.as_bytes().to_vec()]
}

/// Everything the consumer `name` reads from the start, as text.
fn read_texts(spool: &Spool, name: &str) -> Vec<String> {
    let mut c = spool.consumer(name, Start::Earliest).expect("consumer");
    let mut out = Vec::new();
    loop {
        let got = c.read(1000).expect("read");
        if got.is_empty() {
            return out;
        }
        out.extend(
            got.into_iter()
                .map(|r| String::from_utf8_lossy(&r.payload).into_owned()),
        );
    }
}

/// Appends `texts` one by one, each expected to succeed; returns their sequence numbers.
fn append_ok(spool: &Spool, texts: &[&str]) -> Vec<u64> {
    texts
        .iter()
        .map(|t| {
            spool
                .append(one(t))
                .wait()
                .unwrap_or_else(|e| panic!("append {t}: {e}"))
                .start
        })
        .collect()
}

/// Waits (up to a generous bound, for slow machines) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// After the failure: later appends are read back by a consumer now and after a restart, and
/// the failed one never.
fn everything_acknowledged_is_read(dir: &Path, spool: Spool, want: &[&str]) {
    assert_eq!(
        read_texts(&spool, "live"),
        want,
        "read by a running consumer"
    );
    spool.close();
    let spool = Spool::open(SpoolConfig::new(dir)).expect("reopen");
    assert_eq!(read_texts(&spool, "after"), want, "read after a restart");
    assert!(
        spool.stats().recovery.corrupt.is_empty(),
        "{:?}",
        spool.stats().recovery
    );
    spool.close();
}

#[test]
fn after_a_partly_failed_write_later_appends_are_read_back() {
    let (dir, faults, cfg) = faulty_dir();
    let spool = open(cfg);
    append_ok(&spool, &["a1", "a2"]);
    faults.fail(Op::Write, Files::Segments, 1, Fault::Partial(10));
    let e = spool
        .append(one("failed"))
        .wait()
        .expect_err("the write failed");
    assert!(e.is_io(), "{e}");
    append_ok(&spool, &["b1", "b2"]);
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "a2", "b1", "b2"]);
}

#[test]
fn after_a_failed_fdatasync_later_appends_are_read_back_and_the_failed_never() {
    let (dir, faults, cfg) = faulty_dir();
    let spool = open(cfg);
    append_ok(&spool, &["a1"]);
    faults.fail(Op::Sync, Files::Segments, 1, Fault::Error(EIO));
    let e = spool
        .append(one("failed"))
        .wait()
        .expect_err("the sync failed");
    assert!(e.is_io(), "{e}");
    append_ok(&spool, &["b1", "b2"]);
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1", "b2"]);
}

#[test]
fn a_disk_full_while_starting_a_segment_does_not_stop_ingestion() {
    let (dir, faults, mut cfg) = faulty_dir();
    cfg.segment_bytes = 16; // every append starts a new segment
    let spool = open(cfg);
    append_ok(&spool, &["a1"]);
    // The new segment's file is made, then its first bytes do not fit.
    faults.fail(Op::Write, Files::Segments, 1, Fault::Error(ENOSPC));
    let e = spool.append(one("failed")).wait().expect_err("no space");
    assert!(e.is_io(), "{e}");
    assert!(spool.is_failing(), "appends fail: not ready");
    append_ok(&spool, &["b1", "b2"]);
    assert!(!spool.is_failing(), "appends work again: ready");
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1", "b2"]);
}

#[test]
fn a_failed_write_that_cannot_be_cut_off_never_comes_back_after_a_restart() {
    let (dir, faults, cfg) = faulty_dir();
    let spool = open(cfg);
    append_ok(&spool, &["a1"]);
    // The round's bytes are all written, its sync fails, and so does every truncation after
    // it: the failed record stays whole in the segment file.
    faults.fail(Op::Sync, Files::Segments, 1, Fault::Error(EIO));
    faults.fail_all(Op::SetLen, Files::Segments, Fault::Error(EIO));
    spool
        .append(one("failed"))
        .wait()
        .expect_err("the sync failed");
    assert_eq!(faults.fired(), 2);
    append_ok(&spool, &["b1"]);
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1"]);
}

/// Everything a fresh consumer reads after the spool in `dir` is opened again (no faults).
fn read_after_restart(dir: &Path) -> Vec<String> {
    let spool = Spool::open(SpoolConfig::new(dir)).expect("reopen");
    let got = read_texts(&spool, "after");
    assert!(
        spool.stats().recovery.corrupt.is_empty(),
        "false corruption alarm: {:?}",
        spool.stats().recovery
    );
    spool.close();
    got
}

/// A round whose sync fails and whose cut fails too, in a segment that holds `before`.
fn refuse_uncut(spool: &Spool, faults: &Faults, text: &str, sync: Fault) {
    faults.fail(Op::Sync, Files::Segments, 1, sync);
    faults.fail_all(Op::SetLen, Files::Segments, Fault::Error(EIO));
    spool.append(one(text)).wait().expect_err("the sync failed");
}

/// On a spool empty, then on one holding an append: `refuse` makes an append fail (and does
/// whatever else the case needs), the spool stops, and a restart reads back only what was there.
fn only_what_came_before_is_read_back(refuse: impl Fn(&Spool, &Faults)) {
    for before in [&[][..], &["a1"][..]] {
        let (dir, faults, cfg) = faulty_dir();
        let spool = open(cfg);
        append_ok(&spool, before);
        refuse(&spool, &faults);
        spool.close();
        assert_eq!(read_after_restart(dir.path()), before, "before: {before:?}");
    }
}

#[test]
fn a_refused_append_whose_cut_fails_is_not_read_back_after_a_clean_restart() {
    // The process stops cleanly before any other append or probe.
    only_what_came_before_is_read_back(|spool, faults| {
        refuse_uncut(spool, faults, "refused", Fault::Error(EIO));
    });
}

#[test]
fn a_refused_append_whose_cut_fails_is_not_read_back_after_a_crash() {
    only_what_came_before_is_read_back(|spool, faults| {
        // The sync reports an error, though the bytes did reach the disk.
        refuse_uncut(spool, faults, "refused", Fault::After(EIO));
        faults.crash();
    });
}

#[test]
fn a_refused_append_is_not_read_back_when_neither_cut_nor_next_segment_can_be_made() {
    only_what_came_before_is_read_back(|spool, faults| {
        // Nothing can be cut, removed or made: only an overwrite can bound the failed bytes.
        faults.fail_all(Op::Create, Files::Segments, Fault::Error(ENOSPC));
        faults.fail_all(Op::Remove, Files::Segments, Fault::Error(EIO));
        refuse_uncut(spool, faults, "refused", Fault::After(EIO));
        faults.crash();
    });
}

#[test]
fn two_refused_appends_in_a_row_whose_cuts_fail_are_never_read_back() {
    let (dir, faults, cfg) = faulty_dir();
    let spool = open(cfg);
    append_ok(&spool, &["a1"]);
    refuse_uncut(&spool, &faults, "refused-1", Fault::After(EIO));
    // The next round lands in the segment started to bound the first: it fails too.
    refuse_uncut(&spool, &faults, "refused-2", Fault::After(EIO));
    spool.close();
    assert_eq!(read_after_restart(dir.path()), ["a1"]);
}

#[test]
fn a_partly_written_refused_append_that_cannot_be_cut_raises_no_corruption_alarm() {
    let (dir, faults, cfg) = faulty_dir();
    let spool = open(cfg);
    append_ok(&spool, &["a1"]);
    faults.fail(Op::Write, Files::Segments, 1, Fault::Partial(10));
    faults.fail_all(Op::SetLen, Files::Segments, Fault::Error(EIO));
    spool.append(one("refused")).wait().expect_err("no space");
    // Truncation still fails: the next segment bounds the part written.
    append_ok(&spool, &["b1"]);
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1"]);
}

#[test]
fn readiness_comes_back_when_space_is_freed_without_traffic() {
    let (dir, faults, mut cfg) = faulty_dir();
    cfg.probe_every = Duration::from_millis(10);
    let spool = open(cfg);
    append_ok(&spool, &["a1"]);
    assert!(!spool.is_failing());
    // The disk is full: nothing can be written anywhere.
    faults.fail_all(Op::Write, Files::Any, Fault::Error(ENOSPC));
    spool.append(one("failed")).wait().expect_err("disk full");
    assert!(spool.is_failing(), "appends fail: not ready");
    // The writer keeps probing, and the disk keeps refusing.
    let refused = faults.fired();
    eventually("a probe ran", || faults.fired() > refused + 2);
    assert!(spool.is_failing(), "still full: still not ready");
    // Space is freed; no append is sent, and readiness comes back.
    faults.heal();
    eventually("ready again", || !spool.is_failing());
    append_ok(&spool, &["b1"]);
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1"]);
}

#[test]
fn a_segment_file_left_half_made_is_finished_in_place() {
    let (dir, faults, mut cfg) = faulty_dir();
    cfg.segment_bytes = 16;
    let spool = open(cfg.clone());
    append_ok(&spool, &["a1"]);
    // The new segment's file is made, then its first bytes do not fit: the file stays.
    faults.fail(Op::Write, Files::Segments, 1, Fault::Error(ENOSPC));
    spool.append(one("failed")).wait().expect_err("no space");
    assert_eq!(faults.fired(), 1);
    let half_made = dir.path().join(format!("{:020}.seg", 2));
    assert!(half_made.exists(), "the half-made segment stays");
    append_ok(&spool, &["b1"]);
    // Left half-made again, and found so by a restart.
    faults.fail(Op::Write, Files::Segments, 1, Fault::Error(ENOSPC));
    spool.append(one("failed-2")).wait().expect_err("no space");
    spool.close();
    let spool = open(cfg);
    append_ok(&spool, &["c1"]);
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1", "c1"]);
}

#[test]
fn a_restart_on_a_full_disk_opens_and_takes_appends_once_space_is_freed() {
    let (dir, faults, mut cfg) = faulty_dir();
    cfg.segment_bytes = 16; // the segment is full after one append: a restart needs a new one
    cfg.probe_every = Duration::from_secs(3600);
    let spool = open(cfg.clone());
    append_ok(&spool, &["a1"]);
    spool.close();
    // The disk is full when the node starts again: it opens, not ready, and what is spooled
    // can still be read (delivering it is what frees space).
    faults.fail_all(Op::Write, Files::Segments, Fault::Error(ENOSPC));
    let spool = Spool::open(cfg).expect("opens on a full disk");
    assert!(spool.is_failing(), "not ready");
    spool.append(one("failed")).wait().expect_err("no room");
    faults.heal();
    append_ok(&spool, &["b1"]);
    assert!(!spool.is_failing());
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1"]);
}

#[test]
fn a_restart_that_cannot_open_or_cut_the_last_segment_still_opens_and_takes_appends() {
    let (dir, faults, cfg) = faulty_dir();
    let spool = open(cfg.clone());
    append_ok(&spool, &["a1"]);
    // A crash mid-write leaves a torn record after a1.
    faults.fail(Op::Write, Files::Segments, 1, Fault::Torn(10));
    spool
        .append(one("torn"))
        .wait()
        .expect_err("the machine stopped");
    spool.close();
    // At the restart, neither cutting the torn tail nor opening the segment works.
    let faults = Faults::new();
    faults.fail(Op::Open, Files::Segments, 1, Fault::Error(EIO));
    faults.fail(Op::Open, Files::Segments, 1, Fault::Error(EIO));
    let mut cfg = cfg;
    cfg.disk = faults.disk();
    let spool = open(cfg);
    assert!(faults.fired() >= 1, "recovery met the fault");
    append_ok(&spool, &["b1"]);
    everything_acknowledged_is_read(dir.path(), spool, &["a1", "b1"]);
}
