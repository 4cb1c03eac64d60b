//! The test button (`POST /v1/admin/integrations/{id}/test`): one track call, "Signal Test
//! Event", mapped through the integration's write plan and sent to its vendor now; the answer
//! is shown with the blueprint's diagnosis, or, when the event is not sent at all, a sentence
//! saying what to change.

use super::reply::{error, not_found, validation};
use super::state::AdminState;
use crate::http::{Resp, json};
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};
use signal_core::{Blueprint, DropReason, IntegrationConfig, Mapped, Mapper};
use signal_store::IntegrationRecord;

/// `POST /integrations/{id}/test`: sends one test event now and says what the vendor answered.
pub(super) async fn test_event(shared: &AdminState, rec: &IntegrationRecord) -> Resp {
    let Some(bp) = Blueprint::get(&rec.blueprint) else {
        return not_found("blueprint");
    };
    let Some(variant) = bp.variant(&rec.variant) else {
        return not_found("variant");
    };
    let config = match IntegrationConfig::validate(bp, &Value::Object(rec.config.clone())) {
        Ok(c) => c,
        Err(e) => return validation(e.fields),
    };
    let fcfg = match crate::pipeline::forward_config(shared.pipeline(), rec, bp, &config) {
        Ok(f) => f,
        Err(e) => return internal(&e.to_string()),
    };
    let mut mapper = Mapper::new(bp, variant, config);
    let (request, body) = match first_item(bp, &mut mapper) {
        Ok(item) => item,
        Err(NotSent::Broken(why)) => return internal(why),
        Err(NotSent::Refused(why)) => return error(StatusCode::CONFLICT, "CONFLICT", &why),
    };
    let target = fcfg.targets.get(request);
    let shown = json!({
        "method": target.map_or("POST", |t| t.method.as_str()),
        "url": target.map(|t| t.shown_url.clone()).unwrap_or_default(),
        "body": String::from_utf8_lossy(&body),
    });
    let answer = shared.engine().send_test(&fcfg, request, body).await;
    json(StatusCode::OK, &outcome(bp, shown, answer))
}

/// A `500 INTERNAL`: the node's own test event or configuration failed it.
fn internal(message: &str) -> Resp {
    error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
}

/// Why the test event makes no request.
#[derive(Debug)]
enum NotSent {
    /// The node's own test event does not read (a bug: `500`).
    Broken(&'static str),
    /// The integration's configuration does not send it: what to change (`409`).
    Refused(String),
}

/// The test event mapped: its first item's request index and body (for every vendor so far,
/// its one event request).
fn first_item(bp: &Blueprint, mapper: &mut Mapper) -> Result<(usize, Bytes), NotSent> {
    let now = crate::clock::now_ms();
    let src = json!({"type": "track", "event": "Signal Test Event", "userId": "signal-edge-test",
                     "timestamp": now, "properties": {"sent_by": "signal-edge test button"}})
    .to_string();
    let mut buf = src.into_bytes();
    let mut parser = signal_core::Parser::new();
    let doc = parser
        .parse(&mut buf, signal_core::Shape::Event(None))
        .map_err(|_| NotSent::Broken("the test event does not parse"))?;
    let ev = doc
        .event(0)
        .map_err(|_| NotSent::Broken("the test event is invalid"))?;
    match mapper.map(&ev, &(), now).outcome {
        Mapped::Send(items) => match items.get(0) {
            Some(item) => Ok((item.request, Bytes::copy_from_slice(item.body))),
            None => Err(NotSent::Refused(not_sent_why(bp, None))),
        },
        Mapped::Dropped(reason) => Err(NotSent::Refused(not_sent_why(bp, Some(reason)))),
    }
}

/// The test button's answer: the request shown, the vendor's answer and its diagnosis, or
/// why the vendor did not answer.
fn outcome<E: std::fmt::Display>(
    bp: &Blueprint,
    shown: Value,
    answer: Result<(u16, Bytes), E>,
) -> Value {
    match answer {
        Ok((status, answer)) => {
            let diagnosis = bp
                .diagnose_status(status)
                .map(|t| json!({"code": t.code, "message": t.message, "fix": t.fix}));
            json!({
                "vendor_request": shown,
                "vendor_response": {"status": status, "body": String::from_utf8_lossy(&answer)},
                "delivered": (200..300).contains(&status),
                "diagnosis": diagnosis,
            })
        }
        Err(why) => json!({
            "vendor_request": shown, "vendor_response": null, "delivered": false,
            "diagnosis": {"code": "unreachable", "message": format!("{} did not answer: {why}", bp.name),
                          "fix": "Check the node's network access to the region's host and data_region."},
        }),
    }
}

/// Why the test event (a track call, "Signal Test Event", with a userId) is not sent, in words
/// that say what to change.
fn not_sent_why(bp: &Blueprint, dropped: Option<DropReason>) -> String {
    const EVENT: &str = "the test event, a track call named `Signal Test Event`,";
    let name = &bp.name;
    match dropped {
        Some(DropReason::EventMapping) => format!(
            "{EVENT} is mapped to null in this integration's event_mapping, so it is never sent: \
             remove `Signal Test Event` from event_mapping (or map it to a {name} event name) to \
             use the test button"
        ),
        Some(DropReason::Consent) => format!(
            "{EVENT} carries no analytics consent and this integration has require_consent on, \
             so it is not sent: send a real event with consent, or turn require_consent off to \
             use the test button"
        ),
        Some(reason) => format!(
            "{EVENT} would not be sent to {name} with this configuration (reason: {reason}); \
             check the integration's event_mapping and consent settings"
        ),
        None => format!(
            "{EVENT} makes no {name} request with this configuration; check the integration's \
             event_mapping"
        ),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_buttons_refusal_is_a_sentence_not_debug_text() {
        use signal_core::DropReason;
        let bp = Blueprint::get("pendo").unwrap();
        for reason in [
            DropReason::EventMapping,
            DropReason::Consent,
            DropReason::Anonymous,
        ] {
            let why = not_sent_why(bp, Some(reason));
            assert!(
                !why.contains("Dropped(") && why.contains("Signal Test Event"),
                "{why}"
            );
        }
        assert!(not_sent_why(bp, Some(DropReason::EventMapping)).contains("event_mapping"));
    }
}
