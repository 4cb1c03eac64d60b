//! The management UI: three static files compiled into the binary (no build step, nothing
//! fetched from elsewhere), served unauthenticated at the admin address's root. The page itself
//! asks for the admin token and sends it to the management API like any other client.

use crate::http::{Resp, text};
use hyper::StatusCode;
use hyper::header::HeaderValue;

const INDEX: &str = include_str!("../ui/index.html");
const CSS: &str = include_str!("../ui/app.css");
const JS: &str = include_str!("../ui/app.js");

/// Only this origin's own files and API; no inline script, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The UI file at `path` (`` for the page, `/ui/app.css`, `/ui/app.js`), if it is one.
pub fn asset(path: &str) -> Option<Resp> {
    let (body, kind) = match path {
        "" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/ui/app.css" => (CSS, "text/css; charset=utf-8"),
        "/ui/app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return None,
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
