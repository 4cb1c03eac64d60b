//! Connecting, the streams, and appending with JetStream's acknowledgement.

use crate::error::NatsError;
use crate::settings::NatsSettings;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use bytes::Bytes;
use std::time::Duration;

/// How long a publish acknowledgement, a stream or consumer request may take before the
/// operation counts as JetStream unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a whole append may take (its publishes, waiting for room among the
/// acknowledgements in flight, and the acknowledgements) before it is given up as unreachable
/// (the gateway's 503): never a wait without end.
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The room a probe wants in the events stream before it calls appends possible again.
const PROBE_ROOM: u64 = 4096;

/// How long a start waits for JetStream to be ready (a cluster electing its leaders).
pub(crate) const START_WAIT: Duration = Duration::from_secs(30);

/// Publish acknowledgements one connection may await at once (async-nats' default is 5,000):
/// room for about a hundred concurrent requests of 500 events.
const MAX_ACKS_IN_FLIGHT: usize = 50_000;

/// Acknowledgements one append awaits before it publishes more: it never holds more than this
/// much of the connection's room while it waits for some.
const ACK_WINDOW: usize = 256;

/// The log on JetStream: cheap to clone (the connection is shared).
#[derive(Clone)]
pub struct NatsLog {
    pub(crate) js: jetstream::Context,
    pub(crate) client: async_nats::Client,
    pub(crate) settings: std::sync::Arc<NatsSettings>,
    /// Set when an append failed, cleared when one succeeds or [`NatsLog::probe`] finds the
    /// events stream answering: readiness without waiting for traffic.
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
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
    /// Its sequence number in the events stream (a duplicate's is the original's).
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
        let js = jetstream::context::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .max_ack_inflight(MAX_ACKS_IN_FLIGHT)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let log = Self {
            js,
            client,
            settings: std::sync::Arc::new(settings),
            failing: std::sync::Arc::default(),
        };
        // A cluster starting with the nodes (no JetStream leader yet, a stream being made by
        // another node) answers late or "unavailable" for a while: waited for, up to 30 s.
        let start = std::time::Instant::now();
        loop {
            match log.ensure_streams().await {
                Ok(()) => return Ok(log),
                Err(e) if e.is_unavailable() && start.elapsed() < START_WAIT => {
                    tracing::warn!(error = %e, "JetStream not ready yet; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &NatsSettings {
        &self.settings
    }

    async fn ensure_streams(&self) -> Result<(), NatsError> {
        let s = &self.settings;
        // Events are kept while an integration's consumer has not acknowledged them (interest
        // retention: what every consumer acknowledged is deleted, as the local spool deletes
        // segments), up to `max_bytes`; past it a publish is refused (the gateway's 503), never
        // an event dropped.
        let events = stream::Config {
            name: s.events_stream.clone(),
            subjects: vec![
                format!("{}.events.>", s.prefix),
                format!("{}.replay.>", s.prefix),
            ],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Interest,
            discard: stream::DiscardPolicy::New,
            max_bytes: i64::try_from(s.max_bytes).unwrap_or(i64::MAX),
            num_replicas: s.replicas,
            duplicate_window: s.duplicate_window,
            ..Default::default()
        };
        // Dead letters remember their ids as long as the events do, so a letter written again
        // (a retried write, a record read twice) is kept once.
        let dead = stream::Config {
            name: s.dead_stream.clone(),
            subjects: vec![format!("{}.dead.>", s.prefix)],
            storage: stream::StorageType::File,
            num_replicas: s.replicas,
            duplicate_window: s.duplicate_window,
            allow_direct: true,
            // What the server reports for "no limit" (0 would differ from it at every start,
            // and each start would update the stream).
            max_bytes: -1,
            ..Default::default()
        };
        for config in [events, dead] {
            let name = config.name.clone();
            // What this stream asks the server to set aside (none for a stream without a cap).
            let sized = u64::try_from(config.max_bytes).unwrap_or(0);
            match self.js.get_stream(&name).await {
                Ok(mut existing) => {
                    let info = existing
                        .info()
                        .await
                        .map_err(|e| NatsError::unavailable("stream info", e))?;
                    let now = &info.config;
                    // Only what this node sets; an operator's other settings stay.
                    if now.num_replicas != config.num_replicas
                        || now.duplicate_window != config.duplicate_window
                        || now.subjects != config.subjects
                        || now.max_bytes != config.max_bytes
                        || now.allow_direct != config.allow_direct
                    {
                        let mut update = now.clone();
                        update.num_replicas = config.num_replicas;
                        update.duplicate_window = config.duplicate_window;
                        update.subjects = config.subjects;
                        update.max_bytes = config.max_bytes;
                        update.allow_direct = config.allow_direct;
                        self.js
                            .update_stream(update)
                            .await
                            .map_err(|e| stream_error("update stream", e, sized))?;
                    }
                }
                Err(e) => match e.kind() {
                    jetstream::context::GetStreamErrorKind::JetStream(j)
                        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                    {
                        self.js
                            .create_stream(config)
                            .await
                            .map_err(|e| stream_error("create stream", e, sized))?;
                    }
                    _ => return Err(NatsError::unavailable("stream", e)),
                },
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
        let done = tokio::time::timeout(APPEND_TIMEOUT, self.append_all(source, records))
            .await
            .unwrap_or_else(|_| {
                Err(NatsError::unavailable(
                    "append",
                    format!("not acknowledged within {} s", APPEND_TIMEOUT.as_secs()),
                ))
            });
        self.failing
            .store(done.is_err(), std::sync::atomic::Ordering::Relaxed);
        done
    }

    /// Whether appends are failing now: the last one failed, and neither a later one nor a
    /// [`NatsLog::probe`] has succeeded since (the connection may be up while the stream has
    /// no leader or is full).
    pub fn is_failing(&self) -> bool {
        self.failing.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks for the events stream's state; when it answers, appends are taken to work again
    /// (an idle node becomes ready without waiting for a request its balancer would not send).
    ///
    /// # Errors
    ///
    /// JetStream does not answer.
    pub async fn probe(&self) -> Result<(), NatsError> {
        let mut stream = self
            .js
            .get_stream(&self.settings.events_stream)
            .await
            .map_err(|e| NatsError::unavailable("probe", e))?;
        let info = stream
            .info()
            .await
            .map_err(|e| NatsError::unavailable("probe", e))?;
        // A full stream answers too, and still refuses appends: not ready until it has room
        // (a few KiB), or readiness would flap with every append and probe.
        let max = u64::try_from(info.config.max_bytes).unwrap_or(0);
        if max > 0 && info.state.bytes.saturating_add(PROBE_ROOM) > max {
            return Err(NatsError::unavailable(
                "probe",
                "the events stream is full (SIGNAL_SPOOL_MAX_BYTES): records wait for delivery",
            ));
        }
        self.failing
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// [`NatsLog::append`] without its time limit: publishes, awaiting the oldest
    /// acknowledgements whenever `ACK_WINDOW` are outstanding.
    async fn append_all(
        &self,
        source: &str,
        records: Vec<ToAppend>,
    ) -> Result<Vec<Appended>, NatsError> {
        let subject = self.settings.events_subject(source);
        let mut out = Vec::with_capacity(records.len());
        let mut acks = std::collections::VecDeque::with_capacity(ACK_WINDOW);
        for r in records {
            if acks.len() >= ACK_WINDOW
                && let Some(ack) = acks.pop_front()
            {
                out.push(self.acknowledged(ack).await?);
            }
            let mut msg = PublishMessage::build().payload(r.payload);
            if let Some(id) = &r.message_id {
                msg = msg.message_id(format!("{source}:{id}"));
            }
            let ack = self
                .js
                .send_publish(subject.clone(), msg)
                .await
                .map_err(publish_error)?;
            acks.push_back(ack);
        }
        for ack in acks {
            out.push(self.acknowledged(ack).await?);
        }
        Ok(out)
    }

    /// One acknowledgement, from the events stream.
    async fn acknowledged(
        &self,
        ack: jetstream::context::PublishAckFuture,
    ) -> Result<Appended, NatsError> {
        let ack = ack.await.map_err(publish_error)?;
        if ack.stream != self.settings.events_stream {
            return Err(NatsError::refused(
                "append",
                format!(
                    "stored in stream {}, not {}",
                    ack.stream, self.settings.events_stream
                ),
            ));
        }
        Ok(Appended {
            seq: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Whether the connection to the servers is up now (for readiness). It says nothing of
    /// JetStream itself (a stream without a leader); an append says that.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// A stream that could not be made or changed: unavailable (worth waiting for) when JetStream
/// did not answer or answered 503 (no leader yet), refused otherwise (a configuration it will
/// not take). One refusal gets its remedy spelled out: a server sets aside a stream's whole
/// `max_bytes` (the events stream's; the dead letters' has none) up front, and keeps at most its
/// `max_file_store` (by default three quarters of its disk's free space), so on a small disk
/// the default 10 GiB does not fit.
fn stream_error(
    what: &'static str,
    e: async_nats::jetstream::context::CreateStreamError,
    max_bytes: u64,
) -> NatsError {
    use async_nats::jetstream::context::CreateStreamErrorKind as K;
    match e.kind() {
        K::TimedOut | K::JetStreamUnavailable => NatsError::unavailable(what, e),
        K::JetStream(j) if j.code() == 503 => NatsError::unavailable(what, e),
        K::JetStream(j)
            if j.error_code() == jetstream::ErrorCode::STORAGE_RESOURCES_EXCEEDED
                && max_bytes > 0 =>
        {
            NatsError::refused(
                what,
                format_args!(
                    "{e}: the events stream asks the server to set aside {} MiB \
                     (SIGNAL_SPOOL_MAX_BYTES) and it has less room (its max_file_store, by \
                     default 3/4 of its free disk); lower SIGNAL_SPOOL_MAX_BYTES or give the \
                     server more",
                    max_bytes >> 20
                ),
            )
        }
        _ => NatsError::refused(what, e),
    }
}

/// Whatever keeps JetStream from storing the record now (no answer, no responders, no stream
/// leader, a full stream) is unavailable, the gateway's 503; only a record it will never take
/// (too large for the server) is refused.
fn publish_error(e: async_nats::jetstream::context::PublishError) -> NatsError {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => NatsError::refused("publish", e),
        _ => NatsError::unavailable("publish", e),
    }
}
