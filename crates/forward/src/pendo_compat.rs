//! TEMPORARY ADAPTER (issue 12, helper H1): the Pendo-shaped delivery engine reads what it used
//! to find in `Blueprint::track` / `Blueprint::metadata` from the blueprint's `requests`, so the
//! workspace builds while the engine is rewritten around `signal_core::request::Target`
//! (helper H2). Delete with the Pendo-shaped worker.

use signal_core::Blueprint;
use signal_core::request::Auth;

/// Visitor or account metadata (the engine's two batchers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataKind {
    /// Visitor metadata (request `visitors`).
    Visitor,
    /// Account metadata (request `accounts`).
    Account,
}

impl MetadataKind {
    /// The kind of a Pendo request by name; `None` for `track`.
    pub fn of_request(name: &str) -> Option<Self> {
        match name {
            "visitors" => Some(MetadataKind::Visitor),
            "accounts" => Some(MetadataKind::Account),
            _ => None,
        }
    }

    fn request(self) -> &'static str {
        match self {
            MetadataKind::Visitor => "visitors",
            MetadataKind::Account => "accounts",
        }
    }
}

/// A request's path under the region's base URL.
pub(crate) fn path(bp: &Blueprint, request: &str) -> String {
    bp.requests
        .get(request)
        .map(|r| r.url.trim_start_matches("{region.base}").to_owned())
        .unwrap_or_default()
}

/// The path of the track request.
pub(crate) fn track_path(bp: &Blueprint) -> String {
    path(bp, "track")
}

/// The path of a metadata request.
pub(crate) fn metadata_path(bp: &Blueprint, kind: MetadataKind) -> String {
    path(bp, kind.request())
}

/// The header the credential goes in.
pub(crate) fn auth_header(bp: &Blueprint) -> String {
    match bp.requests.get("track").map(|r| &r.auth) {
        Some(Auth::Header(h)) => h.keys().next().cloned().unwrap_or_default(),
        _ => "x-pendo-integration-key".to_owned(),
    }
}

/// The id field of a metadata record.
pub(crate) fn id_field(bp: &'static Blueprint, kind: MetadataKind) -> &'static str {
    bp.requests
        .get(kind.request())
        .and_then(|r| r.batch.as_ref())
        .and_then(|b| b.merge_by.as_deref())
        .unwrap_or_default()
}

/// The metadata batches' linger, in milliseconds.
pub(crate) fn linger_ms(bp: &Blueprint) -> u64 {
    bp.requests
        .get("visitors")
        .and_then(|r| r.batch.as_ref())
        .map_or(250, |b| b.linger_ms)
}

/// The metadata batches' most records.
pub(crate) fn max_batch(bp: &Blueprint) -> usize {
    bp.requests
        .get("visitors")
        .and_then(|r| r.batch.as_ref())
        .map_or(500, |b| b.max_items)
}
