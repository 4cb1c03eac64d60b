//! Crash safety: a child process appending from four threads is killed with SIGKILL at random
//! points, over many runs. After each, the spool opens; every append the child saw acknowledged
//! is there with its bytes; everything else read back is a whole record the child wrote, never
//! garbage. `SPOOL_CRASH_RUNS` sets the number of runs (default 30, about 5 s).

use signal_spool::{Spool, SpoolConfig, Start};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn payload(run: &str, thread: usize, i: usize) -> Vec<u8> {
    format!("{run}:{thread}:{i}:{}", "x".repeat(i * 7 % 300)).into_bytes()
}

/// Whether `p` is a record the child could have written.
fn well_formed(p: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(p) else {
        return false;
    };
    let parts: Vec<&str> = text.splitn(4, ':').collect();
    let [run, thread, i, _] = parts[..] else {
        return false;
    };
    match (thread.parse::<usize>(), i.parse::<usize>()) {
        (Ok(t), Ok(i)) => payload(run, t, i) == p,
        _ => false,
    }
}

#[test]
fn killed_mid_append_the_acknowledged_survive_and_nothing_else_is_garbage() {
    let runs: u64 = std::env::var("SPOOL_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || {
        let mut c = SpoolConfig::new(dir.path());
        c.segment_bytes = 64 << 10;
        c
    };
    // A consumer that never acknowledges keeps every segment for the checks.
    let spool = Spool::open(config()).expect("open");
    drop(spool.consumer("verify", Start::Earliest).expect("consumer"));
    spool.close();

    let mut acknowledged: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut kills_mid_write = 0;
    for run in 0..runs {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spool-crash-writer"))
            .arg(dir.path())
            .arg(format!("r{run}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("stdout");
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(20 + rng % 150));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the writer was killed, not finished");
        let lines = lines.join().expect("reader");
        for line in &lines {
            let f: Vec<&str> = line.split(' ').collect();
            let [run, t, i, n, start] = f[..] else {
                panic!("bad line {line:?}")
            };
            let (t, i, n, start): (usize, usize, usize, u64) = (
                t.parse().expect("thread"),
                i.parse().expect("i"),
                n.parse().expect("n"),
                start.parse().expect("start"),
            );
            for k in 0..n {
                acknowledged.insert(start + k as u64, payload(run, t, i + k));
            }
        }

        let spool = Spool::open(config()).expect("the spool opens after a kill");
        let recovery = spool.stats().recovery;
        assert!(recovery.corrupt.is_empty(), "run {run}: {recovery:?}");
        if recovery.torn_bytes > 0 {
            kills_mid_write += 1;
        }
        let mut c = spool.consumer("verify", Start::Earliest).expect("consumer");
        let mut found = BTreeMap::new();
        loop {
            let got = c.read(10_000).expect("read");
            if got.is_empty() {
                break;
            }
            for r in got {
                assert!(
                    well_formed(&r.payload),
                    "run {run}: garbage at seq {}: {:?}",
                    r.seq,
                    String::from_utf8_lossy(&r.payload)
                );
                found.insert(r.seq, r.payload);
            }
        }
        for (seq, p) in &acknowledged {
            assert_eq!(
                found.get(seq),
                Some(p),
                "run {run}: acknowledged seq {seq} lost"
            );
        }
        drop(c);
        spool.close();
    }
    assert!(
        acknowledged.len() > 100,
        "the writer got going: {}",
        acknowledged.len()
    );
    eprintln!(
        "{runs} kills, {} acknowledged records all present, {kills_mid_write} torn tails cut",
        acknowledged.len()
    );
}
