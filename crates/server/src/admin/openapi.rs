//! `GET /v1/admin/openapi.json`: the OpenAPI 3.1 document of the management API, compiled into
//! the binary from `openapi.json` beside this file.

use crate::http::{Resp, text};
use hyper::StatusCode;

const DOCUMENT: &str = include_str!("openapi.json");

/// The document, as JSON.
pub(super) fn document() -> Resp {
    text(StatusCode::OK, "application/json", DOCUMENT)
}
