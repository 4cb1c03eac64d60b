//! Batching for one batched target: items gather until `max_items` are waiting, their bytes
//! reach `max_bytes`, or the oldest has waited the linger. With `merge_by`, items for the same
//! id merge into one (`{"<merge_by>":<id>,"<merge_into>":{..}}`, a later item's keys winning in
//! place), as Pendo's metadata endpoints and Heap's property calls expect one record per id.

use crate::job::JobBody;
use crate::prepared::{Limits, Piece};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::time::Instant;

/// A waiting item: written, or still merging.
enum Body {
    Raw(Bytes),
    Merge {
        id: String,
        fields: Vec<(Bytes, Bytes)>,
    },
}

struct Entry {
    body: Body,
    jobs: Vec<u64>,
    hold: Option<Box<str>>,
    first_at: Instant,
}

/// The items of one target waiting to be sent.
pub(crate) struct Batcher {
    /// `merge_by` and `merge_into`.
    merge: Option<(Box<str>, Box<str>)>,
    entries: Vec<Entry>,
    /// Where each merging id's entry is in `entries`.
    index: HashMap<String, usize>,
    /// About how many item bytes are waiting (a merge's repeated keys counted twice).
    bytes: usize,
    since: Option<Instant>,
}

impl Batcher {
    pub fn new(merge: Option<(Box<str>, Box<str>)>) -> Self {
        Self {
            merge,
            entries: Vec::new(),
            index: HashMap::new(),
            bytes: 0,
            since: None,
        }
    }

    /// Adds one event's item.
    pub fn push(&mut self, job: u64, body: JobBody, hold: Option<Box<str>>, now: Instant) {
        self.since.get_or_insert(now);
        match body {
            JobBody::Item(bytes) => self.push_piece(Piece {
                bytes,
                jobs: vec![job],
                hold,
                first_at: now,
            }),
            JobBody::Merge { id, fields } => {
                self.bytes += id.len()
                    + 2
                    + fields
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + 2)
                        .sum::<usize>();
                if self.merge.is_some()
                    && let Some(e) = self.index.get(&id).and_then(|&i| self.entries.get_mut(i))
                    && let Body::Merge { fields: have, .. } = &mut e.body
                {
                    for (k, v) in fields {
                        match have.iter_mut().find(|(ek, _)| *ek == k) {
                            Some(slot) => slot.1 = v,
                            None => have.push((k, v)),
                        }
                    }
                    e.jobs.push(job);
                    return;
                }
                if self.merge.is_some() {
                    self.index.insert(id.clone(), self.entries.len());
                }
                self.entries.push(Entry {
                    body: Body::Merge { id, fields },
                    jobs: vec![job],
                    hold,
                    first_at: now,
                });
            }
        }
    }

    /// Adds an item already written (sent before, now back: a delayed or held one).
    pub fn push_piece(&mut self, p: Piece) {
        self.since.get_or_insert(p.first_at);
        self.bytes += p.bytes.len() + 1;
        self.entries.push(Entry {
            body: Body::Raw(p.bytes),
            jobs: p.jobs,
            hold: p.hold,
            first_at: p.first_at,
        });
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// When the oldest waiting item arrived.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// Whether a request should go now.
    pub fn due(&self, limits: &Limits, overhead: usize, now: Instant) -> bool {
        self.len() >= limits.max_items
            || limits.max_bytes.is_some_and(|m| overhead + self.bytes >= m)
            || self.since.is_some_and(|s| now >= s + limits.linger)
    }

    /// Takes one request's items: at most `max_items`, and as many as fit `max_bytes` with
    /// the envelope's `overhead` (an item larger than that alone goes alone: the vendor's
    /// answer decides).
    pub fn take(&mut self, limits: &Limits, overhead: usize) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut size = overhead;
        let mut used = 0;
        for e in self.entries.iter().take(limits.max_items) {
            let len = self.written_len(e);
            let extra = len + usize::from(used > 0);
            if used > 0 && limits.max_bytes.is_some_and(|m| size + extra > m) {
                break;
            }
            size += extra;
            used += 1;
        }
        for e in self.entries.drain(..used) {
            let bytes = match e.body {
                Body::Raw(b) => b,
                Body::Merge { id, fields } => write_merged(self.merge.as_ref(), &id, &fields),
            };
            self.bytes = self.bytes.saturating_sub(bytes.len() + 1);
            out.push(Piece {
                bytes,
                jobs: e.jobs,
                hold: e.hold,
                first_at: e.first_at,
            });
        }
        self.index.clear();
        for (i, e) in self.entries.iter().enumerate() {
            if let Body::Merge { id, .. } = &e.body {
                self.index.insert(id.clone(), i);
            }
        }
        if self.entries.is_empty() {
            self.bytes = 0;
        }
        self.since = (!self.entries.is_empty()).then(Instant::now);
        out
    }

    fn written_len(&self, e: &Entry) -> usize {
        match &e.body {
            Body::Raw(b) => b.len(),
            Body::Merge { id, fields } => {
                let (by, into) = names(self.merge.as_ref());
                // {"by":"id","into":{k:v,...}}
                by.len()
                    + into.len()
                    + id.len()
                    + 14
                    + fields
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + 2)
                        .sum::<usize>()
            }
        }
    }
}

fn names(merge: Option<&(Box<str>, Box<str>)>) -> (&str, &str) {
    merge.map_or(("id", "values"), |(a, b)| (&**a, &**b))
}

/// `{"<merge_by>":<id>,"<merge_into>":{k:v,...}}`.
pub(crate) fn write_merged(
    merge: Option<&(Box<str>, Box<str>)>,
    id: &str,
    fields: &[(Bytes, Bytes)],
) -> Bytes {
    let (by, into) = names(merge);
    let mut body = BytesMut::with_capacity(id.len() + 32 + fields.len() * 24);
    let mut text = Vec::with_capacity(id.len() + 2);
    body.put_u8(b'{');
    signal_core::json::write_str(&mut text, by);
    body.put_slice(&text);
    body.put_u8(b':');
    text.clear();
    signal_core::json::write_str(&mut text, id);
    body.put_slice(&text);
    body.put_u8(b',');
    text.clear();
    signal_core::json::write_str(&mut text, into);
    body.put_slice(&text);
    body.put_slice(b":{");
    for (j, (k, v)) in fields.iter().enumerate() {
        if j > 0 {
            body.put_u8(b',');
        }
        body.put_slice(k);
        body.put_u8(b':');
        body.put_slice(v);
    }
    body.put_slice(b"}}");
    body.freeze()
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
