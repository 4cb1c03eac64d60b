//! Parsing a request body, one event or a batch, with simd-json into its tape.
//!
//! A [`Parser`] keeps simd-json's [`Buffers`] and the tape's allocation between calls, so parsing
//! a body allocates nothing once the buffers have grown to the largest body seen. Parsing
//! unescapes strings in place: the input buffer is mutated and borrowed by the result.
//!
//! Validation is split in two, as the ingestion API needs it: the body (JSON, size, nesting,
//! the batch envelope) either parses or is refused whole; then each event of a batch is valid or
//! not on its own, so that a batch is partially accepted.

use crate::error::{EventError, Rule};
use crate::event::{Context, Event, EventType};
use crate::limits::{MAX_BATCH_EVENTS, MAX_BODY_BYTES, MAX_DEPTH, MAX_EVENT_BYTES};
use crate::tape::Val;
use simd_json::{Buffers, ErrorType, Node, Tape};
use std::ops::Range;

/// A batch's own `sentAt` and `receivedAt`, given to each of its events.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stamps {
    /// The batch's `sentAt`, for events without their own.
    pub sent_at: Option<i64>,
    /// The batch's `receivedAt` (stamped by the gateway): it wins over an event's own.
    pub received_at: Option<i64>,
}

/// Bytes of padding [`Parser::parse_padded`] needs after the body.
pub const PADDING: usize = simd_json::INPUT_PADDING;

/// What a body is expected to hold, from the endpoint it was posted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One event; the endpoint may imply its type (`/v1/t` is track).
    Event(Option<EventType>),
    /// `{"batch": [...], "context"?: {...}, "sentAt"?: ...}`.
    Batch,
    /// Either of the above (`/v1/events`): a body with a `batch` array is a batch.
    EventOrBatch,
}

/// How much deeper a spooled record nests a single event than its body did: the record wraps
/// it as `{"batch":[event]}`.
const RECORD_EXTRA_DEPTH: usize = 2;

/// Parses bodies, reusing its buffers from one call to the next.
pub struct Parser {
    buffers: Buffers,
    tape: Tape<'static>,
    spans: Vec<Range<u32>>,
    max_depth: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser with empty buffers; they grow to fit the bodies they see.
    pub fn new() -> Self {
        Self::with_max_depth(MAX_DEPTH)
    }

    /// A parser for spooled records: a record holds a single event two levels deeper than its
    /// body did (`{"batch":[event]}`), so it allows two more levels. What
    /// the gateway accepted at the body's limit is then read back, never refused as too deep.
    pub fn for_records() -> Self {
        Self::with_max_depth(MAX_DEPTH + RECORD_EXTRA_DEPTH)
    }

    fn with_max_depth(max_depth: usize) -> Self {
        Self {
            // Counted as the tests pin it: a root object with 63 levels inside it is accepted.
            buffers: Buffers::with_max_depth(4096, max_depth),
            tape: Tape(Vec::new()),
            spans: Vec::new(),
            max_depth,
        }
    }

    /// Parses `input` as a body of the given shape.
    ///
    /// # Errors
    ///
    /// The body as a whole is refused when it is over 512 KiB, not JSON, nested deeper than 64,
    /// not of the expected shape, a batch of more than 500 events, or (for one event) an event
    /// that breaks a rule. A batch's invalid events are reported one by one by
    /// [`Document::events`] instead.
    pub fn parse<'p, 'de>(
        &'p mut self,
        input: &'de mut [u8],
        shape: Shape,
    ) -> Result<Document<'p, 'de>, EventError> {
        let len = input.len();
        self.parse_inner(input, len, false, shape)
    }

    /// Like [`parse`](Self::parse) for a body in `input[..len]` followed by at least [`PADDING`]
    /// bytes of any content, which spares simd-json its copy of the input into an aligned buffer.
    /// A caller that reads bodies into its own buffer (the gateway, the spool reader) reserves
    /// the padding once. An input without enough padding is parsed the copying way.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    pub fn parse_padded<'p, 'de>(
        &'p mut self,
        input: &'de mut [u8],
        len: usize,
        shape: Shape,
    ) -> Result<Document<'p, 'de>, EventError> {
        let padded = input.len() >= len.saturating_add(PADDING);
        let len = len.min(input.len());
        self.parse_inner(input, len, padded, shape)
    }

    fn parse_inner<'p, 'de>(
        &'p mut self,
        input: &'de mut [u8],
        body_len: usize,
        padded: bool,
        shape: Shape,
    ) -> Result<Document<'p, 'de>, EventError> {
        if body_len > MAX_BODY_BYTES {
            return Err(too_large("body", MAX_BODY_BYTES, "bytes"));
        }
        let Parser {
            buffers,
            tape: home,
            spans,
            max_depth,
        } = self;
        let mut doc = fill(buffers, home, spans, *max_depth, (input, body_len, padded))?;
        doc.kind = classify(&doc.tape.0, shape)?;
        if let Kind::Batch { array, .. } = doc.kind {
            let Node::Array { len, .. } = doc.tape.0[array] else {
                return Err(EventError::new("batch", Rule::NotBatch));
            };
            if len > MAX_BATCH_EVENTS {
                return Err(too_large("batch", MAX_BATCH_EVENTS, "events"));
            }
            batch_spans(&doc.tape.0, buffers.structural_indexes(), array, doc.spans);
            // The batch's own context and sentAt must be valid for any event to be.
            doc.batch_base()?;
        } else {
            if body_len > MAX_EVENT_BYTES {
                return Err(too_large("event", MAX_EVENT_BYTES, "bytes"));
            }
            // `fill` left the spans empty.
            doc.spans.push(0..body_len as u32);
            // Validated once here; `events` then reads it with what this computed.
            let validated = crate::event::Known::of(&doc.event(0)?);
            if let Kind::Single { known, .. } = &mut doc.kind {
                *known = Some(validated);
            }
        }
        Ok(doc)
    }
}

/// simd-json's tape of `input[..len]` (with [`PADDING`] after it when `padded`), as a document
/// of one event until classified; its allocation from `home`, given back when dropped.
fn fill<'p, 'de>(
    buffers: &mut Buffers,
    home: &'p mut Tape<'static>,
    spans: &'p mut Vec<Range<u32>>,
    max_depth: usize,
    (input, len, padded): (&'de mut [u8], usize, bool),
) -> Result<Document<'p, 'de>, EventError> {
    let mut tape: Tape<'de> = std::mem::replace(home, Tape(Vec::new())).reset();
    let filled = if padded {
        simd_json::fill_tape_padded(input, len, buffers, &mut tape)
    } else {
        simd_json::fill_tape(&mut input[..len], buffers, &mut tape)
    };
    if let Err(e) = filled {
        *home = tape.reset();
        let rule = match e.error() {
            ErrorType::DepthLimitExceeded => Rule::TooDeep { max: max_depth },
            _ => Rule::NotJson(e.to_string()),
        };
        return Err(EventError::new("", rule));
    }
    spans.clear();
    Ok(Document {
        tape,
        home,
        spans,
        kind: Kind::Single {
            implied: None,
            known: None,
        },
    })
}

#[path = "parse/spans.rs"]
mod spans;
#[path = "parse/trusted.rs"]
mod trusted;
use spans::batch_spans;

fn too_large(what: &'static str, limit: usize, unit: &'static str) -> EventError {
    EventError::new("", Rule::TooLarge { what, limit, unit })
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Single {
        implied: Option<EventType>,
        /// Set once the parse has validated the event.
        known: Option<crate::event::Known>,
    },
    /// Tape positions of the batch array and the batch's context, sentAt and receivedAt.
    Batch {
        array: usize,
        context: Option<usize>,
        sent_at: Option<usize>,
        received_at: Option<usize>,
    },
}

fn classify(nodes: &[Node<'_>], shape: Shape) -> Result<Kind, EventError> {
    let root = Val(nodes);
    let as_batch = || -> Result<Kind, EventError> {
        let obj = root
            .as_obj()
            .ok_or_else(|| EventError::new("", Rule::NotBatch))?;
        let (mut array, mut context, mut sent_at, mut received_at) = (None, None, None, None);
        let mut at = 1;
        for (k, v) in obj.iter() {
            let pos = at + 1;
            at = pos + v.nodes().len();
            let slot = match k {
                "batch" => &mut array,
                "context" => &mut context,
                "sentAt" | "sent_at" => &mut sent_at,
                "receivedAt" | "received_at" => &mut received_at,
                _ => continue,
            };
            if slot.replace(pos).is_some() {
                return Err(EventError::new(k, Rule::DuplicateKey));
            }
        }
        let array = array.ok_or_else(|| EventError::new("batch", Rule::Required))?;
        if !matches!(nodes[array], Node::Array { .. }) {
            return Err(EventError::new(
                "batch",
                Rule::WrongType {
                    expected: "an array",
                },
            ));
        }
        Ok(Kind::Batch {
            array,
            context: context.filter(|&c| !Val(&nodes[c..]).is_null()),
            sent_at: sent_at.filter(|&s| !Val(&nodes[s..]).is_null()),
            received_at: received_at.filter(|&s| !Val(&nodes[s..]).is_null()),
        })
    };
    match shape {
        Shape::Event(implied) => Ok(Kind::Single {
            implied,
            known: None,
        }),
        Shape::Batch => as_batch(),
        Shape::EventOrBatch => {
            let is_batch = root
                .as_obj()
                .and_then(|o| o.get("batch"))
                .is_some_and(|b| b.as_arr().is_some());
            if is_batch {
                as_batch()
            } else {
                Ok(Kind::Single {
                    implied: None,
                    known: None,
                })
            }
        }
    }
}

impl<'p, 'de> Document<'p, 'de> {
    fn batch_base(&self) -> Result<(Context<'_, 'de>, Stamps), EventError> {
        let Kind::Batch {
            context,
            sent_at,
            received_at,
            ..
        } = self.kind
        else {
            return Ok((Context::default(), Stamps::default()));
        };
        let nodes = &self.tape.0;
        let mut base = Context::default();
        if let Some(c) = context {
            let (v, _) = Val::split(&nodes[c..])
                .ok_or_else(|| EventError::new("context", Rule::Required))?;
            let obj = v.as_obj().ok_or_else(|| {
                EventError::new(
                    "context",
                    Rule::WrongType {
                        expected: "an object",
                    },
                )
            })?;
            base.overlay(obj).map_err(|e| e.within("context"))?;
        }
        let stamp = |at: Option<usize>, name: &str| {
            at.map(|s| crate::event::timestamp(name, Val(&nodes[s..])))
                .transpose()
        };
        Ok((
            base,
            Stamps {
                sent_at: stamp(sent_at, "sentAt")?,
                received_at: stamp(received_at, "receivedAt")?,
            },
        ))
    }

    /// Writes the batch's `context` object (or `{}`), with each `extra` key added where the
    /// context lacks it: how the gateway stores a batch's context enriched with the request's
    /// ip and user agent, under each event's own.
    ///
    /// A key the context reads in two spellings (`CONTEXT_SPELLINGS`) is the context's when
    /// it holds either spelling with a value; otherwise the extra is added and a null under
    /// either spelling is left out, so the result never holds one field twice (which the
    /// parser refuses: a duplicate key, or both spellings).
    pub fn write_batch_context(&self, out: &mut Vec<u8>, extra: &[(&str, &str)]) {
        let nodes = &self.tape.0;
        let ctx = match self.kind {
            Kind::Batch {
                context: Some(c), ..
            } => Val::split(&nodes[c..]).and_then(|(v, _)| v.as_obj()),
            _ => None,
        };
        let has_value = |k: &str| ctx.is_some_and(|o| o.get(k).is_some_and(|v| !v.is_null()));
        let added: Vec<(&str, &str)> = extra
            .iter()
            .filter(|(k, _)| !spellings(k).any(has_value))
            .copied()
            .collect();
        let replaced = |k: &str| added.iter().any(|(a, _)| spellings(a).any(|s| s == k));
        out.push(b'{');
        let start = out.len();
        let key = |out: &mut Vec<u8>, k: &str| {
            if out.len() > start {
                out.push(b',');
            }
            crate::json::write_str(out, k);
            out.push(b':');
        };
        for (k, v) in ctx.iter().flat_map(|o| o.iter()) {
            if replaced(k) {
                continue;
            }
            key(out, k);
            crate::json::write_val(out, v);
        }
        for (k, v) in added {
            key(out, k);
            crate::json::write_str(out, v);
        }
        out.push(b'}');
    }
}

/// The `context` keys read in two spellings, camelCase first (as `Context::overlay` in
/// `event.rs` reads them; a context with both is refused).
pub(crate) const CONTEXT_SPELLINGS: [[&str; 2]; 2] =
    [["userAgent", "user_agent"], ["groupId", "group_id"]];

/// Every spelling of context key `k`: itself, and its other spelling if it has one.
fn spellings(k: &str) -> impl Iterator<Item = &str> {
    let other = CONTEXT_SPELLINGS
        .iter()
        .find(|pair| pair.contains(&k))
        .and_then(|pair| pair.iter().copied().find(|s| *s != k));
    std::iter::once(k).chain(other)
}

/// A parsed body. Dropping it hands the tape's allocation back to its [`Parser`].
pub struct Document<'p, 'de> {
    tape: Tape<'de>,
    home: &'p mut Tape<'static>,
    spans: &'p mut Vec<Range<u32>>,
    kind: Kind,
}

impl Drop for Document<'_, '_> {
    fn drop(&mut self) {
        let tape = std::mem::replace(&mut self.tape, Tape(Vec::new()));
        *self.home = tape.reset();
    }
}

impl<'p, 'de> Document<'p, 'de> {
    /// True when the body was a batch.
    pub fn is_batch(&self) -> bool {
        matches!(self.kind, Kind::Batch { .. })
    }

    /// Number of events in the body.
    pub fn len(&self) -> usize {
        match self.kind {
            Kind::Single { .. } => 1,
            Kind::Batch { array, .. } => match self.tape.0[array] {
                Node::Array { len, .. } => len,
                _ => 0,
            },
        }
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The byte range of event `i` in the body.
    pub fn span(&self, i: usize) -> Option<Range<usize>> {
        self.spans.get(i).map(|r| r.start as usize..r.end as usize)
    }

    /// Event `i`, validated; errors are located (`batch[3].userId: ...`).
    ///
    /// # Errors
    ///
    /// The first rule the event breaks.
    pub fn event(&self, i: usize) -> Result<Event<'_, 'de>, EventError> {
        self.events()
            .nth(i)
            .unwrap_or_else(|| Err(EventError::new(format!("batch[{i}]"), Rule::Required)))
    }

    /// Every event in order, each valid or with its error.
    pub fn events(&self) -> Events<'_, 'de> {
        let nodes: &[Node<'de>] = &self.tape.0;
        match self.kind {
            Kind::Single { implied, known } => Events {
                rest: nodes,
                index: 0,
                remaining: 1,
                implied,
                known,
                batch: false,
                base: Ok((Context::default(), Stamps::default())),
                spans: self.spans,
            },
            Kind::Batch { array, .. } => Events {
                rest: &nodes[array + 1..],
                index: 0,
                remaining: self.len(),
                implied: None,
                known: None,
                batch: true,
                base: self.batch_base(),
                spans: self.spans,
            },
        }
    }
}

/// Iterator over a document's events.
pub struct Events<'t, 'de> {
    rest: &'t [Node<'de>],
    index: usize,
    remaining: usize,
    implied: Option<EventType>,
    /// A single event the parse validated: read with what that computed, not validated again.
    known: Option<crate::event::Known>,
    batch: bool,
    base: Result<(Context<'t, 'de>, Stamps), EventError>,
    spans: &'t [Range<u32>],
}

impl<'t, 'de> Iterator for Events<'t, 'de> {
    type Item = Result<Event<'t, 'de>, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let (v, tail) = Val::split(self.rest)?;
        self.rest = tail;
        self.remaining -= 1;
        let i = self.index;
        self.index += 1;
        let result = match &self.base {
            Err(e) => Err(e.clone()),
            Ok((base, stamps)) => {
                let size = self.spans.get(i).map_or(0, |r| (r.end - r.start) as usize);
                if self.batch && size > MAX_EVENT_BYTES {
                    Err(too_large("event", MAX_EVENT_BYTES, "bytes"))
                } else if let Some(known) = self.known {
                    Event::trusted(v, *base, known)
                } else {
                    Event::decode(v, self.implied, *base, *stamps)
                }
            }
        };
        Some(if self.batch {
            result.map_err(|e| e.within(&format!("batch[{i}]")))
        } else {
            result
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
