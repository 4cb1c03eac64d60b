//! The routes under `/integrations/{id}/dead-letters`: a page of them (the cursor is the last
//! id of the page before), replay (all, or `{"ids": [...]}`), purge. The reading and writing is
//! `crate::dead_letters`'s.
//!
//! Replay takes everything only when nothing narrows it: an empty body, `{}`. A body that is not
//! JSON, not an object, has another field, or `ids` that are not dead-letter ids replays nothing
//! and says which field breaks which rule: a typo must never replay every letter. Purge takes
//! no body; one that asks for something (`{"ids": [...]}`) purges nothing.

use super::reply::{body_json, error, limit, not_an_object, not_found, number, validation};
use super::state::AdminState;
use crate::http::{Resp, json};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use signal_store::IntegrationRecord;

/// The routes under `/integrations/{id}/dead-letters`; 409 while the integration is disabled.
pub(super) async fn route(
    shared: &AdminState,
    rec: &IntegrationRecord,
    m: Method,
    more: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    // The store itself, not the consumer: nothing here waits on delivery, and
    // the runtimes' lock is let go before any file is read.
    let dead = shared
        .runtimes()
        .await
        .get(&rec.id)
        .map(|rt| rt.dead_letters());
    let Some(dead) = dead else {
        return error(
            StatusCode::CONFLICT,
            "CONFLICT",
            "the integration is disabled",
        );
    };
    let unavailable = |e: crate::dead_letters::DeadLetterError| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &e.to_string(),
        )
    };
    match (m, more) {
        (Method::GET, []) => {
            // The cursor is the last id of the page before.
            let (limit, after) = match (limit(query, 50, 100), number(query, "cursor")) {
                (Ok(limit), Ok(after)) => (limit, after),
                (Err(bad), _) | (_, Err(bad)) => return bad.answer(),
            };
            match crate::dead_letters::page(dead, after, limit).await {
                Ok(page) => json(StatusCode::OK, &page),
                Err(e) => unavailable(e),
            }
        }
        (Method::POST, ["replay"]) => {
            let body = match body_json(req).await {
                Ok(body) => body,
                Err(r) => return r,
            };
            let ids = match replay_ids(&body) {
                Ok(ids) => ids,
                Err(Refused::NotAnObject) => return not_an_object(),
                Err(Refused::Fields(fields)) => return validation(fields),
            };
            match crate::dead_letters::replay(dead, ids).await {
                Ok(n) => {
                    let resource = format!("integrations/{}/dead-letters", rec.id);
                    let changes = json!({"replayed": {"old": null, "new": n}});
                    super::audit::record(shared, "dead_letters.replayed", &resource, changes).await;
                    json(StatusCode::OK, &json!({"replayed": n}))
                }
                Err(e) => unavailable(e),
            }
        }
        (Method::DELETE, []) => {
            // Purge takes no body: one that asks for something is refused, never "all".
            match body_json(req).await {
                Ok(Value::Object(o)) if o.is_empty() => {}
                Ok(Value::Object(o)) => {
                    return validation(
                        o.keys()
                            .map(|k| {
                                let rule = "purge deletes every dead letter and takes no body: \
                                            send none (to remove some, replay them instead)";
                                (k.clone(), rule.to_owned())
                            })
                            .collect(),
                    );
                }
                Ok(_) => return not_an_object(),
                Err(r) => return r,
            }
            match crate::dead_letters::purge(dead).await {
                Ok(n) => {
                    let resource = format!("integrations/{}/dead-letters", rec.id);
                    let changes = json!({"purged": {"old": null, "new": n}});
                    super::audit::record(shared, "dead_letters.purged", &resource, changes).await;
                    super::reply::no_content()
                }
                Err(e) => unavailable(e),
            }
        }
        _ => not_found("such endpoint"),
    }
}

/// Why a replay body is refused.
#[derive(Debug)]
enum Refused {
    /// JSON, but not an object (400).
    NotAnObject,
    /// These fields break these rules (422).
    Fields(std::collections::BTreeMap<String, String>),
}

/// The ids a replay body names: `None` (all) for `{}`; else every entry of `ids`, each a
/// dead-letter id as the list shows it (a string of digits) or as a number.
fn replay_ids(body: &Value) -> Result<Option<Vec<u64>>, Refused> {
    let Some(o) = body.as_object() else {
        return Err(Refused::NotAnObject);
    };
    let mut fields = std::collections::BTreeMap::new();
    for k in o.keys().filter(|k| *k != "ids") {
        fields.insert(
            k.clone(),
            "is not a replay field: send {\"ids\": [...]} to replay some, or {} for all".into(),
        );
    }
    let ids = match o.get("ids") {
        None => None,
        Some(Value::Array(a)) => {
            let mut ids = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()) {
                    Some(id) => ids.push(id),
                    None => {
                        fields.insert(
                            format!("ids[{i}]"),
                            "must be a dead-letter id (as the list shows it)".into(),
                        );
                    }
                }
            }
            Some(ids)
        }
        Some(_) => {
            fields.insert(
                "ids".into(),
                "must be an array of dead-letter ids; leave it out to replay all".into(),
            );
            None
        }
    };
    if fields.is_empty() {
        Ok(ids)
    } else {
        Err(Refused::Fields(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_empty_body_replays_all_and_bad_ids_name_the_rule() {
        assert_eq!(replay_ids(&json!({})).ok(), Some(None));
        assert!(matches!(
            replay_ids(&json!({"ids": [1, "x"]})),
            Err(Refused::Fields(f)) if f.keys().collect::<Vec<_>>() == ["ids[1]"]
        ));
        assert_eq!(
            replay_ids(&json!({"ids": ["7", 9]})).ok(),
            Some(Some(vec![7, 9]))
        );
        assert_eq!(replay_ids(&json!({"ids": []})).ok(), Some(Some(vec![])));
        for bad in [
            json!({"ids": "7"}),
            json!({"ids": null}),
            json!({"ids": ["7", "x"]}),
            json!({"ids": [-1]}),
            json!({"idz": ["7"]}),
            json!([7]),
            json!(null),
        ] {
            assert!(replay_ids(&bad).is_err(), "{bad}");
        }
    }
}
