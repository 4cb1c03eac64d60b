//! What the engine is given to deliver: one mapped event.

use bytes::Bytes;
use signal_core::MetadataKind;

/// One event, mapped, to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A Track request body.
    Track {
        /// The caller's id for this event (the spool's sequence number), echoed in its outcome.
        id: u64,
        /// The request body.
        body: Bytes,
    },
    /// One metadata record, batched with others of its kind.
    Metadata {
        /// The caller's id for this event.
        id: u64,
        /// Visitor or account.
        kind: MetadataKind,
        /// The visitorId or accountId.
        record_id: String,
        /// The record's values as (key JSON, value JSON): merged by key with other records of the
        /// same id in one batch, the later winning.
        fields: Vec<(Bytes, Bytes)>,
    },
}

impl Job {
    /// The caller's id.
    pub fn id(&self) -> u64 {
        match self {
            Job::Track { id, .. } | Job::Metadata { id, .. } => *id,
        }
    }

    /// A job from a mapped metadata record (see `signal_core::Mapped::Metadata`).
    pub fn from_record(id: u64, record: &signal_core::MetadataRecord<'_>) -> Self {
        Job::Metadata {
            id,
            kind: record.kind,
            record_id: record.id.to_owned(),
            fields: record
                .fields()
                .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
                .collect(),
        }
    }
}
