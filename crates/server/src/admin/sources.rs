//! Sources: who may send events (pipeline key, HMAC secret shown whole only when created,
//! allowed origins, rate limit), listed, created, changed and removed; every change is pushed
//! to the gateway's view of them at once.

use super::reply::{
    body_json, changed_meanwhile, error, list, not_an_object, not_found, not_shared, store_failed,
    validation,
};
use super::state::AdminState;
use crate::clock::now_rfc3339;
use crate::http::{FieldErrors, Resp, json, text};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use signal_core::mask_secret;
use signal_store::SourceRecord;

/// A source as the API shows it: the secret masked unless `reveal_secret`.
fn source_json(s: &SourceRecord, reveal_secret: bool) -> Value {
    json!({
        "id": s.id, "name": s.name, "pipeline_key": s.pipeline_key,
        "secret": if reveal_secret { s.secret.clone() } else { mask_secret(&s.secret) },
        "allowed_origins": s.allowed_origins, "rate_limit_per_second": s.rate_limit_per_second,
        "created_at": s.created_at,
    })
}

const ORIGIN_RULE: &str = "must be an origin as browsers send it: http:// or https://, a \
     lower-case host and an optional port, nothing after (https://shop.example.com)";

/// Whether `o` is an origin as a browser sends it in `Origin`, so that the gateway's exact
/// comparison can ever match it: `http://` or `https://`, a lower-case host, an optional port
/// (1 to 65535), no path, query, user or trailing slash.
fn is_origin(o: &str) -> bool {
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        // An IPv6 literal: `[::1]` or `[::1]:8080`; an address, not any hex digits and colons
        // (`[103]` is none, and no browser sends it).
        Some((v6, after)) => {
            let v6_ok = v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
                && v6.parse::<std::net::Ipv6Addr>().is_ok();
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return false,
            };
            (if v6_ok { "v6" } else { "" }, port)
        }
        None => match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-'));
    // Digits as browsers write them: `+8080` and `08080` parse, but no browser sends them.
    let port_ok = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit())
            && !p.starts_with('0')
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    host_ok && port_ok
}

/// `o` without its port when that port is its scheme's default (`https://x:443`, `http://x:80`):
/// browsers never send a default port in `Origin`, so an entry that spells it never matches.
fn without_default_port(o: &str) -> Option<&str> {
    let default = if o.starts_with("https://") {
        ":443"
    } else {
        ":80"
    };
    o.strip_suffix(default).filter(|bare| {
        // The suffix is the port only when what comes before ends the host.
        let host = bare.split_once("://").map_or("", |(_, h)| h);
        !host.is_empty() && (!host.contains(':') || host.ends_with(']'))
    })
}

/// What is wrong with `v` as an `allowed_origins` entry, if anything.
fn origin_problem(v: &Value) -> Option<String> {
    match v.as_str() {
        Some(o) if is_origin(o) => without_default_port(o).map(|bare| {
            format!(
                "{v} names the default port, which browsers never send in Origin: drop the port \
                 (\"{bare}\"), or the source never matches a browser's request"
            )
        }),
        _ => Some(format!("{v} {ORIGIN_RULE}")),
    }
}

/// Reads name, allowed_origins and rate_limit_per_second from a source body into `s`.
fn apply_source(s: &mut SourceRecord, body: &Value, creating: bool) -> Result<(), FieldErrors> {
    let mut fields = FieldErrors::new();
    match body.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => s.name = n.clone(),
        None if !creating => {}
        _ => {
            fields.insert("name".into(), "is required (a non-empty string)".into());
        }
    }
    match body.get("allowed_origins") {
        None => {}
        Some(Value::Array(a)) => {
            // One field (the form's), naming the first entry that breaks the rule.
            let mut origins = Vec::with_capacity(a.len());
            for v in a {
                match (origin_problem(v), v.as_str()) {
                    (None, Some(o)) => origins.push(o.to_owned()),
                    (problem, _) => {
                        fields
                            .entry("allowed_origins".into())
                            .or_insert_with(|| problem.unwrap_or_else(|| ORIGIN_RULE.into()));
                    }
                }
            }
            s.allowed_origins = origins;
        }
        Some(_) => {
            fields.insert(
                "allowed_origins".into(),
                format!("must be an array of origins; each {ORIGIN_RULE}"),
            );
        }
    }
    if let Some(v) = body.get("rate_limit_per_second") {
        match v
            .as_u64()
            .filter(|n| *n >= 1)
            .and_then(|n| u32::try_from(n).ok())
        {
            Some(n) => s.rate_limit_per_second = n,
            None => {
                fields.insert(
                    "rate_limit_per_second".into(),
                    "must be an integer of at least 1".into(),
                );
            }
        }
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(fields)
    }
}

/// Puts a change the store has taken into the gateway's view of the sources (`None`: the source
/// `id` is gone), and forgets its rate limiter.
fn refresh_sources(shared: &AdminState, id: &str, changed: Option<&SourceRecord>) {
    shared.gateway().source_changed(id, changed);
}

/// Stores a source (shared with the other nodes first, on JetStream), refreshes the gateway's
/// view of it, and answers with it.
async fn save_source(
    shared: &AdminState,
    s: &SourceRecord,
    status: StatusCode,
    reveal_secret: bool,
) -> Resp {
    if let Some(c) = shared.cluster()
        && let Err(e) = c.put_source(s).await
    {
        return not_shared(&e);
    }
    store_source(shared, s, status, reveal_secret)
}

/// Stores a source here (already shared, on JetStream), refreshes the gateway's view of it,
/// and answers with it.
fn store_source(
    shared: &AdminState,
    s: &SourceRecord,
    status: StatusCode,
    reveal_secret: bool,
) -> Resp {
    if let Err(e) = shared.store().put_source(s) {
        return store_failed(&e);
    }
    refresh_sources(shared, &s.id, Some(s));
    json(status, &source_json(s, reveal_secret))
}

/// The routes under `/sources`.
pub(super) async fn route(
    shared: &AdminState,
    method: Method,
    parts: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    match (method, parts) {
        (Method::GET, []) => match shared.store().sources() {
            Ok(all) => list(all.iter().map(|s| source_json(s, false)).collect(), query),
            Err(e) => store_failed(&e),
        },
        (Method::POST, []) => match body_json(req).await {
            Ok(body) => create(shared, &body).await,
            Err(r) => r,
        },
        (Method::DELETE, [id]) => remove(shared, id).await,
        (Method::PATCH, [id]) => match body_json(req).await {
            Ok(body) if body.is_object() => patch(shared, id, &body).await,
            Ok(_) => not_an_object(),
            Err(r) => r,
        },
        _ => not_found("such endpoint"),
    }
}

/// `POST /sources`: a new source with its own key and secret (shown whole this once); 201.
async fn create(shared: &AdminState, body: &Value) -> Resp {
    let (Ok(key), Ok(secret)) = (
        crate::secrets::random_token(32),
        crate::secrets::random_token(48),
    ) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "no randomness to make a pipeline key and secret from; nothing was created: \
             try again",
        );
    };
    let mut s = SourceRecord {
        id: format!("src_{}", key[..12].to_lowercase()),
        name: String::new(),
        pipeline_key: format!("dk_live_{key}"),
        secret,
        allowed_origins: Vec::new(),
        rate_limit_per_second: shared.source_rate_limit(),
        created_at: now_rfc3339(),
    };
    if !body.is_object() {
        return not_an_object();
    }
    if let Err(fields) = apply_source(&mut s, body, true) {
        return validation(fields);
    }
    let _writing = super::WRITES.lock().await;
    let answer = save_source(shared, &s, StatusCode::CREATED, true).await;
    if answer.status() == StatusCode::CREATED {
        let fields = super::audit::source_fields(&s);
        let changes = super::audit::changes(None, Some(&fields));
        let resource = format!("sources/{}", s.id);
        super::audit::record(shared, "source.created", &resource, changes).await;
    }
    answer
}

/// `DELETE /sources/{id}`: 204 once it is gone (shared first, on JetStream).
async fn remove(shared: &AdminState, id: &str) -> Resp {
    let _writing = super::WRITES.lock().await;
    let old = match shared.store().sources() {
        Ok(all) => match all.into_iter().find(|s| s.id == id) {
            Some(s) => s,
            None => return not_found("source with this id"),
        },
        Err(e) => return store_failed(&e),
    };
    if let Some(c) = shared.cluster()
        && let Err(e) = c.remove_source(id).await
    {
        return not_shared(&e);
    }
    match shared.store().delete_source(id) {
        Ok(true) => {
            refresh_sources(shared, id, None);
            let fields = super::audit::source_fields(&old);
            let changes = super::audit::changes(Some(&fields), None);
            let resource = format!("sources/{id}");
            super::audit::record(shared, "source.removed", &resource, changes).await;
            text(StatusCode::NO_CONTENT, "text/plain", "")
        }
        Ok(false) => not_found("source with this id"),
        Err(e) => store_failed(&e),
    }
}

/// `PATCH /sources/{id}`: read after the body, under the write lock, so the change goes over
/// what is stored; on JetStream over what the cluster holds, written only if unchanged since
/// (the node's own default source is its own: from its store).
async fn patch(shared: &AdminState, id: &str, body: &Value) -> Resp {
    let _writing = super::WRITES.lock().await;
    let shared_source = match shared.cluster().filter(|_| id != "default") {
        Some(c) => match c.source(id).await {
            Ok(Some((s, rev))) => Some((s, rev)),
            Ok(None) => return not_found("source with this id"),
            Err(e) => return not_shared(&e),
        },
        None => None,
    };
    let (mut s, revision) = match shared_source {
        Some((s, rev)) => (s, Some(rev)),
        None => match shared.store().sources() {
            Ok(all) => match all.into_iter().find(|s| s.id == id) {
                Some(s) => (s, None),
                None => return not_found("source with this id"),
            },
            Err(e) => return store_failed(&e),
        },
    };
    let before = super::audit::source_fields(&s);
    if let Err(fields) = apply_source(&mut s, body, false) {
        return validation(fields);
    }
    let answer = match (shared.cluster(), revision) {
        (Some(c), Some(rev)) => match c.update_source(&s, rev).await {
            Ok(()) => store_source(shared, &s, StatusCode::OK, false),
            Err(e) if e.is_conflict() => changed_meanwhile(),
            Err(e) => not_shared(&e),
        },
        _ => save_source(shared, &s, StatusCode::OK, false).await,
    };
    if answer.status() == StatusCode::OK {
        let after = super::audit::source_fields(&s);
        let changes = super::audit::changes(Some(&before), Some(&after));
        let resource = format!("sources/{id}");
        super::audit::record(shared, "source.updated", &resource, changes).await;
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::{apply_source, is_origin};
    use serde_json::json;

    fn blank() -> signal_store::SourceRecord {
        signal_store::SourceRecord {
            id: "s".into(),
            name: String::new(),
            pipeline_key: "k".into(),
            secret: "x".into(),
            allowed_origins: Vec::new(),
            rate_limit_per_second: 1,
            created_at: String::new(),
        }
    }

    /// Browsers leave the scheme's default port out of `Origin`: an entry that spells it
    /// could never match, so the source would be locked out without a word.
    #[test]
    fn an_origin_with_its_default_port_is_refused_naming_the_entry_and_saying_to_drop_the_port() {
        for (entry, bare) in [
            ("https://shop.example:443", "https://shop.example"),
            ("http://localhost:80", "http://localhost"),
            ("https://[::1]:443", "https://[::1]"),
        ] {
            let mut s = blank();
            let fields = apply_source(
                &mut s,
                &json!({"name": "Shop", "allowed_origins": ["https://ok.example", entry]}),
                true,
            )
            .expect_err(entry);
            let msg = &fields["allowed_origins"];
            assert!(msg.contains(entry), "{msg}");
            assert!(msg.contains("drop the port"), "{msg}");
            assert!(msg.contains(&format!("\"{bare}\"")), "{msg}");
        }
        // A port that is not the scheme's default is kept as written.
        let mut s = blank();
        apply_source(
            &mut s,
            &json!({"name": "Dev", "allowed_origins": ["http://localhost:443", "https://x.example:80"]}),
            true,
        )
        .expect("other ports are origins as browsers send them");
        assert_eq!(s.allowed_origins.len(), 2);
    }

    #[test]
    fn origins_are_what_browsers_send() {
        for good in [
            "https://shop.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]",
            "https://[::1]:8443",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "",
            "shop.example.com",
            "https://",
            "https://shop.example.com/",
            "https://Shop.example.com",
            "https://shop.example.com/path",
            "https://u@shop.example.com",
            "https://shop.example.com:0",
            "https://shop.example.com:65536",
            "https://shop.example.com:",
            "ftp://shop.example.com",
            "http://[::1",
            "http://[::1]x",
            "*",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
