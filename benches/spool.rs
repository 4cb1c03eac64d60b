//! The spool's durable append rate with group commit, beside this disk's raw fsync rate and an
//! embedded database (redb) given the same group commit, measured in one run; then the
//! append-to-durable latency under a fixed offered load.
//!
//! `cargo bench --bench spool` (about a minute). `SPOOL_BENCH_SECS` sets each measurement's
//! length (default 2). The spool and redb write to a temporary directory on the same disk.

use crossbeam_channel::{Receiver, Sender, unbounded};
use signal_spool::{Spool, SpoolConfig, Start};
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const EVENT: usize = 1024;

fn secs() -> Duration {
    let s = std::env::var("SPOOL_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

/// The physical limit: one 4 KiB write and `fdatasync`, in a loop.
fn raw_fsync_rate(dir: &std::path::Path) -> f64 {
    let path = dir.join("raw");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .expect("raw file");
    let block = vec![7u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < secs() {
        f.write_all(&block).expect("write");
        f.sync_data().expect("fdatasync");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

type Done = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Something appenders append to and wait on, as the gateway's request tasks will.
trait Log: Send + Sync + 'static {
    fn append(&self, records: Vec<Vec<u8>>) -> Done;
}

impl Log for Spool {
    fn append(&self, records: Vec<Vec<u8>>) -> Done {
        let append = Spool::append(self, records);
        Box::pin(async move {
            append.await.expect("append");
        })
    }
}

/// redb with the same group commit as the spool: a writer thread takes every waiting append and
/// commits them in one durable transaction.
/// Records to commit, and whom to tell.
type Commit = (Vec<Vec<u8>>, oneshot::Sender<()>);

struct Redb {
    tx: Sender<Commit>,
}

const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("events");

impl Redb {
    fn open(path: &std::path::Path) -> Self {
        let db = redb::Database::create(path).expect("redb");
        let (tx, rx): (_, Receiver<Commit>) = unbounded();
        std::thread::spawn(move || {
            let mut next = 0u64;
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let txn = db.begin_write().expect("begin");
                {
                    let mut t = txn.open_table(TABLE).expect("table");
                    for (records, _) in &batch {
                        for r in records {
                            t.insert(next, r.as_slice()).expect("insert");
                            next += 1;
                        }
                    }
                }
                txn.commit().expect("commit");
                for (_, done) in batch {
                    let _ = done.send(());
                }
            }
        });
        Self { tx }
    }
}

impl Log for Redb {
    fn append(&self, records: Vec<Vec<u8>>) -> Done {
        let (done, wait) = oneshot::channel();
        self.tx.send((records, done)).expect("send");
        Box::pin(async move {
            wait.await.expect("commit");
        })
    }
}

/// Durable events/s with `appenders` concurrent tasks (on a two-thread tokio runtime, as in the
/// gateway), each appending `per_append` events at a time and waiting for them to be durable.
fn throughput(
    rt: &tokio::runtime::Runtime,
    log: Arc<dyn Log>,
    appenders: usize,
    per_append: usize,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|_| {
            let (log, stop, count) = (log.clone(), stop.clone(), count.clone());
            rt.spawn(async move {
                let payload = vec![b'e'; EVENT];
                while !stop.load(Ordering::Relaxed) {
                    log.append(vec![payload.clone(); per_append]).await;
                    count.fetch_add(per_append as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(secs());
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            t.await.expect("appender");
        }
    });
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Append-to-durable latency at `rate` single-event appends per second, offered on a fixed
/// schedule (latency counts from the scheduled time, so a stall is not hidden by waiting).
fn latency(spool: Spool, rate: f64, duration: Duration) -> (usize, [Duration; 4]) {
    const THREADS: usize = 64;
    let interval = Duration::from_secs_f64(THREADS as f64 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let spool = spool.clone();
            std::thread::spawn(move || {
                let payload = vec![b'l'; EVENT];
                let mut at = start + interval.mul_f64(t as f64 / THREADS as f64);
                let mut samples = Vec::new();
                while at < start + duration {
                    if let Some(wait) = at.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    spool.append(vec![payload.clone()]).wait().expect("append");
                    samples.push(Instant::now() - at);
                    at += interval;
                }
                samples
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    all.sort();
    let q = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len(), [q(0.5), q(0.99), q(0.999), all[all.len() - 1]])
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` ask; nothing to list.
    }
    let dir = tempfile::tempdir_in(std::env::current_dir().expect("cwd")).expect("tempdir");
    println!(
        "spool benchmark: 1 KiB events, {:.1} s per measurement, dir {}",
        secs().as_secs_f64(),
        dir.path().display()
    );
    let fsyncs = raw_fsync_rate(dir.path());
    println!("raw fdatasync rate of this disk (4 KiB write + fdatasync): {fsyncs:.0}/s");
    println!();
    println!("| log | appenders | events per append | durable events/s | per fsync-limit |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, appenders: usize, per: usize, rate: f64| {
        println!(
            "| {name} | {appenders} | {per} | {rate:.0} | {:.1}x |",
            rate / fsyncs
        );
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    for (appenders, per) in [(1, 1), (16, 1), (128, 1), (1, 100), (16, 100)] {
        let sub = dir.path().join(format!("spool-{appenders}-{per}"));
        let spool = Spool::open(SpoolConfig::new(&sub)).expect("spool");
        // A consumer that keeps up, so segments are deleted as in production.
        let mut c = spool.consumer("drain", Start::Earliest).expect("consumer");
        let stop = Arc::new(AtomicBool::new(false));
        let drain = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    c.wait_readable(Duration::from_millis(20));
                    for r in c.read(10_000).expect("read") {
                        c.ack(r.receipt()).expect("ack");
                    }
                }
            })
        };
        let rate = throughput(&rt, Arc::new(spool.clone()), appenders, per);
        stop.store(true, Ordering::Relaxed);
        drain.join().expect("drain");
        row("signal-spool", appenders, per, rate);
        spool.close();
        let redb = Redb::open(&dir.path().join(format!("redb-{appenders}-{per}.redb")));
        let rate = throughput(&rt, Arc::new(redb), appenders, per);
        row("redb 4 (same group commit)", appenders, per, rate);
    }
    println!();
    let spool = Spool::open(SpoolConfig::new(dir.path().join("latency"))).expect("spool");
    let offered = 10_000.0;
    let (n, [p50, p99, p999, max]) = latency(spool.clone(), offered, secs() * 3);
    println!(
        "append-to-durable latency at {offered:.0} appends/s offered (1 event each, 64 threads), {n} samples: \
         p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        p999.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    spool.close();
}
