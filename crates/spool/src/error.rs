//! The spool's errors: opaque, with predicates a caller can ask (`is_full()` means answer 503 and
//! try later; nothing was written).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// An error of the spool.
#[derive(Debug)]
pub struct SpoolError {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The hard size cap, or too much waiting to be written: back off.
    Full { what: &'static str, limit: u64 },
    /// A disk operation failed.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The writer has stopped (the spool was closed, or a write failed earlier).
    Closed,
    /// A name or argument that cannot be used.
    Invalid(String),
}

impl SpoolError {
    pub(crate) fn full(what: &'static str, limit: u64) -> Self {
        Self {
            kind: Kind::Full { what, limit },
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            kind: Kind::Io {
                op,
                path: path.into(),
                source,
            },
        }
    }

    /// The same error again, for answering each append of a failed round.
    pub(crate) fn duplicate(&self) -> Self {
        let kind = match &self.kind {
            Kind::Full { what, limit } => Kind::Full {
                what,
                limit: *limit,
            },
            Kind::Io { op, path, source } => Kind::Io {
                op,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Kind::Closed => Kind::Closed,
            Kind::Invalid(why) => Kind::Invalid(why.clone()),
        };
        Self { kind }
    }

    pub(crate) fn closed() -> Self {
        Self { kind: Kind::Closed }
    }

    pub(crate) fn invalid(why: impl Into<String>) -> Self {
        Self {
            kind: Kind::Invalid(why.into()),
        }
    }

    /// The spool is at its size cap or its write queue is full: nothing was written; retry later
    /// (the gateway answers 503 with `Retry-After`).
    pub fn is_full(&self) -> bool {
        matches!(self.kind, Kind::Full { .. })
    }

    /// A disk operation failed.
    pub fn is_io(&self) -> bool {
        matches!(self.kind, Kind::Io { .. })
    }

    /// A disk operation failed for want of space (or quota).
    pub(crate) fn is_storage_full(&self) -> bool {
        matches!(&self.kind, Kind::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded))
    }

    /// The spool no longer accepts writes.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed)
    }

    /// Whether a caller may retry the same append later and expect it to succeed.
    pub fn is_retryable(&self) -> bool {
        self.is_full()
    }
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full { what, limit } => {
                write!(f, "spool full: {what} is at its limit of {limit} bytes")
            }
            Kind::Io { op, path, source } => write!(f, "spool: {op} {}: {source}", path.display()),
            Kind::Closed => f.write_str("spool: closed, no longer accepting writes"),
            Kind::Invalid(why) => write!(f, "spool: {why}"),
        }
    }
}

impl std::error::Error for SpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
