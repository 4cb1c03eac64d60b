//! The HTTP client: one hyper-util client for the whole process, whose pool keeps connections
//! per host (so one pool per region host), alive between requests; rustls with the bundled
//! webpki roots for https, HTTP/2 when the server offers it through ALPN.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the process's client.
pub(crate) fn build() -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(https)
}

/// A vendor's answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub retry_after: Option<Duration>,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    /// Nothing within the timeout.
    Timeout,
    /// The connection could not be made.
    Connect(String),
    /// The connection failed during the exchange (reset, closed).
    Io(String),
}

impl NoAnswer {
    pub fn reason(&self) -> &'static str {
        match self {
            NoAnswer::Timeout => "timeout",
            NoAnswer::Connect(_) => "connect_error",
            NoAnswer::Io(_) => "connection_error",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            NoAnswer::Timeout => "no answer within the timeout".into(),
            NoAnswer::Connect(e) | NoAnswer::Io(e) => e.clone(),
        }
    }
}

/// Sends one POST and reads the whole answer, within `timeout`.
///
/// # Cancel safety
///
/// Dropping the future abandons the request; the vendor may or may not have received it.
pub(crate) async fn post(
    client: &HttpClient,
    url: &str,
    auth: (HeaderName, HeaderValue),
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, NoAnswer> {
    let req = Request::post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(auth.0, auth.1)
        .body(Full::new(body))
        .map_err(|e| NoAnswer::Connect(format!("bad request: {e}")))?;
    let exchange = async {
        let resp = client.request(req).await.map_err(|e| {
            if e.is_connect() {
                NoAnswer::Connect(e.to_string())
            } else {
                NoAnswer::Io(e.to_string())
            }
        })?;
        let status = resp.status().as_u16();
        let retry_after = crate::policy::retry_after(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| NoAnswer::Io(e.to_string()))?
            .to_bytes();
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(NoAnswer::Timeout))
}
