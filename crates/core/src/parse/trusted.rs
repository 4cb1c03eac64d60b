//! Parsing a spool record the gateway wrote and validated (version 2, `record.rs`) without
//! validating it again: the tape, the record's top-level keys by name, and its event read with
//! what the gateway computed.

use super::{Document, Kind, Parser, fill};
use crate::error::{EventError, Rule};
use crate::event::{Context, Event, EventType};
use crate::parse::PADDING;
use crate::tape::Val;
use simd_json::Node;

impl Parser {
    /// Parses a spool record the gateway wrote and validated (version 2, `record.rs`):
    /// simd-json's tape (which still refuses text that is not JSON, or is nested deeper than
    /// this parser allows), then the record's top-level keys found by name. No body or batch
    /// limit, no duplicate-key check, no batch context or timestamp read here: the event is
    /// read by [`Document::trusted_event`].
    pub(crate) fn parse_trusted<'p, 'de>(
        &'p mut self,
        input: &'de mut [u8],
        len: usize,
    ) -> Result<Document<'p, 'de>, EventError> {
        let padded = input.len() >= len.saturating_add(PADDING);
        let len = len.min(input.len());
        let Parser {
            buffers,
            tape: home,
            spans,
            max_depth,
        } = self;
        let mut doc = fill(buffers, home, spans, *max_depth, (input, len, padded))?;
        let nodes = &doc.tape.0;
        let obj = Val(nodes)
            .as_obj()
            .ok_or_else(|| EventError::new("", Rule::NotBatch))?;
        let (mut array, mut context, mut received_at) = (None, None, None);
        let mut at = 1;
        for (k, v) in obj.iter() {
            let pos = at + 1;
            at = pos + v.nodes().len();
            match k {
                "batch" => array = Some(pos),
                "context" => context = Some(pos),
                "receivedAt" => received_at = Some(pos),
                _ => {}
            }
        }
        let array = array
            .filter(|&a| matches!(nodes[a], Node::Array { len: 1.., .. }))
            .ok_or_else(|| EventError::new("batch", Rule::Required))?;
        doc.kind = Kind::Batch {
            array,
            context: context.filter(|&c| !Val(&nodes[c..]).is_null()),
            sent_at: None,
            received_at,
        };
        Ok(doc)
    }
}

impl<'de> Document<'_, 'de> {
    /// The event of a record read by [`Parser::parse_trusted`], with what the gateway
    /// computed of it: its `kind`, and its timestamp and own `sentAt` as milliseconds after
    /// the record's `receivedAt` (`after_received`). The batch context is laid under the
    /// event's own without its rules, the event read without its rules ([`Event::trusted`]).
    pub(crate) fn trusted_event(
        &self,
        kind: EventType,
        after_received: [Option<i64>; 2],
    ) -> Result<Event<'_, 'de>, EventError> {
        let Kind::Batch {
            array,
            context,
            received_at,
            ..
        } = self.kind
        else {
            return Err(EventError::new("batch", Rule::Required));
        };
        let nodes = &self.tape.0;
        let mut base = Context::default();
        if let Some(c) = context {
            let obj = Val(&nodes[c..]).as_obj().ok_or_else(|| {
                EventError::new(
                    "context",
                    Rule::WrongType {
                        expected: "an object",
                    },
                )
            })?;
            base.overlay_trusted(obj).map_err(|e| e.within("context"))?;
        }
        let received = received_at
            .map(|r| crate::event::timestamp("receivedAt", Val(&nodes[r..])))
            .transpose()?;
        let at = |delta: Option<i64>| match (delta, received) {
            (None, _) => Ok(None),
            (Some(d), Some(r)) => r
                .checked_add(d)
                .map(Some)
                .ok_or_else(|| EventError::new("receivedAt", Rule::NotTimestamp)),
            (Some(_), None) => Err(EventError::new("receivedAt", Rule::Required)),
        };
        let known = crate::event::Known {
            kind,
            timestamp: at(after_received[0])?,
            sent_at: at(after_received[1])?,
            received_at: received,
            // The gateway writes every record's `type`.
            typed: true,
        };
        let (v, _) = Val::split(&nodes[array + 1..])
            .ok_or_else(|| EventError::new("batch[0]", Rule::Required))?;
        Event::trusted(v, base, known).map_err(|e| e.within("batch[0]"))
    }
}
