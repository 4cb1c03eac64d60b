//! `signal-forward`: the delivery engine. Mapped requests in, per-event outcomes out.
//!
//! - [`Engine`] (`engine.rs`) owns the HTTP client: one connection pool per vendor host, kept
//!   alive, HTTP/2 through ALPN where the host offers it over TLS (`client.rs`).
//! - Each installed integration runs as its own task (`worker.rs`) with its own queue, so a slow,
//!   failing or paused integration never delays another's events. Track requests go one per
//!   request, at most `concurrency` at once; metadata records are batched (`batch.rs`: up to 500
//!   per request, sent when full or after the linger, records for the same id merged).
//! - A GCRA limiter (governor) holds each integration to `rate_limit_per_second`; a 429 halves
//!   the effective rate and holds every request until its `Retry-After`, and the rate recovers
//!   gradually.
//! - `policy.rs` is pendo.md section 7 as code: which answers are retried (full-jitter
//!   exponential backoff, `Retry-After` honoured, dead-lettered after the last attempt), which
//!   pause the integration (401/403, 404: its events held until the configuration changes or a
//!   probe succeeds), which dead-letter one event.
//! - Every event's fate is an [`Outcome`] (`outcome.rs`): delivered, retrying, failed,
//!   dead-lettered, with the vendor request and response, attempt, latency and diagnosis, for
//!   live events, stats and metrics.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use crate::config::{ForwardConfig, RetryPolicy, region_base_url, region_base_url_from};
pub use crate::engine::{Engine, Integration};
pub use crate::job::Job;
pub use crate::outcome::{Diagnosis, Outcome, OutcomeKind, VendorRequest, VendorResponse};

mod batch;
mod client;
mod config;
mod engine;
mod job;
mod outcome;
pub mod pendo_compat;
mod policy;
mod worker;
