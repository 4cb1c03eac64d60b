//! What the engine is given to deliver: one item of one mapped event, for one of the
//! integration's request targets.

use bytes::Bytes;

/// One item to deliver. Several jobs may share an `id` (one event, two items): each gets its
/// own outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The caller's id for the event (the spool's sequence number), echoed in its outcomes.
    pub id: u64,
    /// The target it goes to: an index into `ForwardConfig::targets` (= the blueprint's
    /// `requests`, in order).
    pub request: usize,
    /// The item.
    pub body: JobBody,
    /// The item's hold id (Amplitude's user or device): when the vendor throttles that id, its
    /// items wait and other ids keep going.
    pub hold: Option<Box<str>>,
}

/// An item's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobBody {
    /// The item's JSON, sent as it is (alone, or among a batch's items).
    Item(Bytes),
    /// An item merged by id with others in its batch (the target's `merge_by`): written as
    /// `{"<merge_by>":<id>,"<merge_into>":{fields}}`, a later item's fields winning in place.
    Merge {
        /// The id (visitorId, accountId, identity).
        id: String,
        /// The fields as (key JSON, value JSON).
        fields: Vec<(Bytes, Bytes)>,
    },
}

impl Job {
    /// A job from one mapped item.
    pub fn from_item(id: u64, item: &crate::standin::Item<'_>) -> Self {
        let body = match &item.merge {
            Some(m) => JobBody::Merge {
                id: m.id.to_owned(),
                fields: m
                    .fields()
                    .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
                    .collect(),
            },
            None => JobBody::Item(Bytes::copy_from_slice(item.body)),
        };
        Job {
            id,
            request: item.request,
            body,
            hold: item.hold.map(Box::from),
        }
    }

    /// The bytes it holds in memory (for the caller's accounting).
    pub fn bytes(&self) -> usize {
        match &self.body {
            JobBody::Item(b) => b.len(),
            JobBody::Merge { id, fields } => {
                id.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::{Item, Merge};

    #[test]
    fn an_item_becomes_a_job_for_its_request_with_its_hold_or_its_merge() {
        let plain = Item {
            request: 2,
            body: br#"{"event_type":"e"}"#,
            merge: None,
            hold: Some("u-1"),
        };
        let job = Job::from_item(7, &plain);
        assert_eq!(
            job,
            Job {
                id: 7,
                request: 2,
                body: JobBody::Item(Bytes::from_static(br#"{"event_type":"e"}"#)),
                hold: Some("u-1".into()),
            }
        );
        let merged = Item {
            request: 0,
            body: b"",
            merge: Some(Merge {
                id: "acme",
                pairs: vec![(b"\"plan\"", b"\"pro\"")],
            }),
            hold: None,
        };
        let job = Job::from_item(8, &merged);
        assert_eq!(
            job.body,
            JobBody::Merge {
                id: "acme".into(),
                fields: vec![(
                    Bytes::from_static(b"\"plan\""),
                    Bytes::from_static(b"\"pro\"")
                )],
            }
        );
        assert_eq!(job.bytes(), 4 + 6 + 5);
    }
}
