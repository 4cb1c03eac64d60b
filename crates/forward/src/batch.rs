//! Metadata batching: records of one kind gather until 500 are waiting or the oldest has waited
//! the linger; records for the same id merge into one (keys of the later record win), as Pendo's
//! metadata endpoints take an array and one record per id is what they expect.

use bytes::{BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::time::Instant;

/// One id's merged record and the events that fed it.
struct Entry {
    id: String,
    fields: Vec<(Bytes, Bytes)>,
    jobs: Vec<u64>,
}

/// The records of one kind waiting to be sent.
pub(crate) struct Batcher {
    id_field: &'static str,
    entries: Vec<Entry>,
    /// Where each id's entry is in `entries`.
    index: HashMap<String, usize>,
    since: Option<Instant>,
}

impl Batcher {
    pub fn new(id_field: &'static str) -> Self {
        Self {
            id_field,
            entries: Vec::new(),
            index: HashMap::new(),
            since: None,
        }
    }

    /// Adds one event's record.
    pub fn push(&mut self, job: u64, id: String, fields: Vec<(Bytes, Bytes)>) {
        self.since.get_or_insert_with(Instant::now);
        if let Some(e) = self.index.get(&id).and_then(|&i| self.entries.get_mut(i)) {
            for (k, v) in fields {
                match e.fields.iter_mut().find(|(ek, _)| *ek == k) {
                    Some(slot) => slot.1 = v,
                    None => e.fields.push((k, v)),
                }
            }
            e.jobs.push(job);
            return;
        }
        self.index.insert(id.clone(), self.entries.len());
        self.entries.push(Entry {
            id,
            fields,
            jobs: vec![job],
        });
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// When the oldest waiting record arrived.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// Takes up to `max` records as one request body, with the events they carry.
    pub fn take(&mut self, max: usize) -> Option<(Bytes, Vec<u64>)> {
        if self.entries.is_empty() {
            return None;
        }
        let n = self.entries.len().min(max);
        let taken: Vec<Entry> = self.entries.drain(..n).collect();
        self.index.clear();
        for (i, e) in self.entries.iter().enumerate() {
            self.index.insert(e.id.clone(), i);
        }
        let mut body = BytesMut::with_capacity(taken.len() * 128);
        let mut jobs = Vec::new();
        body.put_u8(b'[');
        for (i, e) in taken.into_iter().enumerate() {
            if i > 0 {
                body.put_u8(b',');
            }
            body.put_slice(b"{\"");
            body.put_slice(self.id_field.as_bytes());
            body.put_slice(b"\":");
            let mut id = Vec::new();
            signal_core::json::write_str(&mut id, &e.id);
            body.put_slice(&id);
            body.put_slice(b",\"values\":{");
            for (j, (k, v)) in e.fields.iter().enumerate() {
                if j > 0 {
                    body.put_u8(b',');
                }
                body.put_slice(k);
                body.put_u8(b':');
                body.put_slice(v);
            }
            body.put_slice(b"}}");
            jobs.extend(e.jobs);
        }
        body.put_u8(b']');
        self.since = (!self.entries.is_empty()).then(Instant::now);
        Some((body.freeze(), jobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(k: &str, v: &str) -> (Bytes, Bytes) {
        (Bytes::from(format!("\"{k}\"")), Bytes::from(v.to_owned()))
    }

    #[test]
    fn records_of_one_id_merge_and_the_later_wins() {
        let mut b = Batcher::new("visitorId");
        b.push(1, "u1".into(), vec![f("plan", "\"free\""), f("seats", "1")]);
        b.push(2, "u2".into(), vec![f("plan", "\"pro\"")]);
        b.push(
            3,
            "u1".into(),
            vec![f("plan", "\"pro\""), f("role_custom", "\"admin\"")],
        );
        assert_eq!(b.len(), 2);
        let (body, jobs) = b.take(500).expect("a batch");
        assert_eq!(
            std::str::from_utf8(&body).expect("utf8"),
            r#"[{"visitorId":"u1","values":{"plan":"pro","seats":1,"role_custom":"admin"}},{"visitorId":"u2","values":{"plan":"pro"}}]"#
        );
        assert_eq!(jobs, [1, 3, 2]);
        assert!(b.take(500).is_none());
    }

    #[test]
    fn a_batch_holds_at_most_max_records() {
        let mut b = Batcher::new("accountId");
        for i in 0..1200 {
            b.push(i, format!("a{i}"), vec![f("n", "1")]);
        }
        let sizes: Vec<usize> = std::iter::from_fn(|| b.take(500))
            .map(|(_, j)| j.len())
            .collect();
        assert_eq!(sizes, [500, 500, 200]);
    }
}
