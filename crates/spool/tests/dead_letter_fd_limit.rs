//! A dead-letter compaction that cannot open a file when it finishes (the process is out of file
//! descriptors) keeps every dead letter answered Ok, before and after a restart. Its own test
//! binary: it lowers this process's descriptor limit (with `prlimit(1)`) while it runs.

mod support;

use signal_spool::{Consumer, Spool, SpoolConfig, Start};
use std::fs;
use std::os::fd::AsRawFd;
use std::process::Command;
use support::letters::try_dead_letter;

fn dead_letter(c: &Consumer, seq: u64) {
    try_dead_letter(c, seq, 200 << 10).expect("dead letter answered Ok");
}

/// Sets this process's soft limit of open files; false when `prlimit` cannot.
fn set_nofile(soft: &str) -> bool {
    Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={soft}:"),
        ])
        .status()
        .is_ok_and(|s| s.success())
}

fn soft_limit() -> Option<String> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3).map(str::to_owned)
}

fn ids(c: &Consumer) -> Vec<u64> {
    let page = c.dead_letters().page(None, 1000).expect("page");
    page.letters.iter().map(|d| d.id).collect()
}

#[test]
fn a_compaction_out_of_file_descriptors_keeps_every_letter_answered_ok() {
    let Some(soft) = soft_limit() else {
        eprintln!("skipped: no /proc/self/limits");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.fsync = false;
    let spool = Spool::open(cfg.clone()).expect("open");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let pendo = dir.path().join("dead").join("pendo");
    for s in 1..=40 {
        dead_letter(&c, s);
    }
    let purged: Vec<u64> = (1..=25).collect();
    c.purge(Some(&purged)).expect("purge");
    assert!(pendo.join("dead.tmp").exists(), "a compaction under way");
    let mut added: Vec<u64> = (26..=40).collect();

    // No descriptor free from now on: the lowest free one becomes the limit.
    let lowest = fs::File::open("/dev/null").expect("probe").as_raw_fd();
    if !set_nofile(&lowest.to_string()) {
        eprintln!("skipped: prlimit cannot lower this process's limit");
        return;
    }
    let out_of_fds = fs::File::open("/dev/null").is_err();
    for s in 100..120 {
        dead_letter(&c, s);
        added.push(s);
        if !pendo.join("dead.tmp").exists() {
            break;
        }
    }
    assert!(set_nofile(&soft), "limit restored");
    assert!(out_of_fds, "the process was out of descriptors");
    dead_letter(&c, 200);
    added.push(200);
    assert_eq!(ids(&c), added, "before a restart");
    drop(c);
    spool.close();
    let spool = Spool::open(cfg).expect("reopen");
    let c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    assert_eq!(ids(&c), added, "after a restart");
}
