//! End-to-end: the real `signal-edge` binary as a process, on ephemeral ports with a temporary
//! data directory, its Pendo base URLs pointed at sandboxes in this test process.
//!
//! - `harness.rs`: starting the binary and the sandboxes, calling its APIs, waiting.
//! - `api.rs`: the ingestion and management APIs, delivery, restarts and signals.
//! - `browser.rs`: the management UI in headless Chromium, through `webdriver.rs`.
//! - `disk.rs`: a real full file system under the spool (needs root to mount a tmpfs).

mod api;
mod browser;
mod disk;
mod harness;
mod webdriver;
