//! Connecting, the streams, and appending with JetStream's acknowledgement.

use crate::error::NatsError;
use crate::settings::NatsSettings;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use bytes::Bytes;
use std::time::Duration;

/// How long a publish acknowledgement, a stream or consumer request may take before the
/// operation counts as JetStream unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The log on JetStream: cheap to clone (the connection is shared).
#[derive(Clone)]
pub struct NatsLog {
    pub(crate) js: jetstream::Context,
    pub(crate) client: async_nats::Client,
    pub(crate) settings: std::sync::Arc<NatsSettings>,
}

/// One record to append.
#[derive(Debug, Clone)]
pub struct ToAppend {
    /// Its messageId, if it has one: with the source, the stream's deduplication key.
    pub message_id: Option<String>,
    /// Its bytes (a spool record, as the local spool keeps it).
    pub payload: Bytes,
}

/// What JetStream said of one appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number in the events stream.
    pub seq: u64,
    /// The stream already held a record with the same source and messageId (within the
    /// duplicate window): acknowledged, not kept twice.
    pub duplicate: bool,
}

impl NatsLog {
    /// Connects and makes sure of the events and dead-letter streams (created when missing,
    /// their replicas and duplicate window set to `settings`' when they differ).
    ///
    /// # Errors
    ///
    /// No server answers within 5 s ([`NatsError::is_unavailable`]), the credentials file
    /// cannot be read, or JetStream refuses a stream.
    pub async fn connect(settings: NatsSettings) -> Result<Self, NatsError> {
        let options = match &settings.creds {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| NatsError::refused("credentials file", e))?,
            None => async_nats::ConnectOptions::new(),
        };
        let servers: Vec<async_nats::ServerAddr> = settings
            .servers
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| NatsError::refused("server address", e))?;
        let client = options
            .name("signal-edge")
            .connection_timeout(REQUEST_TIMEOUT)
            .request_timeout(Some(REQUEST_TIMEOUT))
            .connect(servers)
            .await
            .map_err(|e| NatsError::unavailable("connect", e))?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(REQUEST_TIMEOUT);
        let log = Self {
            js,
            client,
            settings: std::sync::Arc::new(settings),
        };
        log.ensure_streams().await?;
        Ok(log)
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &NatsSettings {
        &self.settings
    }

    async fn ensure_streams(&self) -> Result<(), NatsError> {
        let s = &self.settings;
        let events = stream::Config {
            name: s.events_stream.clone(),
            subjects: vec![
                format!("{}.events.>", s.prefix),
                format!("{}.replay.>", s.prefix),
            ],
            storage: stream::StorageType::File,
            num_replicas: s.replicas,
            duplicate_window: s.duplicate_window,
            ..Default::default()
        };
        let dead = stream::Config {
            name: s.dead_stream.clone(),
            subjects: vec![format!("{}.dead.>", s.prefix)],
            storage: stream::StorageType::File,
            num_replicas: s.replicas,
            allow_direct: true,
            ..Default::default()
        };
        for config in [events, dead] {
            let name = config.name.clone();
            match self.js.get_stream(&name).await {
                Ok(mut existing) => {
                    let info = existing
                        .info()
                        .await
                        .map_err(|e| NatsError::unavailable("stream info", e))?;
                    let now = &info.config;
                    if now.num_replicas != config.num_replicas
                        || now.duplicate_window != config.duplicate_window
                        || now.subjects != config.subjects
                    {
                        self.js
                            .update_stream(config)
                            .await
                            .map_err(|e| NatsError::refused("update stream", e))?;
                    }
                }
                Err(_) => {
                    self.js
                        .create_stream(config)
                        .await
                        .map_err(|e| NatsError::refused("create stream", e))?;
                }
            }
        }
        Ok(())
    }

    /// Appends `records` from `source`; resolves once JetStream has acknowledged every one
    /// (stored on the stream's replicas), so a caller may answer 200. Each is published with
    /// `Nats-Msg-Id` = `<source>:<messageId>` when it has an id.
    ///
    /// # Errors
    ///
    /// A publish or its acknowledgement failed or timed out: some records of the group may be
    /// stored, others not; the client is to send the group again (a record stored twice is
    /// dropped by the stream's deduplication when it has an id).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the records published so far to the stream; none is
    /// acknowledged to the caller.
    pub async fn append(
        &self,
        source: &str,
        records: Vec<ToAppend>,
    ) -> Result<Vec<Appended>, NatsError> {
        let subject = self.settings.events_subject(source);
        let mut acks = Vec::with_capacity(records.len());
        for r in records {
            let mut msg = PublishMessage::build().payload(r.payload);
            if let Some(id) = &r.message_id {
                msg = msg.message_id(format!("{source}:{id}"));
            }
            let ack = self
                .js
                .send_publish(subject.clone(), msg)
                .await
                .map_err(publish_error)?;
            acks.push(ack);
        }
        let mut out = Vec::with_capacity(acks.len());
        for ack in acks {
            let ack = ack.await.map_err(publish_error)?;
            out.push(Appended {
                seq: ack.sequence,
                duplicate: ack.duplicate,
            });
        }
        Ok(out)
    }

    /// Whether the connection is up now (for readiness).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

fn publish_error(e: async_nats::jetstream::context::PublishError) -> NatsError {
    match e.kind() {
        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
            NatsError::unavailable("publish", e)
        }
        _ => NatsError::refused("publish", e),
    }
}
