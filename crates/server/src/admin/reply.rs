//! The answers every management route shares: JSON errors in the interface's shape, the
//! paged list, query parameters and JSON request bodies.

use crate::http::{BodyError, FieldErrors, Resp, json, read_body};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value, json};

/// `{"error": {"code", "message"}}` with `status`.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Resp {
    json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// `503 UNAVAILABLE`: the node's store failed; nothing was read or changed, so the same request
/// can be sent again.
pub(super) fn store_failed(e: &signal_store::StoreError) -> Resp {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        &format!(
            "the node's store failed ({e}); nothing was changed: try again, and check the data \
             directory's disk if it goes on"
        ),
    )
}

/// `503 UNAVAILABLE`: on JetStream, the change could not be put where the other nodes follow
/// it; nothing was changed.
pub(super) fn not_shared(e: &crate::cluster::ShareError) -> Resp {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        &format!(
            "the change could not be shared with the other nodes ({e}); nothing was changed: \
             try again once JetStream answers"
        ),
    )
}

/// `409 CONFLICT`: on JetStream, another node changed or removed the record between this
/// node reading it and writing the change; nothing was changed.
pub(super) fn changed_meanwhile() -> Resp {
    error(
        StatusCode::CONFLICT,
        "CONFLICT",
        "another node changed or removed it while this change was made; nothing was changed: \
         read it again and send the change again",
    )
}

/// `400 INVALID_REQUEST`: the body is JSON but not an object.
pub(super) fn not_an_object() -> Resp {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "the body must be a JSON object",
    )
}

/// `204 No Content`.
pub(super) fn no_content() -> Resp {
    crate::http::text(StatusCode::NO_CONTENT, "text/plain", "")
}

/// `404 NOT_FOUND`: "no {what}".
pub(super) fn not_found(what: &str) -> Resp {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no {what}"))
}

/// The first value of a query parameter, URL-decoded (`%20` and `+` are spaces).
pub(super) fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A query parameter that is not what it must be: its name and the rule.
#[derive(Debug)]
pub(super) struct BadParam {
    name: &'static str,
    rule: &'static str,
}

impl BadParam {
    /// `name` breaks `rule`.
    pub(super) fn new(name: &'static str, rule: &'static str) -> Self {
        Self { name, rule }
    }

    /// `422 VALIDATION_ERROR` naming the parameter.
    pub(super) fn answer(self) -> Resp {
        validation([(self.name.to_owned(), self.rule.to_owned())].into())
    }
}

/// The query parameter `name` as a whole number, if it is given.
pub(super) fn number(query: &str, name: &'static str) -> Result<Option<u64>, BadParam> {
    param(query, name)
        .map(|v| v.parse::<u64>())
        .transpose()
        .map_err(|_| BadParam {
            name,
            rule: "must be a whole number (as the list's next_cursor gives it, for a cursor)",
        })
}

/// `?limit=`: `default` when not given, a number brought into 1 to `max`.
pub(super) fn limit(query: &str, default: usize, max: usize) -> Result<usize, BadParam> {
    Ok(number(query, "limit")?
        .map_or(default, |n| usize::try_from(n).unwrap_or(max))
        .clamp(1, max))
}

/// `data` as one page: `?limit=` (default 50, 1 to 100) from the offset in `?cursor=`; a
/// parameter that is not a number is a 422 naming it.
pub(super) fn list(data: Vec<Value>, query: &str) -> Resp {
    let (limit, start) = match (limit(query, 50, 100), number(query, "cursor")) {
        (Ok(limit), Ok(cursor)) => (limit, cursor),
        (Err(bad), _) | (_, Err(bad)) => return bad.answer(),
    };
    let start = start
        .and_then(|c| usize::try_from(c).ok())
        .unwrap_or(0)
        .min(data.len());
    let end = start.saturating_add(limit).min(data.len());
    let has_more = end < data.len();
    json(
        StatusCode::OK,
        &json!({
            "data": data[start..end].to_vec(),
            "next_cursor": if has_more { Value::from(end.to_string()) } else { Value::Null },
            "has_more": has_more,
        }),
    )
}

/// A page read with a cursor of its own: `data`, and `next` (the cursor of the page after),
/// when there is one.
pub(super) fn json_page(data: Vec<Value>, next: Option<String>) -> Resp {
    json(
        StatusCode::OK,
        &json!({"data": data, "next_cursor": next, "has_more": next.is_some()}),
    )
}

/// `422 VALIDATION_ERROR` naming each bad field.
pub(super) fn validation(fields: FieldErrors) -> Resp {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"error": {"code": "VALIDATION_ERROR", "message": "the request has invalid fields", "fields": fields}}),
    )
}

/// [`body_json`], which must be an object; else the error answer (400 for any other JSON).
pub(super) async fn body_object(req: Request<Incoming>) -> Result<Value, Resp> {
    match body_json(req).await? {
        body @ Value::Object(_) => Ok(body),
        _ => Err(not_an_object()),
    }
}

/// The body as JSON (an empty body is `{}`), at most 1 MiB; else the error answer.
pub(super) async fn body_json(req: Request<Incoming>) -> Result<Value, Resp> {
    match read_body(req, 1 << 20).await {
        Ok((_, b)) if b.is_empty() => Ok(Value::Object(Map::new())),
        Ok((_, b)) => serde_json::from_slice(&b).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                &format!("the body is not JSON: {e}"),
            )
        }),
        Err(BodyError::TooLarge) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_REQUEST",
            "the body is too large",
        )),
        Err(BodyError::Broken) => Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the body could not be read",
        )),
    }
}
