//! What the gateway's stages share, as a leaf both `gateway.rs` (route, admit) and
//! `records.rs` (build) import without importing each other: the request as the gateway sees
//! it ([`Request`]) and why one is refused whole ([`Rejection`], with its status, code and
//! sentence).

use crate::auth::AuthError;
use crate::encoding::DecodeError;
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use signal_core::EventError;
use signal_core::limits::MAX_BODY_BYTES;
use std::fmt;
use std::net::IpAddr;

/// What the gateway knows of a request, without the socket.
pub struct Request<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URL's path.
    pub path: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body as received (possibly compressed), at most 512 KiB.
    pub body: &'a [u8],
    /// The peer's address.
    pub peer: IpAddr,
    /// Now, in unix milliseconds.
    pub now_ms: i64,
}

/// Why a request is refused whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No such endpoint (404).
    NotFound,
    /// Not POST or OPTIONS (405).
    MethodNotAllowed,
    /// The body as sent is over 512 KiB (413).
    BodyTooLarge,
    /// A body without credentials, read for its `writeKey`, is over 64 KiB (413).
    KeylessBodyTooLarge,
    /// The body's coding is unknown (415), corrupt (400) or inflates past the limit (413).
    Encoding(DecodeError),
    /// The credentials name no source (401).
    Unauthorized(AuthError),
    /// The source does not take requests from this `Origin` (403).
    Origin,
    /// The body, or its one event, breaks a rule (400, or 413 for a size).
    Invalid(EventError),
    /// The batch's context, copied into each of its events' records, would make the request's
    /// records more than `MAX_REQUEST_RECORD_BYTES` (413); decided before they are built.
    Multiplied {
        /// The context each record carries (the batch's, with the request's ip and
        /// User-Agent), in bytes.
        context: usize,
        /// The batch's events.
        events: usize,
        /// What the records would take in the spool.
        bytes: u64,
        /// `MAX_REQUEST_RECORD_BYTES`.
        limit: u64,
    },
    /// The one event of the body, as its record holds it (inside a batch, with the `type` its
    /// endpoint implies or a browser's `anonymousId` written in), breaks a rule the pipeline
    /// reads records by (413 for a size, else 400): two levels deeper, or a few bytes larger,
    /// than the body was.
    Unstorable(EventError),
    /// The request's records are more than the spool can ever take in one append (413).
    NeverFits {
        /// The records' size in the spool.
        bytes: u64,
        /// What the spool can take at once.
        limit: u64,
    },
}

impl Rejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::BodyTooLarge
            | Rejection::KeylessBodyTooLarge
            | Rejection::NeverFits { .. }
            | Rejection::Multiplied { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Encoding(DecodeError::Unsupported(_)) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::Encoding(DecodeError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Encoding(DecodeError::Corrupt { .. }) => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Rejection::Origin => StatusCode::FORBIDDEN,
            Rejection::Invalid(e) | Rejection::Unstorable(e) if e.is_too_large() => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Rejection::Invalid(_) | Rejection::Unstorable(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotFound => "NOT_FOUND",
            Rejection::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Rejection::BodyTooLarge
            | Rejection::KeylessBodyTooLarge
            | Rejection::NeverFits { .. }
            | Rejection::Multiplied { .. }
            | Rejection::Encoding(DecodeError::TooLarge { .. }) => "TOO_LARGE",
            Rejection::Encoding(DecodeError::Unsupported(_)) => "UNSUPPORTED_ENCODING",
            Rejection::Encoding(DecodeError::Corrupt { .. }) => "INVALID_REQUEST",
            Rejection::Unauthorized(_) => "UNAUTHORIZED",
            Rejection::Origin => "FORBIDDEN",
            Rejection::Invalid(e) | Rejection::Unstorable(e) => e.code(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotFound => f.write_str("no such endpoint"),
            Rejection::MethodNotAllowed => f.write_str("use POST"),
            Rejection::BodyTooLarge => {
                write!(f, "body is over the limit of {MAX_BODY_BYTES} bytes")
            }
            Rejection::KeylessBodyTooLarge => write!(
                f,
                "a body without credentials is read for its writeKey up to {} bytes; send the \
                 key in Authorization",
                crate::auth::MAX_KEY_IN_BODY_BYTES
            ),
            Rejection::Encoding(e) => e.fmt(f),
            Rejection::Unauthorized(e) => e.fmt(f),
            Rejection::Origin => {
                f.write_str("this source does not take requests from the request's Origin")
            }
            Rejection::Invalid(e) => e.fmt(f),
            Rejection::Multiplied {
                context,
                events,
                bytes,
                limit,
            } => write!(
                f,
                "the batch context ({context} bytes) is copied into each of its {events} events: \
                 {bytes} bytes in all, over the limit of {limit}; send a smaller context or \
                 fewer events per request"
            ),
            Rejection::Unstorable(e) => write!(
                f,
                "the event is stored inside a batch, with the `type` its endpoint implies (or a \
                 browser's `anonymousId`) written in, and so it breaks a rule: {e}; send a \
                 smaller or shallower event, with its own `type`"
            ),
            Rejection::NeverFits { bytes, limit } => write!(
                f,
                "the request's events take {bytes} bytes in the spool, more than it can ever \
                 take at once ({limit}): send fewer or smaller events"
            ),
        }
    }
}

impl std::error::Error for Rejection {}
