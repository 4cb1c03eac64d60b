//! `GET /v1/admin/openapi.json`: the OpenAPI 3.1 document of the management API, compiled into
//! the binary from `openapi.json` beside this file.
//!
//! The document is checked against the route table (`routes.rs`) by this file's tests: every
//! route has its operation (same method and path, `x-role` its lowest role, `security: []` for
//! the public ones) and every operation its route. CI also runs schemathesis against the real
//! binary with it (`.ci/schemathesis`): what the server sends must be what it says.

use crate::http::{Resp, text};
use hyper::StatusCode;

const DOCUMENT: &str = include_str!("openapi.json");

/// The document, as JSON.
pub(super) fn document() -> Resp {
    text(StatusCode::OK, "application/json", DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
    use crate::access::Role;
    use crate::admin::routes::{PUBLIC, ROUTES, Route};
    use serde_json::{Value, json};

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    /// Every way `doc` and the route table (`routes`, `public`) disagree, one line each.
    fn mismatches(doc: &Value, routes: &[Route], public: &[(&str, &str)]) -> Vec<String> {
        let mut wrong = Vec::new();
        let op = |method: &str, path: &str| doc["paths"][path].get(method.to_lowercase());
        for r in routes {
            match op(r.method, r.path) {
                None => wrong.push(format!(
                    "{} {}: a route with no operation",
                    r.method, r.path
                )),
                Some(o) => {
                    if o["x-role"] != r.role.as_str() {
                        wrong.push(format!(
                            "{} {}: x-role {} but the route needs {}",
                            r.method, r.path, o["x-role"], r.role
                        ));
                    }
                    if o.get("security").is_some_and(|s| s == &json!([])) {
                        wrong.push(format!("{} {}: needs a credential", r.method, r.path));
                    }
                }
            }
        }
        for (method, path) in public {
            match op(method, path) {
                None => wrong.push(format!("{method} {path}: a public route with no operation")),
                Some(o) => {
                    if o.get("security") != Some(&json!([])) {
                        wrong.push(format!("{method} {path}: public, so `security: []`"));
                    }
                    if o.get("x-role").is_some() {
                        wrong.push(format!("{method} {path}: public, so no x-role"));
                    }
                }
            }
        }
        let empty = serde_json::Map::new();
        for (path, item) in doc["paths"].as_object().unwrap_or(&empty) {
            for (key, _) in item.as_object().unwrap_or(&empty) {
                if !METHODS.contains(&key.as_str()) {
                    continue;
                }
                let method = key.to_uppercase();
                let routed = routes.iter().any(|r| r.method == method && r.path == path)
                    || public.iter().any(|(m, p)| *m == method && p == path);
                if !routed {
                    wrong.push(format!("{method} {path}: an operation with no route"));
                }
            }
        }
        wrong
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        assert_eq!(doc["security"], json!([{"bearer": []}]));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"],
            json!({"type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearer"]["description"]})
        );
    }

    #[test]
    fn every_route_has_its_operation_and_every_operation_its_route() {
        let wrong = mismatches(&document(), ROUTES, PUBLIC);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_route_without_an_operation_fails_and_so_does_an_operation_without_a_route() {
        let doc = document();
        // A route the document lacks.
        let mut routes = ROUTES.to_vec();
        routes.push(Route {
            method: "GET",
            path: "/v1/admin/nowhere",
            role: Role::Viewer,
        });
        let wrong = mismatches(&doc, &routes, PUBLIC);
        assert_eq!(
            wrong,
            ["GET /v1/admin/nowhere: a route with no operation"],
            "{wrong:?}"
        );
        // An operation the table lacks: the table without its last route.
        let last = ROUTES[ROUTES.len() - 1];
        let wrong = mismatches(&doc, &ROUTES[..ROUTES.len() - 1], PUBLIC);
        assert_eq!(
            wrong,
            [format!(
                "{} {}: an operation with no route",
                last.method, last.path
            )]
        );
        // A public route the table lacks, and one the document lacks.
        let wrong = mismatches(&doc, ROUTES, &PUBLIC[1..]);
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        let mut public = PUBLIC.to_vec();
        public.push(("POST", "/v1/admin/auth/elsewhere"));
        let wrong = mismatches(&doc, ROUTES, &public);
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        // The same path with another method is another operation.
        let mut moved = doc.clone();
        let path = &mut moved["paths"]["/v1/admin/integrations/{id}"];
        let get = path["get"].take();
        path["put"] = get;
        if let Some(o) = path.as_object_mut() {
            o.remove("get");
        }
        let wrong = mismatches(&moved, ROUTES, PUBLIC);
        assert_eq!(wrong.len(), 2, "{wrong:?}");
    }

    #[test]
    fn a_role_or_a_security_that_differs_from_the_table_fails() {
        let mut doc = document();
        doc["paths"]["/v1/admin/integrations/{id}"]["delete"]["x-role"] = json!("editor");
        doc["paths"]["/v1/admin/auth/login"]["post"]["security"] = json!([{"bearer": []}]);
        doc["paths"]["/v1/admin/sources"]["get"]["security"] = json!([]);
        let wrong = mismatches(&doc, ROUTES, PUBLIC);
        assert_eq!(wrong.len(), 3, "{wrong:?}");
        assert!(
            wrong[0].contains("x-role \"editor\" but the route needs admin"),
            "{wrong:?}"
        );
    }

    /// What every handler shares, documented on every operation it applies to: a credential's
    /// 401 (and 403 above viewer), a body's 400, 413 and 422, and the error shape for each.
    #[test]
    fn every_operation_documents_the_answers_it_shares() {
        let doc = document();
        let mut wrong = Vec::new();
        let routes = ROUTES.iter().map(|r| (r.method, r.path, Some(r.role)));
        let public = PUBLIC.iter().map(|(m, p)| (*m, *p, None));
        for (method, path, role) in routes.chain(public) {
            let o = &doc["paths"][path][method.to_lowercase()];
            let has = |status: &str| o["responses"].get(status).is_some();
            let mut needs = Vec::new();
            if role.is_some() {
                needs.push("401");
            }
            if role.is_some_and(|r| r > Role::Viewer) {
                needs.push("403");
            }
            if o.get("requestBody").is_some() {
                needs.extend(["400", "413"]);
            }
            for status in needs.into_iter().filter(|s| !has(s)) {
                wrong.push(format!("{method} {path}: no {status}"));
            }
            let responses = o["responses"].as_object().cloned().unwrap_or_default();
            for (status, r) in responses.iter().filter(|(s, _)| s.as_str() >= "400") {
                let reference = r["$ref"].as_str().unwrap_or_default();
                if reference != format!("#/components/responses/E{status}") {
                    wrong.push(format!("{method} {path}: {status} is not the error shape"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(v: &Value, doc: &Value, bad: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        let found = r.strip_prefix('#').and_then(|p| doc.pointer(p)).is_some();
                        if !found {
                            bad.push(r.clone());
                        }
                    }
                    o.values().for_each(|v| walk(v, doc, bad));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, doc, bad)),
                _ => {}
            }
        }
        let doc = document();
        let mut bad = Vec::new();
        walk(&doc, &doc, &mut bad);
        assert!(bad.is_empty(), "{bad:?}");
    }
}
