//! What JetStream's deduplication costs the server in memory per million message ids.
//!
//! ```sh
//! cargo run --release -p signal-nats --example dedup_memory -- 1000000
//! ```
//!
//! Starts two `nats-server` processes (`$SIGNAL_NATS_SERVER` or `nats-server` on the PATH) with
//! JetStream in temporary directories, publishes N small records to each through
//! [`signal_nats::NatsLog::append`] (with a messageId in one, without in the other), and prints
//! each server's resident memory (`VmRSS`) before and after: the difference between the two is
//! what the duplicate window's ids cost.

use bytes::Bytes;
use signal_nats::{NatsLog, NatsSettings, ToAppend};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn server(dir: &std::path::Path) -> Result<(Child, u16), Failure> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bin = std::env::var("SIGNAL_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return Err("nats-server did not listen".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((child, port))
}

async fn fill(with_ids: bool, n: usize) -> Result<(u64, u64), Failure> {
    let dir = std::env::temp_dir().join(format!("dedup-memory-{}-{with_ids}", std::process::id()));
    let (mut child, port) = server(&dir)?;
    let log = NatsLog::connect(NatsSettings {
        servers: vec![format!("nats://127.0.0.1:{port}")],
        ..NatsSettings::default()
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(child.id());
    let mut sent = 0;
    while sent < n {
        let group: Vec<ToAppend> = (sent..(sent + 1000).min(n))
            .map(|i| ToAppend {
                message_id: with_ids.then(|| format!("{i:08x}-4b1c-4f6e-9d7a-5c3e2b1a0f9e")),
                payload: Bytes::from_static(b"{}"),
            })
            .collect();
        sent += group.len();
        log.append("web", group).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((before, after))
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (b0, a0) = fill(false, n).await?;
    let (b1, a1) = fill(true, n).await?;
    println!(
        "{n} records without ids: server RSS {b0} -> {a0} KiB (+{})",
        a0 - b0.min(a0)
    );
    println!(
        "{n} records with ids (36 chars, as UUIDs): server RSS {b1} -> {a1} KiB (+{})",
        a1 - b1.min(a1)
    );
    let per_million =
        (a1.saturating_sub(b1) as f64 - a0.saturating_sub(b0) as f64) * 1e6 / n as f64;
    println!(
        "the ids' cost: about {:.0} MiB per million ids ({:.0} bytes an id)",
        per_million / 1024.0,
        per_million * 1024.0 / 1e6
    );
    Ok(())
}
