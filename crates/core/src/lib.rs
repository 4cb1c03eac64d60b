//! `signal-core`: Segment-style events in, vendor requests out, with no I/O and no async.
//!
//! The path of one event through this crate:
//!
//! 1. [`Parser::parse`] reads a request body (one event or a batch) with simd-json into its tape,
//!    reusing buffers, and checks the body's limits. [`Document::events`] validates each event
//!    into an [`Event`]: a borrowed view with every field typed and located errors
//!    (`batch[3].userId: must be a string or a number`).
//! 2. A [`Blueprint`] (the vendor, as data: `blueprints/pendo.json`) and an installed
//!    integration's [`IntegrationConfig`] (validated against the blueprint's config fields) set
//!    up a [`Mapper`].
//! 3. [`Mapper::new`] compiles the blueprint's write plan for the integration once;
//!    [`Mapper::map`] follows the blueprint's event rows, the `integrations` switches, consent,
//!    identity (with an [`IdentityLookup`] for links made by earlier identify and group calls)
//!    and writes each request item straight from the event into a reused buffer. Every change
//!    it makes to the input is a [`Warning`].
//!
//! The crate is `forbid(unsafe_code)`; the only unsafe code on the path is simd-json's own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Input from outside never reaches an unwrap; tests may.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use crate::blueprint::{
    Blueprint, BlueprintError, BlueprintRule, ConfigField, Troubleshooting, catalog,
    install_catalog,
};
pub use crate::config::{AnonymousVisitors, ConfigErrors, IntegrationConfig, mask_secret};
pub use crate::error::{EventError, Rule};
pub use crate::event::{Consent, Context, Event, EventType, Id, Page};
pub use crate::identity::{IdentityLookup, Link, MemoryIdentity, links_of};
pub use crate::map::{DropReason, Item, Items, Mapped, Mapper, Mapping, Merge, Warning};
pub use crate::parse::{Document, Events, PADDING, Parser, Shape};
pub use crate::tape::{Arr, Obj, Val};

pub mod blueprint;
mod config;
mod error;
mod event;
mod identity;
pub mod json;
pub mod limits;
mod map;
mod parse;
pub mod rand;
pub mod record;
pub mod request;
pub mod response;
mod rules;
pub mod sample;
mod tape;
pub mod time;
mod unique;
