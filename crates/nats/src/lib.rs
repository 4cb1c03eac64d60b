//! `signal-nats`: the event log on NATS JetStream, for nodes that share one log
//! (`SIGNAL_LOG_BACKEND=nats://host:port[,host:port...]`).
//!
//! - [`NatsSettings`] (`settings.rs`): the servers, a credentials file, replicas, the
//!   duplicate window, the acknowledgement wait.
//! - [`NatsLog`] (`log.rs`): connects, makes sure of the two streams (accepted events, subjects
//!   per source; dead letters, subjects per integration), and appends: [`NatsLog::append`]
//!   resolves only once JetStream has acknowledged every record of the group, each published
//!   with `Nats-Msg-Id` = source and messageId, so the stream drops a record another node
//!   already took within the duplicate window.
//! - [`NatsConsumer`] (`consumer.rs`): one durable pull consumer per integration with explicit
//!   acknowledgements, shared by every node, so each record goes to one node; a
//!   [`Delivery`] is acknowledged, marked in progress (`+WPI`, so a record waiting on a retry
//!   is not handed to another node meanwhile) or handed back.
//! - Dead letters (`dead.rs`): kept in their own stream under the integration's subject with
//!   why as headers; listed a page at a time, replayed (back into the events stream under a
//!   subject only that integration's consumer reads) and purged.
//! - Shared state (`shared.rs`): [`Buckets`] of key-value pairs every node follows
//!   (integrations, sources, identity links) and the nodes alive now, by heartbeat.
//! - Views (`views.rs`): core NATS between the nodes, nothing kept: live events pushed to
//!   every node, and questions every node answers (its recent live events, its counters).
//! - [`NatsError`] (`error.rs`): opaque, with [`NatsError::is_unavailable`] for "JetStream
//!   cannot be reached now" (the gateway's 503, readiness).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod consumer;
mod dead;
mod error;
mod log;
mod settings;
mod shared;
mod views;

pub use crate::consumer::{Delivery, NatsConsumer};
pub use crate::error::NatsError;
pub use crate::log::{Appended, NatsLog, ToAppend};
pub use crate::settings::{NatsSettings, SettingsError};
pub use crate::shared::{
    Bucket, Buckets, Change, Changes, HEARTBEAT_TTL, id_of, key, link_key, parse_link_key,
};
pub use crate::views::{LiveEvent, LiveFeed, Question, Questions};
