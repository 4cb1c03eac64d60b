//! `signal-server`: the signal-edge node, wired from the library crates.
//!
//! - `settings.rs`: flag > environment > `signal.toml` > default; bad values named (exit 64).
//! - `app.rs`: opening the data directory (store, spool, generated secrets, the default source),
//!   one delivery runtime per installed integration, both servers, graceful stop.
//! - `secrets.rs`: the secret files (read, or generated and written atomically; an empty one
//!   replaced), constant-time credential checks, masked secrets sent back through the API.
//! - `ingest.rs`: the ingestion gateway's handler; `gateway.rs`: its decisions as pure functions
//!   (fuzzed), with `encoding.rs` (gzip, deflate), `auth.rs` (keys, HMAC), `cors.rs` (origins);
//!   `serve.rs`: the accept loop and connection limits; `ui.rs`: the management UI (static files
//!   in `ui/`, compiled in).
//! - `admin/`: the management API, health and metrics. `mod.rs` routes and checks the admin
//!   token; one file per concept: `catalog.rs`, `integrations.rs` (install, read, change,
//!   remove, the test button), `sources.rs`, `live.rs` (live events), `dead_letters.rs`,
//!   `health.rs` (`/healthz`, `/readyz`), `metrics.rs` (`/metrics`, stats), `reply.rs` (shared
//!   answers). Its `live.rs` and `dead_letters.rs` are the HTTP side of the crate's own
//!   `live.rs` and `dead_letters.rs` (which keep the events and read the dead letters from disk).
//! - `pipeline.rs`: spool -> parse and map (a thread per integration) -> delivery task -> outcomes
//!   -> acknowledge or dead-letter; `live.rs`: live events and counters.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use crate::app::{Generated, Node, Shared};
pub use crate::settings::{Flags, Settings, SettingsError};

mod admin;
mod app;
mod auth;
mod cors;
mod dead_letters;
mod dedup;
mod encoding;
pub mod gateway;
mod http;
mod ingest;
mod live;
mod pipeline;
mod records;
mod secrets;
mod serve;
mod settings;
mod ui;
