//! `signal-spool`: the durable event log behind the ingestion API's promise that a 200 means
//! the event will be delivered or dead-lettered, never lost.
//!
//! - [`Spool::append`] writes a group of records and resolves once they are on disk; concurrent
//!   appends share one `fdatasync` (group commit, `spool.rs`).
//! - Records are checksummed (`record.rs`) in segment files (`segment.rs`); at open a torn tail is
//!   cut and a corrupt segment skipped with a log line naming it ([`Recovery`]).
//! - Each integration reads through its own [`Consumer`] (`consumer.rs`): acknowledgements in any
//!   order, resumed after a restart from the last record acknowledged without a gap
//!   (`ranges.rs`), so every unacknowledged record is delivered again (at-least-once).
//! - Dead letters per consumer, with reason, last vendor status and body, and attempts; listed a
//!   page at a time from disk (memory holds an index), replayed, purged, capped by dropping the
//!   oldest ([`DeadLetters`], `dead.rs`).
//! - A hard size cap answers appends with [`SpoolError::is_full`], never by dropping data;
//!   segments every consumer has acknowledged are deleted (after an optional retention).
//! - A write or `fdatasync` that fails refuses its whole round, and before anyone is answered
//!   its bytes are made unreadable for good: cut off, else bounded by the next segment's name,
//!   else their first header zeroed (`writer/bound.rs`); later appends go on, and every one
//!   answered Ok is readable (`writer.rs`). [`Spool::is_failing`] says whether appends are
//!   failing (for readiness); an idle writer probes the disk until they can succeed again.
//! - Segments are at most an eighth of the cap, and an append that would pass the cap first
//!   deletes every acknowledged segment, the active one included (`writer/housekeeping.rs`), so
//!   a small cap never wedges ingestion once what it holds is delivered.
//! - Every file operation that changes the disk goes through a [`disk::Disk`] (`disk.rs`), so
//!   tests can inject faults.
//!
//! The [`EventLog`] and [`LogConsumer`] traits are the whole of what the gateway and the delivery
//! engine use, so that a distributed log (NATS JetStream is planned) can stand in for this one.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use crate::config::SpoolConfig;
pub use crate::consumer::{Consumer, Receipt, Record, Start};
pub use crate::dead::{
    DeadLetter, DeadLetterInfo, DeadLetterPage, DeadLetterPageReader, DeadLetterStats, DeadLetters,
};
pub use crate::error::SpoolError;
pub use crate::log::{EventLog, LogConsumer};
pub use crate::record::MAX_RECORD;
pub use crate::segment::Recovery;
pub use crate::spool::{Append, Spool, SpoolStats};

mod config;
mod consumer;
mod dead;
pub mod disk;
mod error;
mod log;
mod ranges;
mod record;
mod recovery;
mod segment;
mod spool;
mod writer;
