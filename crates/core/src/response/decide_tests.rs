use super::*;
use serde_json::json;

fn rules(v: Value) -> Vec<ResponseRule> {
    serde_json::from_value(v).expect("valid rules")
}

/// Amplitude's policy as the delivery tests use it.
fn amplitude() -> Vec<ResponseRule> {
    rules(json!([
        {"status": ["2xx"], "outcome": "delivered"},
        {"status": [400], "body": {"contains": "Invalid API key"}, "outcome": "pause", "diagnosis": "invalid_api_key"},
        {"status": [400], "outcome": "partial",
         "drop_indexes": ["events_with_invalid_fields.*", "events_with_missing_fields.*",
                          "events_with_invalid_id_lengths.*", "silenced_events"]},
        {"status": [413], "outcome": "split"},
        {"status": [429], "outcome": "partial", "delay_indexes": {"from": ["throttled_events"], "seconds": 30}},
        {"status": [429], "outcome": "throttle"},
        {"status": [408, "5xx"], "outcome": "retry"},
        {"status": ["4xx"], "outcome": "dead_letter"}
    ]))
}

#[test]
fn a_400_naming_events_dead_letters_those_flattened_in_range_and_once() {
    let body = br#"{"code":400,"error":"Invalid field values on some events",
        "events_with_invalid_fields":{"time":[3,5],"event_type":[1,3]},"silenced_events":[0,99]}"#;
    assert_eq!(
        decide(&amplitude(), 400, body, 6),
        Decision::Partial {
            dead: vec![0, 1, 3, 5],
            delayed: vec![],
            delay_s: 0,
            diagnosis: None
        }
    );
}

#[test]
fn a_400_that_names_no_event_falls_to_the_next_rule() {
    let body =
        br#"{"code":400,"error":"Request missing required field","missing_field":"api_key"}"#;
    assert_eq!(
        decide(&amplitude(), 400, body, 3),
        Decision::DeadLetter { diagnosis: None }
    );
    assert_eq!(
        decide(
            &amplitude(),
            400,
            br#"{"code":400,"error":"Invalid API key"}"#,
            3
        ),
        Decision::Pause {
            code: "invalid_api_key".into()
        }
    );
}

#[test]
fn a_429_with_throttled_events_delays_them_and_one_without_throttles_the_integration() {
    let body = br#"{"code":429,"error":"Too many requests for some devices and users","throttled_events":[1,2]}"#;
    assert_eq!(
        decide(&amplitude(), 429, body, 4),
        Decision::Partial {
            dead: vec![],
            delayed: vec![1, 2],
            delay_s: 30,
            diagnosis: None
        }
    );
    assert_eq!(
        decide(&amplitude(), 429, b"slow down", 4),
        Decision::Retry { throttled: true }
    );
    assert_eq!(decide(&amplitude(), 413, b"", 4), Decision::Split);
    assert_eq!(
        decide(&amplitude(), 503, b"", 4),
        Decision::Retry { throttled: false }
    );
    assert_eq!(
        decide(&amplitude(), 403, b"", 4),
        Decision::DeadLetter { diagnosis: None }
    );
}

#[test]
fn a_text_body_names_indexes_after_its_marker() {
    let heap = rules(json!([
        {"status": [400], "outcome": "partial", "drop_indexes": ["text:events["]},
        {"status": [400], "outcome": "split"}
    ]));
    assert_eq!(
        decide(
            &heap,
            400,
            b"postBody.events[3].properties should be object; postBody.events[0].event is required",
            4
        ),
        Decision::Partial {
            dead: vec![0, 3],
            delayed: vec![],
            delay_s: 0,
            diagnosis: None
        }
    );
    assert_eq!(
        decide(&heap, 400, b"postBody.events[7] out of range", 4),
        Decision::Split,
        "an index past the request's items is ignored"
    );
    assert_eq!(decide(&heap, 400, b"app_id is invalid", 4), Decision::Split);
}

#[test]
fn warn_if_reads_numbers_of_a_delivered_body() {
    let pendo = rules(json!([
        {"status": ["2xx"], "outcome": "delivered", "warn_if": [
            {"path": "failed", "gt": 0, "warning": "metadata_failed", "message": "Pendo reported {n} record(s) failed"},
            {"path": "missing", "gt": 0, "warning": "metadata_missing", "message": "Pendo reported {n} record(s) missing"}]}
    ]));
    assert_eq!(
        decide(
            &pendo,
            200,
            br#"{"total":3,"updated":0,"failed":2,"missing":1}"#,
            3
        ),
        Decision::Delivered {
            warnings: vec![
                "metadata_failed: Pendo reported 2 record(s) failed".into(),
                "metadata_missing: Pendo reported 1 record(s) missing".into()
            ]
        }
    );
    assert_eq!(
        decide(&pendo, 200, br#"{"failed":0}"#, 3),
        Decision::Delivered { warnings: vec![] }
    );
    assert_eq!(
        decide(&pendo, 200, b"not json", 3),
        Decision::Delivered { warnings: vec![] }
    );
}

#[test]
fn body_has_and_status_classes_match_as_written() {
    let r = rules(json!([
        {"status": [400], "body": {"has": "error.detail"}, "outcome": "drop", "diagnosis": "bad_detail"},
        {"status": ["5XX"], "outcome": "pause"}
    ]));
    assert_eq!(
        decide(&r, 400, br#"{"error":{"detail":"x"}}"#, 1),
        Decision::Drop {
            reason: "bad_detail".into()
        }
    );
    assert_eq!(
        decide(&r, 400, br#"{"error":{"detail":null}}"#, 1),
        Decision::DeadLetter { diagnosis: None },
        "null is not present: the default decides"
    );
    assert_eq!(
        decide(&r, 502, b"", 1),
        Decision::Pause {
            code: "status_502".into()
        }
    );
}

#[test]
fn without_rules_the_default_is_delivered_retry_or_dead_letter() {
    assert_eq!(
        decide(&[], 204, b"", 1),
        Decision::Delivered { warnings: vec![] }
    );
    assert_eq!(
        decide(&[], 429, b"", 1),
        Decision::Retry { throttled: true }
    );
    for s in [408, 500, 503] {
        assert_eq!(decide(&[], s, b"", 1), Decision::Retry { throttled: false });
    }
    for s in [400, 401, 404, 413] {
        assert_eq!(
            decide(&[], s, b"", 1),
            Decision::DeadLetter { diagnosis: None }
        );
    }
    assert_eq!(decide_rule(&[], 200, b"", 1), None);
}
