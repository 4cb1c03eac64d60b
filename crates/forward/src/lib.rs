//! `signal-forward`: the delivery engine. Mapped items in, per-event outcomes out. It knows
//! request targets, batches and response rules, never a vendor.
//!
//! - [`Engine`] (`engine.rs`) owns the HTTP client: one connection pool per vendor host, kept
//!   alive, HTTP/2 through ALPN where the host offers it over TLS (`client.rs`).
//! - Each installed integration runs as its own task (`worker.rs`) with its own queue, so a slow,
//!   failing or paused integration never delays another's events. The task polls its requests
//!   itself and cuts them off at the timeout by its own timer (`cut_off.rs`). Its [`ForwardConfig`] holds
//!   its targets (`signal_core::request::Target`, resolved from the blueprint's `requests`), made
//!   ready once (`prepared.rs`: URL, headers, envelope). A [`Job`]'s `request` names its target.
//! - Unbatched targets send one item per request (the item is the body, or sits in the
//!   envelope), at most `concurrency` at once. Batched targets gather items (`batch.rs`): the
//!   envelope's prefix, items joined by `,`, its suffix; cut at `max_items` / `max_bytes` or
//!   after the linger; items with the same id merged when the target merges by id.
//! - A GCRA limiter (governor) holds each integration to `rate_limit_per_second`; a throttling
//!   answer halves the effective rate and holds every request until its `Retry-After`, and the
//!   rate recovers gradually. A per-id throttle (a `partial` answer naming delayed items) holds
//!   only those ids' items.
//! - `policy.rs` + `answer.rs`: the target's response rules decide
//!   (`signal_core::response::decide_rule`); when none matches, the blueprint's troubleshooting
//!   table's pausing statuses, then the default (2xx delivered, 408/429/5xx retried, other 4xx
//!   dead-lettered). Retries use full-jitter exponential backoff, `Retry-After` honoured,
//!   dead-lettered after the last attempt.
//! - Every event's fate is an [`Outcome`] (`outcome.rs`): delivered, retrying, failed,
//!   dead-lettered, dropped, with the vendor request as shown (never a credential), the
//!   response, attempt, latency and diagnosis, for live events, stats and metrics.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use crate::config::{ForwardConfig, RetryPolicy, VendorHttp, VendorProtocol};
pub use crate::engine::{Engine, Integration, SendError};
pub use crate::job::{Job, JobBody};
pub use crate::outcome::{Diagnosis, Outcome, OutcomeKind, VendorRequest, VendorResponse};

mod answer;
mod batch;
mod client;
mod config;
mod cut_off;
mod engine;
mod job;
mod outcome;
mod policy;
mod prepared;
mod worker;
