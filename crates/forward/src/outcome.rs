//! What happened to each event: the live event's facts, without credentials.

use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// The fate of one delivery attempt of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// The vendor answered 2xx.
    Delivered,
    /// It failed in a way worth retrying; another attempt is scheduled.
    Retrying,
    /// It failed and the event is held (the integration is paused) until the configuration
    /// changes or a probe succeeds.
    Failed,
    /// Given up on: kept as a dead letter with the last answer.
    DeadLettered,
    /// Not sent and not kept: a response rule said `drop` (its reason says why).
    Dropped,
}

impl OutcomeKind {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Delivered => "delivered",
            OutcomeKind::Retrying => "retrying",
            OutcomeKind::Failed => "failed",
            OutcomeKind::DeadLettered => "dead_lettered",
            OutcomeKind::Dropped => "dropped",
        }
    }
}

/// The request as sent, minus its credentials: no headers, the URL and the body as shown
/// (a query or body credential masked). Cheap to clone: the URL and body are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorRequest {
    /// `POST` or `PUT`.
    pub method: &'static str,
    /// The full URL, as shown.
    pub url: Arc<str>,
    /// The body, as shown.
    pub body: Bytes,
}

/// The vendor's answer. Cheap to clone: the body is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorResponse {
    /// HTTP status, or 0 when no answer came (the body then says why).
    pub status: u16,
    /// The body, or why there was none.
    pub body: Bytes,
}

impl VendorResponse {
    /// The body as text (lossy), cut to `max` bytes, for a live event.
    pub fn body_text(&self, max: usize) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(max)]).into_owned()
    }
}

/// A problem the user can act on, from the blueprint's troubleshooting table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// `invalid_integration_key`, `wrong_data_region`, ...
    pub code: String,
    /// What happened.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// One event's outcome after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The integration.
    pub integration_id: Arc<str>,
    /// The caller's id of the event.
    pub id: u64,
    /// What happened.
    pub kind: OutcomeKind,
    /// Why, when it was not delivered (`status_503`, `timeout`, `connect`, `vendor_rejected`,
    /// `split: status_413`, `delayed: status_429`, `partial_limit: status_400`...).
    pub reason: Option<String>,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Time from the request's send to its answer.
    pub latency: Option<Duration>,
    /// What was sent.
    pub request: Option<VendorRequest>,
    /// What came back.
    pub response: Option<VendorResponse>,
    /// The diagnosis, when the answer has one.
    pub diagnosis: Option<Diagnosis>,
    /// Warnings from the vendor's answer (a response rule's `warn_if`: Pendo's metadata
    /// records failed or missing).
    pub warnings: Vec<String>,
}
