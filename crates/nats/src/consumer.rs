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
        let consumer = stream
            .get_or_create_consumer(&name, config)
            .await
            .map_err(|e| NatsError::refused("consumer", e))?;
        Ok(NatsConsumer {
            consumer,
            prefix_replay: format!("{}.replay.", s.prefix),
        })
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
        let mut out = self.take(max, None).await?;
        if out.is_empty() {
            out = self.take(1, Some(wait)).await?;
            if !out.is_empty() && max > 1 {
                out.extend(self.take(max - 1, None).await?);
            }
        }
        Ok(out)
    }

    /// `max` records: those there now (`wait` None), or waiting up to `wait` for them.
    async fn take(&self, max: usize, wait: Option<Duration>) -> Result<Vec<Delivery>, NatsError> {
        let mut batch = match wait {
            None => self
                .consumer
                .fetch()
                .max_messages(max)
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
    /// Delivered (or kept as a dead letter): JetStream forgets it for this integration. Sent
    /// without waiting for the server's word (one round trip a record would halve delivery):
    /// an acknowledgement lost with its connection lets the record go to a node again after
    /// `ack_wait`, delivered twice, never lost.
    ///
    /// # Errors
    ///
    /// The connection is gone: the record goes to a node again after `ack_wait`.
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
