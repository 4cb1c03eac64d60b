//! What the engine is given to deliver: one mapped event.

use crate::pendo_compat::MetadataKind;
use bytes::Bytes;

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

    /// The job of an event's first item (TEMPORARY ADAPTER, see `pendo_compat`: Pendo makes one
    /// item per event; the request's name says which of the three targets it goes to).
    pub fn from_items(
        id: u64,
        bp: &signal_core::Blueprint,
        items: &signal_core::Items<'_>,
    ) -> Option<Self> {
        let item = items.get(0)?;
        let name = bp.requests.keys().nth(item.request)?;
        match (MetadataKind::of_request(name), item.merge) {
            (Some(kind), Some(record)) => Some(Self::from_record(id, kind, &record)),
            _ => Some(Job::Track {
                id,
                body: Bytes::copy_from_slice(item.body),
            }),
        }
    }

    /// A job from a mapped metadata item (TEMPORARY ADAPTER, see `pendo_compat`).
    pub fn from_record(id: u64, kind: MetadataKind, record: &signal_core::Merge<'_>) -> Self {
        Job::Metadata {
            id,
            kind,
            record_id: record.id.to_owned(),
            fields: record
                .fields()
                .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
                .collect(),
        }
    }
}
