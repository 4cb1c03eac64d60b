//! The body checks Pendo's endpoints make, as pendo.md describes them. Each failure is the
//! reason a 400 gives.

use serde_json::Value;

/// Checks a Track body: `type` `track`, a non-empty `event`, a string `visitorId`, an integer
/// `timestamp`; `accountId` a string, `properties` and `context` objects when present; nothing
/// sent as `null`.
pub(crate) fn track(body: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let o = v.as_object().ok_or("body must be a JSON object")?;
    if o.get("type").and_then(Value::as_str) != Some("track") {
        return Err("type must be \"track\"".into());
    }
    match o.get("event").and_then(Value::as_str) {
        Some(e) if !e.is_empty() => {}
        _ => return Err("event is required (a non-empty string)".into()),
    }
    match o.get("visitorId").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => {}
        _ => return Err("visitorId is required (a non-empty string)".into()),
    }
    if !o.get("timestamp").is_some_and(|t| t.is_i64() || t.is_u64()) {
        return Err("timestamp is required (epoch milliseconds)".into());
    }
    for (k, v) in o {
        match (k.as_str(), v) {
            (_, Value::Null) => return Err(format!("{k} must not be null")),
            ("accountId", v) if !v.is_string() => return Err("accountId must be a string".into()),
            ("properties" | "context", v) if !v.is_object() => {
                return Err(format!("{k} must be an object"));
            }
            _ => {}
        }
    }
    Ok(v)
}

/// Checks a metadata body: an array of `{"<id_field>": string, "values": object}`; returns the
/// number of records.
pub(crate) fn metadata(body: &[u8], id_field: &str) -> Result<usize, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let records = v.as_array().ok_or("body must be a JSON array of records")?;
    for (i, r) in records.iter().enumerate() {
        match r.get(id_field).and_then(Value::as_str) {
            Some(id) if !id.is_empty() => {}
            _ => return Err(format!("[{i}].{id_field} is required (a non-empty string)")),
        }
        if !r.get("values").is_some_and(Value::is_object) {
            return Err(format!("[{i}].values must be an object"));
        }
    }
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_bodies() {
        assert!(
            track(br#"{"type":"track","event":"e","visitorId":"v","timestamp":1,"properties":{}}"#)
                .is_ok()
        );
        assert_eq!(
            track(br#"{"type":"track","visitorId":"v","timestamp":1}"#).map(|_| ()),
            Err("event is required (a non-empty string)".into())
        );
        assert_eq!(
            track(br#"{"type":"track","event":"e","visitorId":"v","timestamp":"now"}"#).map(|_| ()),
            Err("timestamp is required (epoch milliseconds)".into())
        );
        assert_eq!(
            track(
                br#"{"type":"track","event":"e","visitorId":"v","timestamp":1,"accountId":null}"#
            ),
            Err("accountId must not be null".into())
        );
    }

    #[test]
    fn metadata_bodies() {
        assert_eq!(
            metadata(br#"[{"visitorId":"u","values":{"a":1}}]"#, "visitorId"),
            Ok(1)
        );
        assert_eq!(
            metadata(br#"[{"visitorId":"u"}]"#, "visitorId"),
            Err("[0].values must be an object".into())
        );
        assert_eq!(
            metadata(br#"{"visitorId":"u"}"#, "visitorId"),
            Err("body must be a JSON array of records".into())
        );
    }
}
