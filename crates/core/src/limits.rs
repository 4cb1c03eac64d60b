//! The input limits of the ingestion API (interface.md section 2, pendo.md section 1).

/// Largest request body accepted, in bytes (512 KiB).
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Largest single event, in bytes of its JSON text (32 KiB).
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 500;
/// Deepest nesting of objects and arrays, counted from the body's root.
pub const MAX_DEPTH: usize = 64;
/// Longest `userId`, `anonymousId` or `groupId`, in characters.
pub const MAX_ID_CHARS: usize = 255;
/// Longest track `event` name, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 200;
