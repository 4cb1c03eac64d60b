//! The HTTP client: one for the whole process ([`HttpClient`]), built from the node's
//! [`VendorHttp`] setting, rustls with the bundled webpki roots for https.
//!
//! - `auto` (today's): one hyper-util client whose pool keeps connections per host (so one pool
//!   per region host), alive between requests; HTTP/2 when an https server offers it through
//!   ALPN, else HTTP/1.1.
//! - `h1`: the same, HTTP/1.1 only.
//! - `h2c`: HTTP/2 only (prior knowledge on http, ALPN on https). hyper-util's pool keeps ONE
//!   HTTP/2 connection per host and client, so `h2_connections` clients are kept and requests
//!   go to them in turn; a semaphore per client and host holds the requests in flight on that
//!   connection (request sent to answer read) to `h2_streams`, so a slow vendor's requests
//!   never hold another vendor's back.

use crate::config::{VendorHttp, VendorProtocol};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The most of a vendor's answer body kept: the rest is not read (the connection is dropped).
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

type Inner = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The process's client: one or more hyper-util clients, each with its bound on requests in
/// flight (`h2c` only); cheap to clone.
#[derive(Clone)]
pub(crate) struct HttpClient {
    lanes: Arc<[Lane]>,
    next: Arc<AtomicUsize>,
}

/// One hyper-util client (one HTTP/2 connection per host under `h2c`).
struct Lane {
    client: Inner,
    /// `h2c`: the streams of each host's connection (hosts come from the configured vendors'
    /// URLs, so the map stays small).
    streams: Option<Streams>,
}

/// Per host (`authority`), a semaphore of `per_host` requests in flight.
struct Streams {
    per_host: usize,
    hosts: std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>,
}

impl Streams {
    fn of(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self
            .hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hosts
            .entry(host.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }
}

impl HttpClient {
    /// The next lane, in turn.
    fn lane(&self) -> &Lane {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        &self.lanes[i]
    }
}

fn connector(protocol: VendorProtocol) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http();
    match protocol {
        VendorProtocol::Auto => https.enable_all_versions().wrap_connector(http),
        VendorProtocol::Http1 => https.enable_http1().wrap_connector(http),
        VendorProtocol::H2c => https.enable_http2().wrap_connector(http),
    }
}

/// Builds the process's client.
pub(crate) fn build(settings: VendorHttp) -> HttpClient {
    let lane = || {
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256);
        if settings.protocol == VendorProtocol::H2c {
            builder.http2_only(true);
        }
        Lane {
            client: builder.build(connector(settings.protocol)),
            streams: (settings.protocol == VendorProtocol::H2c).then(|| Streams {
                per_host: settings.h2_streams.max(1),
                hosts: Default::default(),
            }),
        }
    };
    let lanes = match settings.protocol {
        VendorProtocol::H2c => settings.h2_connections.max(1),
        VendorProtocol::Auto | VendorProtocol::Http1 => 1,
    };
    HttpClient {
        lanes: (0..lanes).map(|_| lane()).collect(),
        next: Arc::new(AtomicUsize::new(0)),
    }
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
    uri: &Result<hyper::Uri, Arc<str>>,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    timeout: Duration,
    retry_cap: Duration,
) -> Result<Answer, NoAnswer> {
    tokio::time::timeout(
        timeout,
        exchange(client, method, uri, headers, body, retry_cap),
    )
    .await
    .unwrap_or(Err(NoAnswer::Timeout))
}

/// [`send`] without a timeout: the caller cuts it off (the worker, by its own timer).
///
/// # Cancel safety
///
/// As [`send`]'s.
pub(crate) async fn exchange(
    client: &HttpClient,
    method: hyper::Method,
    uri: &Result<hyper::Uri, Arc<str>>,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    retry_cap: Duration,
) -> Result<Answer, NoAnswer> {
    let uri = uri.clone().map_err(|e| NoAnswer::Connect(e.to_string()))?;
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.reserve(headers.len() + 1);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        h.append(name.clone(), value.clone());
    }
    let lane = client.lane();
    let streams = lane.streams.as_ref().map(|s| {
        s.of(req
            .uri()
            .authority()
            .map_or("", hyper::http::uri::Authority::as_str))
    });
    // Held until the answer is read: the stream is open until then.
    let _stream = match &streams {
        Some(streams) => Some(
            streams
                .acquire()
                .await
                .map_err(|e| NoAnswer::Io(e.to_string()))?,
        ),
        None => None,
    };
    let resp = lane.client.request(req).await.map_err(|e| {
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
        let client = build(VendorHttp::default());
        let auth = (
            HeaderName::from_static("x-key"),
            HeaderValue::from_static("k"),
        );
        let answer = send(
            &client,
            hyper::Method::POST,
            &url.parse().map_err(|_| Arc::from("")),
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

    /// A vendor on 127.0.0.1 speaking only HTTP/2 with prior knowledge (`h2`) or only HTTP/1.1:
    /// it answers `200 {}` after `hold`. Its URL, the connections it accepted, and the most
    /// requests it had under way at once.
    async fn vendor(h2: bool, hold: Duration) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        use hyper_util::rt::TokioIo;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/data/track", l.local_addr().unwrap());
        let conns = Arc::new(AtomicUsize::new(0));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (c, m) = (conns.clone(), most.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = l.accept().await.unwrap();
                c.fetch_add(1, Ordering::SeqCst);
                let (now, most) = (now.clone(), m.clone());
                let service = hyper::service::service_fn(move |_req| {
                    let (now, most) = (now.clone(), most.clone());
                    async move {
                        most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        tokio::time::sleep(hold).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"{}"),
                        )))
                    }
                });
                let io = TokioIo::new(stream);
                tokio::spawn(async move {
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        (url, conns, most)
    }

    async fn post(client: &HttpClient, url: &str) -> Result<Answer, NoAnswer> {
        send(
            client,
            hyper::Method::POST,
            &url.parse().map_err(|_| Arc::from("")),
            &[],
            Bytes::from_static(b"{}"),
            Duration::from_secs(20),
            Duration::from_secs(3600),
        )
        .await
    }

    fn h2c(connections: usize, streams: usize) -> VendorHttp {
        VendorHttp {
            protocol: VendorProtocol::H2c,
            h2_connections: connections,
            h2_streams: streams,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn h2c_delivers_to_a_vendor_speaking_only_http2_over_the_set_connections() {
        let (url, conns, _) = vendor(true, Duration::ZERO).await;
        let client = build(h2c(2, 100));
        let answers = futures_join((0..8).map(|_| {
            let (client, url) = (client.clone(), url.clone());
            async move { post(&client, &url).await }
        }))
        .await;
        for a in answers {
            let a = a.expect("an answer over HTTP/2");
            assert_eq!((a.status, &a.body[..]), (200, &b"{}"[..]));
        }
        assert_eq!(conns.load(Ordering::SeqCst), 2, "one connection per lane");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn h2c_holds_each_connection_to_its_streams() {
        let (url, conns, most) = vendor(true, Duration::from_millis(50)).await;
        let client = build(h2c(1, 2));
        let answers = futures_join((0..6).map(|_| {
            let (client, url) = (client.clone(), url.clone());
            async move { post(&client, &url).await }
        }))
        .await;
        assert!(
            answers
                .iter()
                .all(|a| a.as_ref().is_ok_and(|a| a.status == 200))
        );
        assert_eq!(conns.load(Ordering::SeqCst), 1);
        assert!(
            most.load(Ordering::SeqCst) <= 2,
            "at most 2 streams at once"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_h2c_a_slow_vendor_does_not_hold_another_vendors_requests_back() {
        let (slow, _, _) = vendor(true, Duration::from_secs(5)).await;
        let (quick, _, _) = vendor(true, Duration::ZERO).await;
        let client = build(h2c(1, 2));
        // The slow vendor holds both of its streams...
        let held: Vec<_> = (0..2)
            .map(|_| {
                let (client, slow) = (client.clone(), slow.clone());
                tokio::spawn(async move { post(&client, &slow).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // ...and the quick one answers within a second all the same.
        let answer = send(
            &client,
            hyper::Method::POST,
            &quick.parse().map_err(|_| Arc::from("")),
            &[],
            Bytes::from_static(b"{}"),
            Duration::from_secs(1),
            Duration::from_secs(3600),
        )
        .await
        .expect("the quick vendor answers while the slow one holds its streams");
        assert_eq!(answer.status, 200);
        for h in held {
            h.abort();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn h2c_asked_of_an_http1_only_vendor_is_a_connection_error_not_a_silent_wait() {
        let (url, _, _) = vendor(false, Duration::ZERO).await;
        let err = post(&build(h2c(1, 100)), &url)
            .await
            .expect_err("an HTTP/1.1-only vendor does not answer HTTP/2");
        assert_ne!(err, NoAnswer::Timeout, "it fails at once: {}", err.detail());
        assert_eq!(err.reason(), "connection_error", "{}", err.detail());
        // The same vendor is reached over HTTP/1.1.
        let a = post(&build(VendorHttp::default()), &url).await.expect("h1");
        assert_eq!(a.status, 200);
    }

    /// Runs the futures at once (each on its own task), their results in order.
    async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tasks: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}
