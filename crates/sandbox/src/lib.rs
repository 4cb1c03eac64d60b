//! `signal-sandbox`: one vendor sandbox for tests, benchmarks and `signal-edge demo`, playing
//! each vendor from a fixture file (`fixtures/pendo.json`, `amplitude.json`, `heap.json`, or any
//! file a test writes).
//!
//! A real hyper server on `127.0.0.1` ([`Sim`]) that, per its [`Fixture`]:
//!
//! - routes requests by method and path, and reads the key where the vendor puts it (a header,
//!   a body field such as Amplitude's `api_key` or Heap's `app_id`, Basic, bearer, a query
//!   parameter): `auth.rs`;
//! - checks the key against [`Subscriptions`] (key → region; start one [`Sim`] per region
//!   sharing one [`Subscriptions`]): an unknown key gets the vendor's auth failure, a key of
//!   another region its wrong-region answer: `subscriptions.rs`;
//! - checks the body (JSON object or array, where the items are, required keys and types per
//!   item, most items and bytes per request), naming the failing items by index as Amplitude's
//!   partial 400 does and accepting nothing of a refused request: `check.rs`, its texts
//!   `messages.rs`;
//! - throttles per id (more than N items per window for one `user_id`/`device_id`):
//!   `throttle.rs`;
//! - answers as the vendor does, from templates (`answer.rs`);
//! - injects faults ([`FaultPlan`], `faults.rs`) and records every accepted request and item
//!   ([`Sim::requests`], [`Sim::items`], [`Sim::stats`]; over HTTP `GET /_sim/requests`,
//!   `/_sim/items`, `/_sim/stats`): `record.rs`;
//! - shows what it accepted as Pendo would, in HTML pages at its own address: visitors searched
//!   by visitorId, a visitor's activity timeline and metadata, an account's visitors
//!   (`/_sim/visitors`, `/_sim/visitors/{id}`, `/_sim/accounts/{id}`): `visitors.rs` (the
//!   pages), `visitors/people.rs` (what they show).
//!
//! The fixture format is `fixture.rs` (a reference with examples: `fixtures/README.md`), its
//! loading and rules `load.rs`; the server and the stages of one request, `server.rs`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod answer;
mod auth;
mod check;
mod faults;
mod fixture;
mod load;
mod messages;
mod record;
mod server;
mod subscriptions;
mod throttle;
mod visitors;

pub use crate::faults::FaultPlan;
pub use crate::fixture::{
    Answer, AuthRule, BodyRule, FieldRule, FieldType, Fixture, ItemRule, Messages, Route, Shape,
    Throttle,
};
pub use crate::load::{ANSWERS, FixtureError, Rule, VARIABLES};
pub use crate::record::{AcceptedItem, Recorded, SimStats};
pub use crate::server::Sim;
pub use crate::subscriptions::Subscriptions;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
