//! The spool record: what the gateway writes for one accepted event, and the one way delivery
//! reads it back into an [`Event`] ready for [`Mapper::map`](crate::Mapper::map).
//!
//! Two versions, told apart by the first byte:
//!
//! - **Version 1** (the previous release's, implicit): the JSON text
//!   `{"receivedAt":..,"sourceId":..,"context":{..},"batch":[event]}`, first byte `{`. Read as
//!   before: parsed and validated whole ([`Parser::for_records`], `Shape::Batch`, then the
//!   event's rules), since nothing says what was checked when it was written.
//! - **Version 2** (written by the gateway now): a header, then the same JSON text, byte for
//!   byte. The header is what the gateway computed while validating the event:
//!
//!   | bytes  | what                                                                  |
//!   |--------|-----------------------------------------------------------------------|
//!   | 1      | `0x02`, the version                                                   |
//!   | 1      | the event's type (bits 0-2, its number: `EventType as u8`), whether a timestamp follows (bit 3), whether a `sentAt` follows (bit 4); bits 5-7 zero |
//!   | 1-10   | the event's timestamp (`timestamp`, else `originalTimestamp`) minus the record's `receivedAt`, in ms, zigzag LEB128 |
//!   | 1-10   | the event's own `sentAt` minus `receivedAt`, the same way             |
//!
//!   Typically 8 bytes (a timestamp and a `sentAt` within a few minutes of `receivedAt` take 3
//!   bytes each).
//!
//! What delivery does with a version 2 record, exactly:
//!
//! - **Re-read**: simd-json's tape of the JSON (simd-json checks that it is JSON and UTF-8
//!   while building it, and the depth limit holds); the record's top-level `receivedAt`
//!   (a number), `context` and `batch` found by name; the batch context's and the event's
//!   fields taken from the tape (strings, ids, objects such as `properties` and `traits`
//!   stay on the tape for the mapper), each still of the JSON type it must be.
//! - **Not re-read**: the duplicate-key walk over the event, the check of keys given in both
//!   spellings, ISO 8601 parsing (`timestamp`, `originalTimestamp`, `sentAt` come from the
//!   header), the `type` name, the event's rules (ids not empty nor too long, a track's name,
//!   a group's id, some id at all), the body, batch and event size limits, and the batch's
//!   event spans.
//!
//! A record that is neither version (a first byte other than `{` or `0x02`), whose header is cut
//! short or malformed, that does not parse, or whose event is invalid (version 1) or not what
//! the gateway writes (version 2) is a [`RecordError`] naming why; delivery keeps it as a dead
//! letter with that reason.

use crate::error::EventError;
use crate::event::{Event, EventType};
use crate::parse::{Document, PADDING, Parser, Shape};
use std::fmt;

/// The first byte of a version 2 record.
pub const VERSION_2: u8 = 0x02;

/// The most bytes a version 2 header takes (two 10-byte varints).
pub const MAX_HEADER_BYTES: usize = 22;

const HAS_TIMESTAMP: u8 = 1 << 3;
const HAS_SENT_AT: u8 = 1 << 4;
const KIND_MASK: u8 = 0b111;

/// Why a spooled record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The record has no bytes.
    Empty,
    /// Its first byte names no version this node reads.
    UnknownVersion(u8),
    /// Its version 2 header is cut short or holds values no gateway writes.
    Header(&'static str),
    /// Its JSON does not parse (or is not a record: no `batch`).
    NotParsed(EventError),
    /// Its event breaks a rule (version 1) or is not what the gateway writes (version 2).
    Invalid(EventError),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Empty => f.write_str("the spooled record is empty"),
            RecordError::UnknownVersion(b) => write!(
                f,
                "the spooled record is of an unknown format (first byte 0x{b:02x}; this node \
                 reads version 1, starting with `{{`, and version 2, starting with 0x02)"
            ),
            RecordError::Header(why) => {
                write!(f, "the spooled record's version 2 header is corrupt: {why}")
            }
            RecordError::NotParsed(e) => write!(f, "the spooled record does not parse: {e}"),
            RecordError::Invalid(e) => write!(f, "the spooled record's event is invalid: {e}"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Writes the version 2 header of `ev`'s record, whose `receivedAt` is `received_ms`, to `out`;
/// the record's JSON follows it.
pub fn write_header(out: &mut Vec<u8>, ev: &Event<'_, '_>, received_ms: i64) {
    let mut flags = ev.kind as u8;
    flags |= if ev.timestamp.is_some() {
        HAS_TIMESTAMP
    } else {
        0
    };
    flags |= if ev.own_sent_at.is_some() {
        HAS_SENT_AT
    } else {
        0
    };
    out.push(VERSION_2);
    out.push(flags);
    for at in [ev.timestamp, ev.own_sent_at].into_iter().flatten() {
        write_varint(out, zigzag(at.wrapping_sub(received_ms)));
    }
}

/// The record's JSON text: after the header of a version 2 record, else all of it (as it is,
/// for showing a record of a version this node does not know).
pub fn json(record: &[u8]) -> &[u8] {
    match Header::read(record) {
        Ok(Some((_, len))) => &record[len..],
        _ => record,
    }
}

/// What a version 2 header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    kind: EventType,
    /// The timestamp and own `sentAt`, in ms after `receivedAt`.
    after_received: [Option<i64>; 2],
}

impl Header {
    /// The header of `record` and its length; `None` for a version 1 record.
    fn read(record: &[u8]) -> Result<Option<(Header, usize)>, RecordError> {
        match record.first() {
            None => Err(RecordError::Empty),
            Some(b'{') => Ok(None),
            Some(&VERSION_2) => {
                let flags = *record.get(1).ok_or(RecordError::Header("no type byte"))?;
                if flags & !(KIND_MASK | HAS_TIMESTAMP | HAS_SENT_AT) != 0 {
                    return Err(RecordError::Header("unknown flags"));
                }
                let kind = *EventType::ALL
                    .get(usize::from(flags & KIND_MASK))
                    .ok_or(RecordError::Header("unknown event type"))?;
                let mut at = 2;
                let mut field = |present: bool| -> Result<Option<i64>, RecordError> {
                    if !present {
                        return Ok(None);
                    }
                    let (v, n) = read_varint(&record[at..])?;
                    at += n;
                    Ok(Some(unzigzag(v)))
                };
                let after_received = [
                    field(flags & HAS_TIMESTAMP != 0)?,
                    field(flags & HAS_SENT_AT != 0)?,
                ];
                Ok(Some((
                    Header {
                        kind,
                        after_received,
                    },
                    at,
                )))
            }
            Some(&b) => Err(RecordError::UnknownVersion(b)),
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A LEB128 value at the start of `bytes`, and its length.
fn read_varint(bytes: &[u8]) -> Result<(u64, usize), RecordError> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err(RecordError::Header("a number cut short"))
}

/// Reads spooled records of either version, reusing its parser's buffers.
pub struct Reader {
    parser: Parser,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl Reader {
    /// A reader; its buffers grow to fit the records it reads.
    pub fn new() -> Self {
        Self {
            parser: Parser::for_records(),
        }
    }

    /// Parses the record in `payload` (which it may pad: give it a copy with [`PADDING`] bytes
    /// of spare capacity to spare simd-json a copy). Version 1 is parsed and its envelope
    /// validated; version 2 is parsed without validation (the module's docs say what is read).
    ///
    /// # Errors
    ///
    /// [`RecordError::Empty`], [`RecordError::UnknownVersion`], [`RecordError::Header`],
    /// [`RecordError::NotParsed`].
    pub fn read<'r>(&'r mut self, payload: &'r mut Vec<u8>) -> Result<Decoded<'r>, RecordError> {
        let header = Header::read(payload)?;
        let len = payload.len();
        if payload.capacity() >= len + PADDING {
            payload.resize(len + PADDING, b' ');
        }
        match header {
            None => {
                let doc = self
                    .parser
                    .parse_padded(payload, len, Shape::Batch)
                    .map_err(RecordError::NotParsed)?;
                Ok(Decoded { doc, header: None })
            }
            Some((header, start)) => {
                let doc = self
                    .parser
                    .parse_trusted(&mut payload[start..], len - start)
                    .map_err(RecordError::NotParsed)?;
                Ok(Decoded {
                    doc,
                    header: Some(header),
                })
            }
        }
    }
}

/// A record parsed by [`Reader::read`].
pub struct Decoded<'r> {
    doc: Document<'r, 'r>,
    header: Option<Header>,
}

impl<'r> Decoded<'r> {
    /// The record's format version (1 or 2).
    pub fn version(&self) -> u8 {
        if self.header.is_some() { 2 } else { 1 }
    }

    /// The record's event: validated (version 1), or read with what the gateway computed
    /// (version 2).
    ///
    /// # Errors
    ///
    /// [`RecordError::Invalid`].
    pub fn event(&self) -> Result<Event<'_, 'r>, RecordError> {
        match self.header {
            None => self.doc.event(0),
            Some(h) => self.doc.trusted_event(h.kind, h.after_received),
        }
        .map_err(RecordError::Invalid)
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
