//! The management API's routes as data: every method and path under `/v1/admin`, and the
//! lowest role that may call it. [`super::handle`] checks the caller's role against this table
//! before dispatching, the role-matrix test walks it with every role, and the OpenAPI document
//! (`openapi.json`) is checked against it: a route missing from either side fails a test.
//!
//! Paths are templates: `{id}` matches any one segment.

use crate::access::Role;
use hyper::Method;

/// Who may sign in without a token: these routes are answered before any credential check.
pub(crate) const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/v1/admin/auth/login"),
    ("POST", "/v1/admin/auth/refresh"),
    ("POST", "/v1/admin/auth/logout"),
    ("POST", "/v1/admin/auth/invitation"),
];

/// One route: method, path template, the lowest role allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub(crate) method: &'static str,
    /// `/v1/admin/...` with `{name}` for a segment.
    pub(crate) path: &'static str,
    /// The lowest role that may call it.
    pub(crate) role: Role,
}

const fn r(method: &'static str, path: &'static str, role: Role) -> Route {
    Route { method, path, role }
}

use Role::{Admin, Editor, Viewer};

/// Every authenticated route.
pub(crate) const ROUTES: &[Route] = &[
    r("GET", "/v1/admin/auth/me", Viewer),
    r("GET", "/v1/admin/openapi.json", Viewer),
    r("GET", "/v1/admin/integration-catalog", Viewer),
    r("GET", "/v1/admin/integration-catalog/{key}", Viewer),
    r(
        "POST",
        "/v1/admin/integration-catalog/{key}/install",
        Editor,
    ),
    r("GET", "/v1/admin/integrations", Viewer),
    r("GET", "/v1/admin/integrations/{id}", Viewer),
    r("PATCH", "/v1/admin/integrations/{id}", Editor),
    r("DELETE", "/v1/admin/integrations/{id}", Admin),
    r("GET", "/v1/admin/integrations/{id}/events", Viewer),
    r("GET", "/v1/admin/integrations/{id}/stats", Viewer),
    r("POST", "/v1/admin/integrations/{id}/test", Editor),
    r("GET", "/v1/admin/integrations/{id}/dead-letters", Viewer),
    r(
        "POST",
        "/v1/admin/integrations/{id}/dead-letters/replay",
        Editor,
    ),
    r("DELETE", "/v1/admin/integrations/{id}/dead-letters", Admin),
    r("GET", "/v1/admin/sources", Viewer),
    r("POST", "/v1/admin/sources", Admin),
    r("PATCH", "/v1/admin/sources/{id}", Admin),
    r("DELETE", "/v1/admin/sources/{id}", Admin),
    r("GET", "/v1/admin/users", Viewer),
    r("POST", "/v1/admin/users", Admin),
    r("PATCH", "/v1/admin/users/{id}", Admin),
    r("DELETE", "/v1/admin/users/{id}", Admin),
    r("GET", "/v1/admin/tokens", Viewer),
    r("POST", "/v1/admin/tokens", Admin),
    r("DELETE", "/v1/admin/tokens/{id}", Admin),
    r("GET", "/v1/admin/audit-logs", Viewer),
];

/// Whether `path`'s segments fit `template`'s.
fn fits(template: &str, path: &str) -> bool {
    let mut t = template.split('/').filter(|s| !s.is_empty());
    let mut p = path.split('/').filter(|s| !s.is_empty());
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') || ts == ps => {}
            _ => return false,
        }
    }
}

/// The route `method` `path` (without a trailing `/`) is, if any.
pub(crate) fn find(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method == method.as_str() && fits(r.path, path))
}

/// Whether `method` `path` is answered before any credential check.
pub(crate) fn is_public(method: &Method, path: &str) -> bool {
    PUBLIC
        .iter()
        .any(|(m, p)| *m == method.as_str() && *p == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_segment_per_name_and_nothing_more() {
        let get = Method::GET;
        let found = find(&get, "/v1/admin/integrations/abc/stats").map(|r| r.path);
        assert_eq!(found, Some("/v1/admin/integrations/{id}/stats"));
        assert!(find(&get, "/v1/admin/integrations/abc/stats/more").is_none());
        assert!(find(&get, "/v1/admin/integrationsx").is_none());
        assert!(find(&Method::PUT, "/v1/admin/integrations").is_none());
    }

    #[test]
    fn the_table_gives_each_role_what_issue_15_says() {
        for r in ROUTES {
            let admin_only = ["/v1/admin/sources", "/v1/admin/users", "/v1/admin/tokens"]
                .iter()
                .any(|p| r.path.starts_with(p));
            let expected = match r.method {
                // Viewers read everything and watch live events.
                "GET" => Role::Viewer,
                // Admins manage sources, users and tokens, remove and purge.
                _ if admin_only || r.method == "DELETE" => Role::Admin,
                // Editors install, edit, enable, disable, test and replay.
                _ => Role::Editor,
            };
            assert_eq!(r.role, expected, "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
