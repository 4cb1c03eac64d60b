//! One integration's reader: a durable pull consumer every node shares, so each record goes
//! to one node, with explicit acknowledgements.

use crate::error::NatsError;
use crate::log::NatsLog;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use bytes::Bytes;
use futures_util::StreamExt;
use signal_spool::Start;
use std::time::Duration;

/// The most records a node may hold read and unacknowledged for one integration, all nodes
/// together; past it JetStream hands out no more until some are acknowledged. Each node holds
/// at most 10,000 in delivery, so this leaves room for ten nodes.
const MAX_ACK_PENDING: i64 = 100_000;

/// The longest a read of what is there now waits for the server.
const FETCH_EXPIRY: Duration = Duration::from_millis(50);

/// One integration's consumer on this node.
pub struct NatsConsumer {
    consumer: jetstream::consumer::Consumer<pull::Config>,
    prefix_replay: String,
}

/// A record read, with what acknowledges it.
pub struct Delivery {
    /// Its sequence number in the events stream (a replayed dead letter's is the replay's).
    pub seq: u64,
    /// Its bytes.
    pub payload: Bytes,
    /// True when it is a replayed dead letter.
    pub replayed: bool,
    /// How many times JetStream has handed it out (1 the first time; more after a node died
    /// or let `ack_wait` pass without a word).
    pub deliveries: i64,
    message: jetstream::Message,
}

impl NatsLog {
    /// The consumer of `integration`, created the first time at `start` (the oldest record
    /// the stream holds, or only what arrives from now on, as the local spool's consumers);
    /// later, whichever node asks gets the same one.
    ///
    /// # Errors
    ///
    /// JetStream unreachable, or it refuses the consumer.
    pub async fn consumer(
        &self,
        integration: &str,
        start: Start,
    ) -> Result<NatsConsumer, NatsError> {
        let s = &self.settings;
        let name = s.consumer_name(integration);
        let replay = s.replay_subject(integration);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subjects: vec![format!("{}.events.>", s.prefix), replay.clone()],
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: s.ack_wait,
            max_ack_pending: MAX_ACK_PENDING,
            deliver_policy: match start {
                Start::Earliest => jetstream::consumer::DeliverPolicy::All,
                Start::Latest => jetstream::consumer::DeliverPolicy::New,
            },
            ..Default::default()
        };
        let stream = self
            .js
            .get_stream(&s.events_stream)
            .await
            .map_err(|e| NatsError::unavailable("events stream", e))?;
        let mut consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .get_or_create_consumer(&name, config.clone())
            .await
            .map_err(|e| NatsError::refused("consumer", e))?;
        // An existing consumer (another node made it, or this one before a restart with other
        // settings) keeps its position and start; what this node sets is brought in line.
        let now = &consumer.cached_info().config;
        if now.ack_wait != config.ack_wait
            || now.max_ack_pending != config.max_ack_pending
            || now.filter_subjects != config.filter_subjects
        {
            let mut update = config;
            update.deliver_policy = now.deliver_policy;
            consumer = stream
                .update_consumer(update)
                .await
                .map_err(|e| NatsError::refused("update consumer", e))?;
        }
        Ok(NatsConsumer {
            consumer,
            prefix_replay: format!("{}.replay.", s.prefix),
        })
    }
}

impl NatsLog {
    /// Deletes `integration`'s consumer (the integration was deleted): JetStream forgets its
    /// position. Its dead letters are purged by [`NatsLog::purge`]. A consumer that does not
    /// exist is not an error.
    ///
    /// # Errors
    ///
    /// JetStream unreachable.
    pub async fn remove_consumer(&self, integration: &str) -> Result<(), NatsError> {
        let s = &self.settings;
        let stream = self
            .js
            .get_stream(&s.events_stream)
            .await
            .map_err(|e| NatsError::unavailable("events stream", e))?;
        match stream.delete_consumer(&s.consumer_name(integration)).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(NatsError::unavailable("delete consumer", e)),
        }
    }
}

impl NatsConsumer {
    /// Up to `max` records not yet handed to any node: at once what is there, else waiting up
    /// to `wait` for the first.
    ///
    /// # Errors
    ///
    /// JetStream unreachable.
    ///
    /// # Cancel safety
    ///
    /// Records handed out to a dropped read go to a node again after `ack_wait`.
    pub async fn read(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, NatsError> {
        let wait = wait.max(Duration::from_millis(1));
        let mut out = self.take(max, None).await?;
        if out.is_empty() {
            out = self.take(1, Some(wait)).await?;
            if !out.is_empty() && max > 1 {
                out.extend(self.take(max - 1, None).await?);
            }
        }
        // A record handed out again within the same read (its ack wait passed while the read
        // was held) is one record.
        let mut seen = std::collections::HashSet::with_capacity(out.len());
        out.retain(|d| seen.insert(d.seq));
        Ok(out)
    }

    /// `max` records: those there now (`wait` None), or waiting up to `wait` for them.
    async fn take(&self, max: usize, wait: Option<Duration>) -> Result<Vec<Delivery>, NatsError> {
        let mut batch = match wait {
            // With an expiry, so a fetch the server holds (the consumer at its most pending
            // records) ends, rather than waiting to be filled with records handed out again.
            None => self
                .consumer
                .fetch()
                .max_messages(max)
                .expires(FETCH_EXPIRY)
                .messages()
                .await
                .map_err(|e| NatsError::unavailable("fetch", e))?,
            Some(wait) => self
                .consumer
                .batch()
                .max_messages(max)
                .expires(wait)
                .messages()
                .await
                .map_err(|e| NatsError::unavailable("fetch", e))?,
        };
        let mut out = Vec::new();
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| NatsError::unavailable("fetch", e))?;
            let (seq, deliveries) = match message.info() {
                Ok(i) => (i.stream_sequence, i.delivered),
                Err(e) => return Err(NatsError::refused("message info", e)),
            };
            out.push(Delivery {
                seq,
                payload: message.payload.clone(),
                replayed: message.subject.starts_with(self.prefix_replay.as_str()),
                deliveries,
                message,
            });
        }
        Ok(out)
    }
}

impl Delivery {
    /// Delivered (or kept as a dead letter): JetStream forgets it for this integration. Queued
    /// on the connection without waiting for the server's word (one round trip a record would
    /// halve delivery): an acknowledgement lost with its connection, or arriving after the
    /// ack wait, lets the record go to a node again, delivered twice, never lost.
    ///
    /// # Errors
    ///
    /// The acknowledgement could not be queued.
    pub async fn ack(&self) -> Result<(), NatsError> {
        self.message
            .ack()
            .await
            .map_err(|e| NatsError::unavailable("ack", e))
    }

    /// Still being worked on (waiting on a retry or a pause): `ack_wait` starts again, so the
    /// record is not handed to another node meanwhile (`+WPI`).
    ///
    /// # Errors
    ///
    /// JetStream unreachable.
    pub async fn in_progress(&self) -> Result<(), NatsError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| NatsError::unavailable("in progress", e))
    }

    /// Not taken here (the node is stopping): handed to a node again, after `delay` if given.
    ///
    /// # Errors
    ///
    /// JetStream unreachable: the record goes to a node again after `ack_wait` all the same.
    pub async fn hand_back(&self, delay: Option<Duration>) -> Result<(), NatsError> {
        self.message
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|e| NatsError::unavailable("hand back", e))
    }
}
