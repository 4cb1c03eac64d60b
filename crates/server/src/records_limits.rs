//! What bounds a request's records besides each event's own limit (part of `records.rs`): all
//! of them together take at most [`MAX_REQUEST_RECORD_BYTES`] in the spool, decided from the
//! events' sizes before any is built; and each is one the pipeline reads, though a single
//! event's record nests it two levels deeper and holds the `type` its endpoint implies, and a
//! browser's batch event gets an `anonymousId` written in.

use super::{Envelope, Prepared, RECORD_OVERHEAD, padded};
use crate::rejection::Rejection;
use signal_core::limits::{MAX_BODY_BYTES, MAX_EVENT_BYTES};
use signal_core::record;
use signal_core::{Parser, Shape};
use std::cell::RefCell;

/// The most one request's records may take in the spool, in bytes: twice the body limit
/// (1 MiB). The batch context is copied into every record; past this a request is a 413 that
/// names the rule. A full body of 500 events of 1 KiB with a usual batch context (~450 bytes)
/// and a browser's User-Agent takes 820,000 bytes (the gateway test
/// `a_full_realistic_batch_still_fits_under_the_request_limit`).
pub const MAX_REQUEST_RECORD_BYTES: u64 = 2 * MAX_BODY_BYTES as u64;

/// Refuses a request whose records would take more than [`MAX_REQUEST_RECORD_BYTES`] in the
/// spool, from the sizes of its events (`raws`, those not refused for their own size) before
/// any record is built.
///
/// # Errors
///
/// [`Rejection::Multiplied`].
pub(super) fn check_multiplied<'b>(
    envelope: &Envelope<'_>,
    raws: impl Iterator<Item = &'b [u8]>,
) -> Result<(), Rejection> {
    // A record is its header (at most `MAX_HEADER_BYTES`), its head, the event as sent (a
    // batch's events carry their own `type`) and `]}`.
    let fixed = (record::MAX_HEADER_BYTES + envelope.head().len()) as u64 + 2 + RECORD_OVERHEAD;
    let (events, bytes) = raws.fold((0usize, 0u64), |(n, sum), raw| {
        (n + 1, sum + fixed + raw.len() as u64)
    });
    if bytes > MAX_REQUEST_RECORD_BYTES {
        return Err(Rejection::Multiplied {
            context: envelope.context.len(),
            events,
            bytes,
            limit: MAX_REQUEST_RECORD_BYTES,
        });
    }
    Ok(())
}

thread_local! {
    /// Reads records as version 1 records are read ([`Parser::for_records`]).
    static RECORD: RefCell<Parser> = RefCell::new(Parser::for_records());
}

/// Whether `rec`'s JSON validates whole, as a version 1 record is read (its event valid): a
/// single event's is two levels deeper, may be a few bytes larger, and holds the `type` or
/// `anonymousId` written in, than the body it came in. Delivery trusts a version 2 record
/// without checking this again (`signal_core::record`): this is the check that makes it so
/// for a single event (a batch's events are written as they were validated, or read again
/// with their `anonymousId`).
pub(super) fn readable(rec: &[u8]) -> Result<(), signal_core::EventError> {
    let json = record::json(rec);
    RECORD.with_borrow_mut(|p| {
        let mut buf = padded(json);
        let doc = p.parse_padded(&mut buf, json.len(), Shape::Batch)?;
        doc.event(0).map(drop)
    })
}

/// The bytes of a batch event as its record holds it (with a browser's `anonymousId` written
/// in), when over the event limit: the pipeline would refuse it. The rest of a batch event's
/// record is as the batch was: no deeper.
pub(super) fn grown_past_the_limit(p: &Prepared, head_len: usize) -> Option<usize> {
    let bytes = record::json(&p.record).len().saturating_sub(head_len + 2);
    (bytes > MAX_EVENT_BYTES).then_some(bytes)
}
