//! `signal-demo`: what runs the node against the vendor sandbox instead of a vendor, so the
//! sandbox never ships inside the production crates (`signal-server` does not depend on it).
//!
//! - `demo.rs`: `signal-edge demo`, the node plus the Pendo sandbox, sessions of visitors
//!   (`sessions.rs`) and an example site using the node's tag (`site.rs`).
//! - `loadgen.rs`: `signal-edge loadgen`, the load harness (the node in-process, the sandbox as
//!   Pendo).
//! - `sink.rs`: the null receiver `loadgen --sink null` delivers to, in its own process.
//! - `error.rs`: [`DemoError`], why either stopped.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod demo;
mod error;
pub mod loadgen;
pub mod sessions;
pub mod sink;
pub mod site;

pub use crate::error::{DemoError, HttpError};
