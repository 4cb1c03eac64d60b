//! The ingestion gateway's decisions as pure functions, with no socket and no shared state, so
//! that they can be fuzzed (`fuzz/fuzz_targets/gateway.rs`) and tested one by one:
//!
//! 1. [`route`]: the endpoint and method (404, 405, or a preflight);
//! 2. [`admit`]: the body's `Content-Encoding` undone under the size limit (415, 413, 400), the
//!    credentials (401), the source's allowed origins (403);
//! 3. [`build`] (in `records.rs`): parse and validate, one spool record per event, each with its source, the
//!    request's ip and (capped) User-Agent, and the batch's context; a record whose client bytes
//!    (event plus batch context) pass the event limit is rejected on its own, and a request
//!    whose records would pass [`MAX_REQUEST_RECORD_BYTES`] is a 413 before any is built;
//! 4. [`Built::check_fits`]: a request whose records the spool could never take in one append
//!    is a 413, not a 503 inviting a retry.
//!
//! Rate limiting, deduplication, identity links and the spool append are the caller's
//! (`ingest.rs`): they hold state.

pub use crate::auth::AuthError;
use crate::auth::authenticate;
use crate::cors;
use crate::encoding;
pub use crate::encoding::{Coding, DecodeError};
pub use crate::records::{
    Built, MAX_REQUEST_RECORD_BYTES, MAX_USER_AGENT_BYTES, OwnedLink, Prepared, RECORD_OVERHEAD,
    Rejected, build,
};
pub use crate::rejection::{Rejection, Request};
use hyper::Method;
use signal_core::limits::MAX_BODY_BYTES;
use signal_core::{EventType, Shape};
use signal_store::SourceRecord;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A CORS preflight.
    Preflight,
    /// An ingestion endpoint: what its body holds, and whether it needs an HMAC signature.
    Ingest {
        /// The body's expected shape.
        shape: Shape,
        /// `/v1/events` takes only signed requests.
        hmac_required: bool,
    },
}

/// The endpoint of `path` for `method`.
///
/// # Errors
///
/// [`Rejection::NotFound`], [`Rejection::MethodNotAllowed`].
pub fn route(method: &Method, path: &str) -> Result<Route, Rejection> {
    let t = |t| (Shape::Event(Some(t)), false);
    let (shape, hmac_required) = match path {
        "/v1/t" | "/v1/track" => t(EventType::Track),
        "/v1/p" | "/v1/page" => t(EventType::Page),
        "/v1/i" | "/v1/identify" => t(EventType::Identify),
        "/v1/g" | "/v1/group" => t(EventType::Group),
        "/v1/batch" => (Shape::Batch, false),
        "/v1/events" => (Shape::EventOrBatch, true),
        _ => return Err(Rejection::NotFound),
    };
    if method == Method::OPTIONS {
        Ok(Route::Preflight)
    } else if method == Method::POST {
        Ok(Route::Ingest {
            shape,
            hmac_required,
        })
    } else {
        Err(Rejection::MethodNotAllowed)
    }
}

/// A request whose credentials and origin are good.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The source it came from.
    pub source: SourceRecord,
    /// The body inflated, when it was sent compressed.
    pub inflated: Option<Vec<u8>>,
}

impl Admitted {
    /// The body to parse: the inflated one, else `wire` as it came.
    pub fn body<'a>(&'a self, wire: &'a [u8]) -> &'a [u8] {
        self.inflated.as_deref().unwrap_or(wire)
    }
}

/// Undoes the body's coding, authenticates, and checks the origin.
///
/// # Errors
///
/// [`Rejection::BodyTooLarge`], [`Rejection::Encoding`], [`Rejection::Unauthorized`],
/// [`Rejection::Origin`].
pub fn admit(
    req: &Request<'_>,
    sources: &[SourceRecord],
    hmac_required: bool,
) -> Result<Admitted, Rejection> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(Rejection::BodyTooLarge);
    }
    let coding = encoding::coding_of(req.headers).map_err(Rejection::Encoding)?;
    // A signature is over the body as sent: nothing is inflated for an unknown sender.
    let source = authenticate(sources, req.headers, req.body, hmac_required, req.now_ms)
        .map_err(Rejection::Unauthorized)?;
    let inflated =
        encoding::decode(coding, req.body, MAX_BODY_BYTES).map_err(Rejection::Encoding)?;
    if !cors::admits(source, req.headers) {
        return Err(Rejection::Origin);
    }
    Ok(Admitted {
        source: source.clone(),
        inflated,
    })
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
