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

/// The most of a vendor's answer body kept: the rest is not read (the connection is dropped).
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

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

/// Reads at most `max` bytes of `body`. Past that, the rest is not read: dropping the body
/// closes its connection (it is not put back in the pool), so a vendor that answers without end
/// costs `max` bytes, not the whole answer.
async fn read_capped(mut body: hyper::body::Incoming, max: usize) -> Result<Bytes, NoAnswer> {
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| NoAnswer::Io(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            let room = max - kept.len();
            kept.extend_from_slice(&data[..data.len().min(room)]);
            if kept.len() == max {
                break;
            }
        }
    }
    Ok(Bytes::from(kept))
}

/// Sends one request and reads the answer (its first 64 KiB: `MAX_ANSWER_BYTES`), within
/// `timeout`.
///
/// # Cancel safety
///
/// Dropping the future abandons the request; the vendor may or may not have received it.
pub(crate) async fn send(
    client: &HttpClient,
    method: hyper::Method,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    timeout: Duration,
    retry_cap: Duration,
) -> Result<Answer, NoAnswer> {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let req = req
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
            retry_cap,
        );
        let body = read_capped(resp.into_body(), MAX_ANSWER_BYTES).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A vendor that answers 200 and then sends body bytes for ever (until the client hangs
    /// up); its URL, and how many bytes it got out.
    fn endless_vendor() -> (String, std::thread::JoinHandle<usize>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/data/track", l.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut head = [0u8; 4096];
            let _ = s.read(&mut head);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            let chunk = [b'a'; 16 * 1024];
            let mut sent = 0;
            // Stops when the client closes (a write fails), or after 1 GiB.
            while sent < 1 << 30 {
                if s.write_all(b"4000\r\n").is_err()
                    || s.write_all(&chunk).is_err()
                    || s.write_all(b"\r\n").is_err()
                {
                    break;
                }
                sent += chunk.len();
            }
            sent
        });
        (url, t)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_vendor_answer_is_kept_to_64_kib_and_an_endless_one_is_cut_off() {
        let (url, vendor) = endless_vendor();
        let client = build();
        let auth = (
            HeaderName::from_static("x-key"),
            HeaderValue::from_static("k"),
        );
        let answer = send(
            &client,
            hyper::Method::POST,
            &url,
            &[auth],
            Bytes::from_static(b"{}"),
            Duration::from_secs(20),
            Duration::from_secs(3600),
        )
        .await
        .expect("the status and the start of the body, not a timeout");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body.len(), MAX_ANSWER_BYTES);
        drop(client);
        let sent = tokio::task::spawn_blocking(move || vendor.join().unwrap())
            .await
            .unwrap();
        assert!(
            sent < 1 << 30,
            "the connection was dropped, not read to the end"
        );
    }
}
