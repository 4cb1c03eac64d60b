//! Delivery on its own threads (`SIGNAL_DELIVERY_THREADS`, default 1): it goes on while every
//! thread of the node's runtime is busy, as under flat-out ingestion.

use super::Runtime;
use super::memory_tests::{append, pendo, shared};
use signal_spool::Start;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A Pendo on plain threads (so no tokio runtime of the test's runs it) that answers every
/// request 200 `{}` on keep-alive connections and counts them. Its URL and the count.
fn counting_vendor() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let c = c.clone();
            std::thread::spawn(move || answer(s, &c));
        }
    });
    (url, count)
}

/// Answers each request on `s` (head, then `content-length` bytes of body) until it closes.
fn answer(mut s: TcpStream, count: &AtomicUsize) {
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 8192]);
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() < end + 4 + len {
                break;
            }
            buf.drain(..end + 4 + len);
            count.fetch_add(1, Ordering::SeqCst);
            let ok =
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
            if s.write_all(ok).is_err() {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn delivery_goes_on_while_every_thread_of_the_nodes_runtime_is_busy() {
    // The node's runtime: one thread, which the test keeps busy (it never yields) while
    // delivery works, as ingestion's tasks would.
    let node = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _node = node.enter();
    let dir = tempfile::tempdir().unwrap();
    let (url, delivered) = counting_vendor();
    let shared = shared(dir.path(), &url);
    assert_eq!(shared.settings.delivery_threads, 1, "the default");
    append(shared.spool(), 200, 10);
    let rt = Runtime::start(&shared, &pendo(), Start::Earliest).unwrap();
    node.block_on(async {
        let start = Instant::now();
        while delivered.load(Ordering::SeqCst) < 200 && start.elapsed() < Duration::from_secs(20) {
            // Blocks the node's only thread: nothing of the node's runtime runs meanwhile.
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        200,
        "every event delivered while the node's runtime was busy"
    );
    node.block_on(rt.stop());
}
