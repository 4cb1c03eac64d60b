//! `pendo-sim`: a Pendo sandbox for tests, benchmarks and `signal-edge demo`.
//!
//! A real hyper server on `127.0.0.1` that behaves like Pendo as far as the spec knows it
//! (`shared/spec/pendo.md` sections 5 and 6):
//!
//! - `POST /data/track` and `POST /api/v1/metadata/{visitor|account}/custom/value`, with the
//!   `x-pendo-integration-key` header and the bodies checked (`check.rs`); a bad body is a 400
//!   that says why; metadata answers `{"total","updated","failed","missing"}`.
//! - Subscriptions: an integration key belongs to one region. An unknown key gets 401 (or 403,
//!   [`Subscriptions::answer_403`]); a key of another region's subscription gets 404. Start one
//!   [`Sim`] per region, sharing one [`Subscriptions`].
//! - Faults, changed at any time ([`Sim::set_faults`]): latency, a share of 500/503 answers, 429
//!   with `Retry-After`, connections closed before or after the request is handled (after: the
//!   response is lost, so a client's retry is a duplicate), stalls past a client's timeout.
//! - Every request it accepted (2xx) is recorded with method, path, headers, body and time:
//!   [`Sim::requests`], or `GET /_sim/requests` over HTTP; counters at `GET /_sim/stats`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod check;
mod server;

pub use crate::server::{FaultPlan, Recorded, Sim, SimStats, Subscriptions};
