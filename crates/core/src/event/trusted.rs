//! Reading an event already validated: what validating it computed ([`Known`]) and the read
//! that takes it instead of checking again ([`Event::trusted`]). A version 2 spool record
//! carries `Known` in its header (`record.rs`); a single-event body keeps it from its parse.

use super::{Context, Event, EventType, Id, NumId, field_of, present, wrong};
use crate::error::EventError;
use crate::tape::Val;

/// What validating an event computed, so that it is not computed again: carried by a version 2
/// spool record (`record.rs`), where delivery reads the event with these instead of the
/// event's own `type` and timestamps, and kept by a single-event [`Document`](crate::Document)
/// that [`Parser::parse`](crate::Parser::parse) has validated, so that reading its event
/// afterwards does not validate it a second time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Known {
    /// The event's type.
    pub kind: EventType,
    /// `timestamp`, else `originalTimestamp`, in epoch milliseconds.
    pub timestamp: Option<i64>,
    /// The event's own `sentAt`, in epoch milliseconds.
    pub sent_at: Option<i64>,
    /// The record's `receivedAt` (the gateway's clock).
    pub received_at: Option<i64>,
    /// Whether the event named its own `type` (a record's always does).
    pub typed: bool,
}

impl Known {
    /// What validating `ev` computed.
    pub(crate) fn of(ev: &Event<'_, '_>) -> Self {
        Self {
            kind: ev.kind,
            timestamp: ev.timestamp,
            sent_at: ev.own_sent_at,
            received_at: ev.received_at,
            typed: ev.typed,
        }
    }
}

/// An id the gateway has validated: read, not checked (not empty, not too long).
#[inline]
pub(super) fn trusted_id<'de>(key: &str, v: Val<'_, 'de>) -> Result<Id<'de>, EventError> {
    if let Some(s) = v.as_str() {
        return Ok(Id::Str(s));
    }
    v.as_static_number()
        .and_then(NumId::new)
        .map(Id::Num)
        .ok_or_else(|| wrong(key, "a string or a number"))
}

impl<'t, 'de> Event<'t, 'de> {
    /// Reads one event the gateway has validated (a version 2 spool record's), with what it
    /// computed then: no duplicate-key walk, no check of spellings, ids, names or required
    /// fields, no `type` name looked up and no ISO 8601 parsed (`known` holds the type and the
    /// timestamps). The fields are taken from the tape as [`decode`](Self::decode) takes them;
    /// a value of the wrong JSON type is an error (the record is not what the gateway wrote).
    pub(crate) fn trusted(
        v: Val<'t, 'de>,
        base: Context<'t, 'de>,
        known: Known,
    ) -> Result<Self, EventError> {
        let obj = v.as_obj().ok_or_else(|| wrong("", "an object"))?;
        let mut ev = Event {
            timestamp: known.timestamp,
            sent_at: known.sent_at,
            received_at: known.received_at,
            typed: known.typed,
            own_sent_at: known.sent_at,
            ..Event::bare(known.kind, base)
        };
        for (k, v) in obj.iter() {
            let Some((field, _)) = field_of(k) else {
                continue;
            };
            let Some(v) = present(v) else { continue };
            // The type and the timestamps come from `known`.
            ev.read_shared::<false>(field, k, v)?;
        }
        Ok(ev)
    }
}
