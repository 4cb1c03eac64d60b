//! Where the key is read from, per the fixture's [`AuthRule`]: a header, a body field, Basic,
//! bearer, or a query parameter.

use crate::fixture::AuthRule;
use base64::Engine as _;
use hyper::HeaderMap;
use serde_json::Value;

/// The key of a request whose key is not in the body; `None` inside when there is none.
/// `None` outside for [`AuthRule::Body`]: read it with [`from_body`] once the body is parsed.
pub(crate) fn from_head(
    rule: &AuthRule,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<Option<String>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = |scheme: &str| {
        header("authorization").and_then(|v| {
            let (s, rest) = v.split_once(' ')?;
            s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
        })
    };
    Some(match rule {
        AuthRule::Body { .. } => return None,
        AuthRule::Header { name } => header(name).map(str::to_owned),
        AuthRule::Bearer => authorization("bearer").map(str::to_owned),
        AuthRule::Basic => authorization("basic").and_then(|b64| {
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let text = String::from_utf8(raw).ok()?;
            Some(
                text.split_once(':')
                    .map_or(text.as_str(), |(u, _)| u)
                    .to_owned(),
            )
        }),
        AuthRule::Query { name } => query.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        }),
    })
}

/// The key in a parsed body's top-level `field`, when it is a string.
pub(crate) fn from_body(field: &str, body: &Value) -> Option<String> {
    body.get(field).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, hyper::header::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn each_placement_is_read() {
        let h = headers(&[("x-key", "k1"), ("authorization", "Basic dXNlcjpwYXNz")]);
        let header = AuthRule::Header {
            name: "x-key".into(),
        };
        assert_eq!(from_head(&header, &h, None), Some(Some("k1".into())));
        assert_eq!(
            from_head(&AuthRule::Basic, &h, None),
            Some(Some("user".into()))
        );
        assert_eq!(from_head(&AuthRule::Bearer, &h, None), Some(None));
        let h = headers(&[("authorization", "Bearer tok")]);
        assert_eq!(
            from_head(&AuthRule::Bearer, &h, None),
            Some(Some("tok".into()))
        );
        let q = AuthRule::Query {
            name: "api_key".into(),
        };
        assert_eq!(
            from_head(&q, &h, Some("a=1&api_key=x%20y")),
            Some(Some("x y".into()))
        );
        let body = AuthRule::Body {
            field: "app_id".into(),
        };
        assert_eq!(from_head(&body, &h, None), None);
        assert_eq!(
            from_body("app_id", &serde_json::json!({"app_id": "7"})),
            Some("7".into())
        );
        assert_eq!(from_body("app_id", &serde_json::json!({"app_id": 7})), None);
    }
}
