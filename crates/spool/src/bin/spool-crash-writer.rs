//! A test helper, not a tool: appends to the spool in `argv[1]` from four threads until it is
//! killed, printing a line for each append the spool has acknowledged as durable. The crash test
//! (`tests/crash.rs`) kills it with SIGKILL at random points and checks that every acknowledged
//! record survived and nothing else came back as garbage.

use signal_spool::{Spool, SpoolConfig};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The payload of record `i` of `thread` in `run`; `tests/crash.rs` checks records against it.
fn payload(run: &str, thread: usize, i: usize) -> Vec<u8> {
    format!("{run}:{thread}:{i}:{}", "x".repeat(i * 7 % 300)).into_bytes()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(run)) = (args.next(), args.next()) else {
        eprintln!("usage: spool-crash-writer DIR RUN");
        std::process::exit(64);
    };
    let mut config = SpoolConfig::new(&dir);
    config.segment_bytes = 64 << 10;
    let spool = match Spool::open(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("spool-crash-writer: {e}");
            std::process::exit(1);
        }
    };
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (spool, out, run) = (spool.clone(), out.clone(), run.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                loop {
                    let n = 1 + i % 7;
                    let records = (i..i + n).map(|k| payload(&run, t, k)).collect();
                    match spool.append(records).wait() {
                        Ok(range) => {
                            let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                            let _ = writeln!(out, "{run} {t} {i} {n} {}", range.start);
                            let _ = out.flush();
                        }
                        Err(e) => {
                            eprintln!("spool-crash-writer: {e}");
                            std::process::exit(1);
                        }
                    }
                    i += n;
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
