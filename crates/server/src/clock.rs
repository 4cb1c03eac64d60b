//! The wall clock, as the API and the records write it.

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Now, as RFC 3339.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(now_ms())
}

/// `ms` since the epoch as RFC 3339.
pub(crate) fn rfc3339(ms: i64) -> String {
    let mut s = String::new();
    signal_core::time::format_rfc3339(ms, &mut s);
    s
}
