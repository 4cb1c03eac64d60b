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
    pub fn from_item(id: u64, item: &signal_core::Item<'_>) -> Self {
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
    use signal_core::{Mapped, Mapper, MemoryIdentity, Parser, Shape};

    /// The jobs Pendo's blueprint makes of one event.
    fn jobs(event: &str) -> Vec<Job> {
        let mut mapper = Mapper::from_config(
            "pendo",
            &serde_json::json!({"api_key": "a", "integration_key": "k"}),
        )
        .unwrap();
        let mut body = event.as_bytes().to_vec();
        let mut parser = Parser::new();
        let doc = parser.parse(&mut body, Shape::Event(None)).unwrap();
        let ev = doc.event(0).unwrap();
        let ids = MemoryIdentity::new();
        match mapper.map(&ev, &ids, 1_764_140_000_000).outcome {
            Mapped::Send(items) => items.iter().map(|i| Job::from_item(7, &i)).collect(),
            Mapped::Dropped(reason) => panic!("dropped: {reason}"),
        }
    }

    #[test]
    fn an_item_becomes_a_job_for_its_request_with_its_body_or_its_merge() {
        let bp = signal_core::Blueprint::get("pendo").unwrap();
        let track =
            jobs(r#"{"type":"track","event":"Clicked","userId":"u-1","timestamp":1764140000000}"#);
        assert_eq!(track.len(), 1);
        assert_eq!(track[0].id, 7);
        assert_eq!(Some(track[0].request), bp.request_index("track"));
        let JobBody::Item(body) = &track[0].body else {
            panic!("a track body is sent as it is")
        };
        assert!(body.starts_with(br#"{"type":"track","event":"Clicked","visitorId":"u-1""#));

        let identify = jobs(r#"{"type":"identify","userId":"u-1","traits":{"plan":"pro"}}"#);
        assert_eq!(identify.len(), 1);
        assert_eq!(Some(identify[0].request), bp.request_index("visitors"));
        assert_eq!(
            identify[0].body,
            JobBody::Merge {
                id: "u-1".into(),
                fields: vec![(
                    Bytes::from_static(b"\"plan\""),
                    Bytes::from_static(b"\"pro\"")
                )],
            }
        );
        assert_eq!(identify[0].bytes(), 3 + 6 + 5);
    }
}
