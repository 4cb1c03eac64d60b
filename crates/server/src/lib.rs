//! `signal-server`: the signal-edge node, wired from the library crates.
//!
//! - `settings.rs`: flag > environment > `signal.toml` > default; bad values named (exit 64).
//! - `app.rs`: [`Node`]: opening the data directory (store, spool, generated secrets, the default
//!   source), each part's state, one delivery runtime per installed integration, both servers,
//!   graceful stop; [`StartError`].
//! - `state.rs`: what each part is handed, and nothing more: `GatewayState` (ingestion),
//!   `PipelineState` (delivery); the management API's `admin::AdminState` is made of them.
//! - `secrets.rs`: the secret files (read, or generated and written atomically; an empty one
//!   replaced), random tokens, constant-time credential checks, masked secrets sent back through
//!   the API.
//! - `dry_run.rs`: `signal-edge map`, one vendor's mapping of a body, as typed lines.
//! - `sync.rs` (locks that carry on past a panic) and `clock.rs` (now): leaves every part uses.
//! - `ingest.rs`: the ingestion gateway's handler, as its stages in order (route, authenticate,
//!   read, admit, throttle, parse and enrich, deduplicate, link identities, spool, answer);
//!   `gateway.rs`: its decisions as pure functions
//!   (fuzzed), `records.rs` (parse into spool records), `rejection.rs` (the request and why it
//!   is refused: the leaf both import), `links.rs` (the identity links' traits, from the catalog), with `encoding.rs` (gzip, deflate), `auth.rs` (keys, HMAC), `cors.rs` (origins);
//!   `serve.rs`: the accept loop and connection limits; `ui.rs`: the management UI (static files
//!   in `ui/`, compiled in); `tag.rs`: the first-party tag, `GET /v1/datafly.js` (`tag/`).
//! - `admin/`: the management API, health and metrics. `mod.rs` routes and checks the admin
//!   token; one file per concept: `catalog.rs`, `integrations.rs` (install, read, change,
//!   remove), `test_event.rs` (the test button), `sources.rs`, `live.rs` (live events), `dead_letters.rs`,
//!   `health.rs` (`/healthz`, `/readyz`), `metrics.rs` (`/metrics`, stats), `reply.rs` (shared
//!   answers), `state.rs` (what the API is handed). Its `live.rs` and `dead_letters.rs` are the
//!   HTTP side of the crate's own `live.rs` and `dead_letters.rs` (which keep the events and
//!   read the dead letters from disk).
//! - `cluster/`: a node among others on one JetStream: the shared records followed
//!   (`follow.rs`), identity links through their bucket (`links.rs`), heartbeats and rate
//!   shares (`members.rs`), live events and stats of every node (`views.rs`).
//! - `pipeline.rs`: spool -> parse and map (a thread per integration) -> delivery task -> outcomes
//!   -> acknowledge or dead-letter; `pipeline/deliveries.rs`: the runtimes running, started and
//!   stopped; `pipeline/start_error.rs`: why one cannot start; `live.rs`: live events and
//!   counters (`live/stats.rs`), with outcomes and latency per second for the last 15
//!   minutes (`live/series.rs`, the stats' `series`; public for its bench).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use crate::app::{Generated, Handles, Node, StartError};
pub use crate::dry_run::{DryRun, DryRunError, DryRunOptions, dry_run};
pub use crate::pipeline::PipelineStartError;
pub use crate::secrets::{NoRandomness, SecretError};
pub use crate::settings::{Flags, LogBackend, Settings, SettingsError, SizeError};
pub use crate::state::SourcesView;

mod access;
mod admin;
mod app;
mod auth;
mod clock;
mod cluster;
mod cors;
mod dead_letters;
mod dedup;
mod delivery_threads;
pub mod dry_run;
mod encoding;
pub mod gateway;
mod http;
mod ingest;
mod known_links;
mod links;
pub mod live;
mod pipeline;
mod records;
mod rejection;
mod secrets;
mod serve;
mod settings;
mod state;
mod sync;
mod tag;
mod ui;
mod vendors;
