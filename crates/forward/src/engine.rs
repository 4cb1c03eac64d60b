//! The engine: the shared HTTP client, and one task per installed integration.

use crate::client::{self, HttpClient};
use crate::config::ForwardConfig;
use crate::job::Job;
use crate::outcome::Outcome;
use crate::prepared::{Piece, Prepared};
use crate::worker::{Command, Worker};
use tokio::sync::{mpsc, oneshot};

/// Delivers for every installed integration over one HTTP client.
#[derive(Clone)]
pub struct Engine {
    client: HttpClient,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine with a fresh connection pool, speaking to vendors as today (`auto`).
    pub fn new() -> Self {
        Self::with_http(crate::VendorHttp::default())
    }

    /// An engine whose client speaks to vendors as `http` says (protocol, HTTP/2 connections
    /// and streams).
    pub fn with_http(http: crate::VendorHttp) -> Self {
        Self {
            client: client::build(http),
        }
    }

    /// Sends one item to target `request` now, outside any queue or rate limit (the
    /// management API's test button): the body is the item as that target sends one (in its
    /// envelope, with its auth). Returns the vendor's status and body.
    ///
    /// # Errors
    ///
    /// No such target, no answer within the timeout, or no connection.
    pub async fn send_test(
        &self,
        config: &ForwardConfig,
        request: usize,
        body: bytes::Bytes,
    ) -> Result<(u16, bytes::Bytes), SendError> {
        let target = Prepared::all(config)
            .into_iter()
            .nth(request)
            .ok_or(SendError::NoSuchRequest(request))?;
        let piece = Piece {
            bytes: body,
            jobs: Vec::new(),
            hold: None,
            first_at: std::time::Instant::now(),
        };
        let body = target.body(std::slice::from_ref(&piece));
        client::send(
            &self.client,
            target.method.clone(),
            &target.uri,
            &target.headers,
            body,
            config.timeout,
            config.retry.cap,
        )
        .await
        .map(|a| (a.status, a.body))
        .map_err(|e| SendError::NoAnswer {
            reason: e.reason(),
            detail: e.detail(),
        })
    }

    /// Starts delivering for one integration, on the current tokio runtime; its outcomes go to
    /// `outcomes`.
    pub fn start(
        &self,
        config: ForwardConfig,
        outcomes: mpsc::UnboundedSender<Outcome>,
    ) -> Integration {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = config.integration_id.clone();
        let worker = Worker::new(config, self.client.clone(), outcomes);
        tokio::spawn(worker.run(rx));
        Integration { id, tx }
    }
}

/// Why [`Engine::send_test`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The configuration has no target at this index.
    NoSuchRequest(usize),
    /// The vendor did not answer.
    NoAnswer {
        /// `timeout`, `connect_error`, `connection_error`.
        reason: &'static str,
        /// What happened.
        detail: String,
    },
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::NoSuchRequest(i) => write!(f, "no request target {i}"),
            SendError::NoAnswer { reason, detail } => write!(f, "{reason}: {detail}"),
        }
    }
}

impl std::error::Error for SendError {}

/// A running integration's handle.
#[derive(Clone)]
pub struct Integration {
    id: String,
    tx: mpsc::UnboundedSender<Command>,
}

impl Integration {
    /// The integration's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Queues one mapped item; false if the integration has stopped.
    pub fn deliver(&self, job: Job) -> bool {
        self.tx.send(Command::Deliver(job)).is_ok()
    }

    /// Applies a new configuration (a new key, region or rate); a paused integration resumes and
    /// sends what it held.
    pub fn update(&self, config: ForwardConfig) -> bool {
        self.tx.send(Command::Update(Box::new(config))).is_ok()
    }

    /// A new rate limit, requests a second, and nothing else: unlike [`Integration::update`],
    /// a paused integration stays paused (a cluster sharing the limit out again).
    pub fn set_rate(&self, rate_limit_per_second: u32) -> bool {
        self.tx.send(Command::Rate(rate_limit_per_second)).is_ok()
    }

    /// Stops the integration's task. Events not yet delivered stay in the spool, unacknowledged,
    /// and are delivered after the next start.
    pub async fn stop(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Command::Stop(ack)).is_ok() {
            let _ = done.await;
        }
    }
}
