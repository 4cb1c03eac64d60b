//! TEMPORARY (issue 12, until `blueprints/pendo.json` carries `requests` and `responses`):
//! Pendo's three requests and two response policies in the new vocabulary, so the delivery
//! engine, its tests, the delivery bench and the server run on [`super::resolve`] before the
//! blueprint does. Delete this module, and use `bp.requests` / `bp.responses`, at the merge.

use super::RequestSpec;
use crate::response::ResponseRule;
use serde_json::json;
use std::collections::BTreeMap;

/// The index of the Track request in [`specs`] (map order).
pub const TRACK: usize = 1;
/// The index of the visitor metadata request.
pub const VISITOR_METADATA: usize = 2;
/// The index of the account metadata request.
pub const ACCOUNT_METADATA: usize = 0;

/// Track: header auth, one event per request. Metadata: the same header, batches of 500
/// merged by id into `values`, 250 ms linger, an array body.
pub fn specs() -> BTreeMap<String, RequestSpec> {
    let auth = json!({"header": {"x-pendo-integration-key": "{config.integration_key}"}});
    let metadata = |kind: &str, id: &str| {
        json!({"method": "POST", "url": format!("{{region.base}}/api/v1/metadata/{kind}/custom/value"),
               "auth": auth, "batch": {"max_items": 500, "linger_ms": 250, "merge_by": id, "merge_into": "values"},
               "envelope": {"@items": true}, "item": {}, "response": "pendo_metadata"})
    };
    let all = json!({
        "track": {"method": "POST", "url": "{region.base}/data/track", "auth": auth, "item": {}, "response": "pendo"},
        "visitor_metadata": metadata("visitor", "visitorId"),
        "account_metadata": metadata("account", "accountId"),
    });
    serde_json::from_value(all).unwrap_or_default()
}

/// pendo.md section 7 as rules; the metadata policy also reads `{failed, missing}`.
pub fn responses() -> BTreeMap<String, Vec<ResponseRule>> {
    let tail = json!([
        {"status": [401, 403], "outcome": "pause", "diagnosis": "invalid_integration_key"},
        {"status": [404], "outcome": "pause", "diagnosis": "wrong_data_region"},
        {"status": [429], "outcome": "throttle"},
        {"status": [408, "5xx"], "outcome": "retry"},
        {"status": ["4xx"], "outcome": "dead_letter"}
    ]);
    let with = |first: serde_json::Value| {
        let mut rules = vec![first];
        rules.extend(tail.as_array().cloned().unwrap_or_default());
        serde_json::Value::Array(rules)
    };
    let all = json!({
        "pendo": with(json!({"status": ["2xx"], "outcome": "delivered"})),
        "pendo_metadata": with(json!({"status": ["2xx"], "outcome": "delivered", "warn_if": [
            {"path": "failed", "gt": 0, "warning": "metadata_failed", "message": "Pendo reported {n} record(s) failed"},
            {"path": "missing", "gt": 0, "warning": "metadata_missing", "message": "Pendo reported {n} record(s) missing"}]})),
    });
    serde_json::from_value(all).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indexes_name_the_requests_in_map_order() {
        let s = specs();
        let names: Vec<&str> = s.keys().map(String::as_str).collect();
        assert_eq!(names[TRACK], "track");
        assert_eq!(names[VISITOR_METADATA], "visitor_metadata");
        assert_eq!(names[ACCOUNT_METADATA], "account_metadata");
        assert_eq!(responses().len(), 2);
    }
}
