//! The log's one error type: opaque, with predicates for what a caller decides on.

use std::fmt;

/// Why a JetStream operation failed.
#[derive(Debug)]
pub struct NatsError {
    kind: Kind,
    what: &'static str,
    detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The servers cannot be reached, or did not answer in time.
    Unavailable,
    /// JetStream refused (a stream or consumer it will not make, a full stream).
    Refused,
    /// A key changed since it was read (another node wrote it first).
    Conflict,
}

impl NatsError {
    pub(crate) fn unavailable(what: &'static str, e: impl fmt::Display) -> Self {
        Self {
            kind: Kind::Unavailable,
            what,
            detail: e.to_string(),
        }
    }

    pub(crate) fn refused(what: &'static str, e: impl fmt::Display) -> Self {
        Self {
            kind: Kind::Refused,
            what,
            detail: e.to_string(),
        }
    }

    pub(crate) fn conflict(what: &'static str, e: impl fmt::Display) -> Self {
        Self {
            kind: Kind::Conflict,
            what,
            detail: e.to_string(),
        }
    }

    /// A key changed since it was read: another node wrote or deleted it first.
    pub fn is_conflict(&self) -> bool {
        self.kind == Kind::Conflict
    }

    /// JetStream cannot be reached now (no connection, no answer in time): worth trying again
    /// later; the gateway answers 503 with `Retry-After`.
    pub fn is_unavailable(&self) -> bool {
        self.kind == Kind::Unavailable
    }
}

impl fmt::Display for NatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Unavailable => "JetStream unreachable",
            Kind::Refused => "JetStream refused",
            Kind::Conflict => "changed meanwhile",
        };
        write!(f, "{kind}: {}: {}", self.what, self.detail)
    }
}

impl std::error::Error for NatsError {}
