//! The engine: the shared HTTP client, and one task per installed integration.

use crate::client::{self, HttpClient};
use crate::config::ForwardConfig;
use crate::job::Job;
use crate::outcome::Outcome;
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
    /// An engine with a fresh connection pool.
    pub fn new() -> Self {
        Self {
            client: client::build(),
        }
    }

    /// Sends one Track body now, outside any queue or rate limit (the management API's test
    /// button); returns the vendor's status and body, or why no answer came.
    ///
    /// # Errors
    ///
    /// No answer within the timeout, or no connection.
    pub async fn send_test(
        &self,
        config: &ForwardConfig,
        body: bytes::Bytes,
    ) -> Result<(u16, bytes::Bytes), String> {
        let url = format!(
            "{}{}",
            config.base_url,
            crate::pendo_compat::track_path(config.blueprint)
        );
        let name = hyper::header::HeaderName::from_bytes(
            crate::pendo_compat::auth_header(config.blueprint).as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let value =
            hyper::header::HeaderValue::from_str(&config.auth).map_err(|e| e.to_string())?;
        client::post(&self.client, &url, (name, value), body, config.timeout)
            .await
            .map(|a| (a.status, a.body))
            .map_err(|e| format!("{}: {}", e.reason(), e.detail()))
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

    /// Queues one mapped event; false if the integration has stopped.
    pub fn deliver(&self, job: Job) -> bool {
        self.tx.send(Command::Deliver(job)).is_ok()
    }

    /// Applies a new configuration (a new key, region or rate); a paused integration resumes and
    /// sends what it held.
    pub fn update(&self, config: ForwardConfig) -> bool {
        self.tx.send(Command::Update(Box::new(config))).is_ok()
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
