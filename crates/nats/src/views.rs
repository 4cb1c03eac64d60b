//! Core NATS (not JetStream: nothing here is kept) between the nodes of one log, so any node's
//! API shows the cluster: live events pushed to every node (`<prefix>.live`, each naming its
//! node and integration in headers), and questions every node answers
//! (`<prefix>.ask.<topic>`, answered on the asker's inbox) for what each node keeps in memory:
//! an integration's recent live events, its counters.
//!
//! Best effort by design: a node that does not answer in time is left out of the answer (the
//! caller says how many answered), and a live event published while the connection is down is
//! lost (the events themselves are in JetStream; live events are a view of them).

use crate::error::NatsError;
use crate::log::NatsLog;
use async_nats::{HeaderMap, Subject, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;

const NODE: &str = "Signal-Node";
const INTEGRATION: &str = "Signal-Integration";

/// A question from another node.
pub struct Question {
    /// What it asks (`<prefix>.ask.<topic>`).
    pub topic: String,
    /// The asking node.
    pub node: String,
    /// Its body (the asker's to define).
    pub body: Bytes,
    reply: Option<Subject>,
    client: async_nats::Client,
}

impl Question {
    /// Answers it (a question asked without an inbox needs no answer: done).
    ///
    /// # Errors
    ///
    /// The answer could not be sent.
    pub async fn answer(&self, body: Bytes) -> Result<(), NatsError> {
        let Some(reply) = &self.reply else {
            return Ok(());
        };
        self.client
            .publish(reply.clone(), body)
            .await
            .map_err(|e| NatsError::unavailable("answer", e))
    }
}

/// The questions asked of this node, as they come.
pub struct Questions {
    sub: Subscriber,
    client: async_nats::Client,
    prefix: String,
}

impl Questions {
    /// The next question; `None` once the connection is closed for good.
    pub async fn next(&mut self) -> Option<Question> {
        let m = self.sub.next().await?;
        Some(Question {
            topic: m
                .subject
                .strip_prefix(&self.prefix)
                .unwrap_or_default()
                .to_owned(),
            node: header(m.headers.as_ref(), NODE),
            body: m.payload,
            reply: m.reply,
            client: self.client.clone(),
        })
    }
}

/// A live event another node published.
pub struct LiveEvent {
    /// The node that delivered it.
    pub node: String,
    /// Its integration.
    pub integration: String,
    /// The live event, as JSON.
    pub json: Bytes,
}

/// The live events every node publishes, as they come.
pub struct LiveFeed {
    sub: Subscriber,
}

impl LiveFeed {
    /// The next one; `None` once the connection is closed for good.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        let m = self.sub.next().await?;
        Some(LiveEvent {
            node: header(m.headers.as_ref(), NODE),
            integration: header(m.headers.as_ref(), INTEGRATION),
            json: m.payload,
        })
    }
}

fn header(h: Option<&HeaderMap>, name: &str) -> String {
    h.and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

impl NatsLog {
    fn ask_prefix(&self) -> String {
        format!("{}.ask.", self.settings.prefix)
    }

    fn live_subject(&self) -> String {
        format!("{}.live", self.settings.prefix)
    }

    /// Every question asked of the nodes (this node's own included: tell them apart by
    /// [`Question::node`]).
    ///
    /// # Errors
    ///
    /// The subscription could not be made.
    pub async fn questions(&self) -> Result<Questions, NatsError> {
        let prefix = self.ask_prefix();
        let sub = self
            .client
            .subscribe(format!("{prefix}*"))
            .await
            .map_err(|e| NatsError::unavailable("subscribe", e))?;
        Ok(Questions {
            sub,
            client: self.client.clone(),
            prefix,
        })
    }

    /// Asks every node `topic` as `node`, and gathers the answers: until `answers` came or
    /// `wait` passed. `answers` 0: nothing is waited for (a notice).
    ///
    /// # Errors
    ///
    /// The question could not be sent.
    pub async fn ask(
        &self,
        node: &str,
        topic: &str,
        body: Bytes,
        answers: usize,
        wait: Duration,
    ) -> Result<Vec<Bytes>, NatsError> {
        let subject = format!("{}{topic}", self.ask_prefix());
        let mut headers = HeaderMap::new();
        headers.insert(NODE, node);
        if answers == 0 {
            return self
                .client
                .publish_with_headers(subject, headers, body)
                .await
                .map_err(|e| NatsError::unavailable("ask", e))
                .map(|()| Vec::new());
        }
        let inbox = self.client.new_inbox();
        let mut sub = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| NatsError::unavailable("subscribe", e))?;
        self.client
            .publish_with_reply_and_headers(subject, inbox, headers, body)
            .await
            .map_err(|e| NatsError::unavailable("ask", e))?;
        let mut got = Vec::with_capacity(answers);
        let gather = async {
            while got.len() < answers {
                match sub.next().await {
                    Some(m) => got.push(m.payload),
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(wait, gather).await;
        Ok(got)
    }

    /// The live events every node publishes (this node's own included: tell them apart by
    /// [`LiveEvent::node`]).
    ///
    /// # Errors
    ///
    /// The subscription could not be made.
    pub async fn live_feed(&self) -> Result<LiveFeed, NatsError> {
        let sub = self
            .client
            .subscribe(self.live_subject())
            .await
            .map_err(|e| NatsError::unavailable("subscribe", e))?;
        Ok(LiveFeed { sub })
    }

    /// Publishes a live event of `integration` from `node` to every node.
    ///
    /// # Errors
    ///
    /// It could not be sent (the connection's buffer is full or closed).
    pub async fn publish_live(
        &self,
        node: &str,
        integration: &str,
        json: Bytes,
    ) -> Result<(), NatsError> {
        let mut headers = HeaderMap::new();
        headers.insert(NODE, node);
        headers.insert(INTEGRATION, integration);
        self.client
            .publish_with_headers(self.live_subject(), headers, json)
            .await
            .map_err(|e| NatsError::unavailable("publish live event", e))
    }
}
