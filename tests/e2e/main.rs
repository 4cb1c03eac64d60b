//! End-to-end: the real `signal-edge` binary as a process, on ephemeral ports with a temporary
//! data directory, its Pendo base URLs pointed at sandboxes in this test process.
//!
//! - `harness.rs`: starting the binary and the sandboxes, calling its APIs, waiting.
//! - `api.rs`: the ingestion and management APIs, delivery, restarts and signals.
//! - `gateway_hardening.rs`: slow clients, connection limits, encodings and bombs, origins, merged
//!   records, schemes, HMAC timestamps, source ids in records (issue 11).
//! - `browser.rs`: the management UI in headless Chromium, through `webdriver.rs`.

mod api;
mod browser;
mod gateway_hardening;
mod harness;
mod webdriver;
