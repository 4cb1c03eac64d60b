//! The management UI: static files compiled into the binary (no build step, nothing fetched from
//! elsewhere), served unauthenticated at the admin address's root: the page, its stylesheet and
//! its scripts, one per concept (`ui/app.js` says which is which). The page itself signs in
//! (email and password, or an API token) and calls the management API like any other client.

use crate::http::{Resp, text};
use hyper::StatusCode;
use hyper::header::HeaderValue;

const INDEX: &str = include_str!("../ui/index.html");
const CSS: &str = include_str!("../ui/app.css");

/// The scripts, by the path the page loads them from (`index.html` names them in this order).
const SCRIPTS: &[(&str, &str)] = &[
    ("/ui/dom.js", include_str!("../ui/dom.js")),
    ("/ui/session.js", include_str!("../ui/session.js")),
    ("/ui/signin.js", include_str!("../ui/signin.js")),
    ("/ui/app.js", include_str!("../ui/app.js")),
    ("/ui/library.js", include_str!("../ui/library.js")),
    ("/ui/forms.js", include_str!("../ui/forms.js")),
    ("/ui/charts.js", include_str!("../ui/charts.js")),
    ("/ui/integration.js", include_str!("../ui/integration.js")),
    ("/ui/live.js", include_str!("../ui/live.js")),
    ("/ui/sources.js", include_str!("../ui/sources.js")),
    ("/ui/audit.js", include_str!("../ui/audit.js")),
    ("/ui/users.js", include_str!("../ui/users.js")),
];

/// Only this origin's own files and API; no inline script, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The UI file at `path` (`` for the page, `/ui/app.css`, `/ui/<name>.js`), if it is one.
pub fn asset(path: &str) -> Option<Resp> {
    let (body, kind) = match path {
        "" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/ui/app.css" => (CSS, "text/css; charset=utf-8"),
        _ => {
            let (_, js) = SCRIPTS.iter().find(|(p, _)| *p == path)?;
            (*js, "text/javascript; charset=utf-8")
        }
    };
    let mut r = text(StatusCode::OK, kind, body);
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_script_served_and_nothing_else() {
        let loaded: Vec<&str> = INDEX
            .split("<script src=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        let served: Vec<&str> = SCRIPTS.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            loaded, served,
            "index.html and SCRIPTS name the same files in the same order"
        );
        for p in served {
            assert!(asset(p).is_some(), "{p} is served");
        }
        assert!(asset("/ui/nothing.js").is_none());
    }
}
