//! Dead letters on JetStream: their own stream (`SIGNAL_DEAD`), one subject per integration,
//! each letter the record with why it was given up on. Listed a page at a time (direct gets,
//! by sequence), replayed into the events stream under a subject only that integration's
//! consumer reads, and purged.
//!
//! A letter's message: headers `Signal-Seq` (the record's sequence in the events stream),
//! `Signal-Reason`, `Signal-Status`, `Signal-Attempts`; payload the record's length (4 bytes,
//! big-endian), the record, then the vendor's last answer (its body, or why none came).
//! Its id in the API is its sequence in the dead-letter stream.

use crate::error::NatsError;
use crate::log::NatsLog;
use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use bytes::{BufMut, Bytes, BytesMut};
use signal_spool::{DeadLetter, DeadLetterInfo, DeadLetterPage};

const SEQ: &str = "Signal-Seq";
const REASON: &str = "Signal-Reason";
const STATUS: &str = "Signal-Status";
const ATTEMPTS: &str = "Signal-Attempts";

/// A header value: one line, at most 1 KiB (a reason is kept up to 1 KiB anyway).
fn header_value(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut end = one_line.len().min(1024);
    while !one_line.is_char_boundary(end) {
        end -= 1;
    }
    one_line[..end].to_owned()
}

impl NatsLog {
    /// Keeps `payload` (the record `seq` of the events stream) as one of `integration`'s dead
    /// letters; resolves once JetStream has stored it. A second call for the same record is
    /// dropped by the stream (its message id), so a retried write is not kept twice.
    ///
    /// # Errors
    ///
    /// JetStream unreachable or refusing: the record is not yet a dead letter (do not
    /// acknowledge it).
    pub async fn dead_letter(
        &self,
        integration: &str,
        seq: u64,
        payload: &[u8],
        info: &DeadLetterInfo,
    ) -> Result<(), NatsError> {
        let mut headers = HeaderMap::new();
        headers.insert(SEQ, seq.to_string().as_str());
        headers.insert(REASON, header_value(&info.reason).as_str());
        if let Some(status) = info.status {
            headers.insert(STATUS, status.to_string().as_str());
        }
        headers.insert(ATTEMPTS, info.attempts.to_string().as_str());
        let len = u32::try_from(payload.len())
            .map_err(|_| NatsError::refused("dead letter", "record larger than 4 GiB"))?;
        let mut body = BytesMut::with_capacity(4 + payload.len() + info.body.len());
        body.put_u32(len);
        body.put_slice(payload);
        body.put_slice(info.body.as_bytes());
        let mut msg = PublishMessage::build()
            .payload(body.freeze())
            .message_id(format!("dead:{integration}:{seq}"));
        for (name, values) in headers.iter() {
            for v in values {
                msg = msg.header(name.clone(), v.clone());
            }
        }
        self.js
            .send_publish(self.settings.dead_subject(integration), msg)
            .await
            .map_err(|e| NatsError::unavailable("dead letter", e))?
            .await
            .map_err(|e| NatsError::unavailable("dead letter", e))?;
        Ok(())
    }

    async fn dead_stream(&self) -> Result<async_nats::jetstream::stream::Stream, NatsError> {
        self.js
            .get_stream(&self.settings.dead_stream)
            .await
            .map_err(|e| NatsError::unavailable("dead-letter stream", e))
    }

    /// Up to `limit` of `integration`'s dead letters with ids after `after`, oldest first.
    ///
    /// # Errors
    ///
    /// JetStream unreachable.
    pub async fn dead_letter_page(
        &self,
        integration: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<DeadLetterPage, NatsError> {
        let limit = limit.max(1);
        let stream = self.dead_stream().await?;
        let subject = self.settings.dead_subject(integration);
        let mut from = after.map_or(1, |a| a + 1);
        let mut letters = Vec::new();
        while letters.len() <= limit {
            let msg = match stream
                .direct_get_next_for_subject(subject.clone(), Some(from))
                .await
            {
                Ok(m) => m,
                Err(e)
                    if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound =>
                {
                    break;
                }
                Err(e) => return Err(NatsError::unavailable("dead letters", e)),
            };
            from = msg.sequence + 1;
            letters.push(letter(&msg));
        }
        let next = if letters.len() > limit {
            letters.truncate(limit);
            letters.last().map(|l| l.id)
        } else {
            None
        };
        Ok(DeadLetterPage { letters, next })
    }

    /// Sends `integration`'s dead letters (all, or these ids) to it again: each goes back into
    /// the events stream under the integration's replay subject (no other integration reads
    /// it), then leaves the dead letters. How many were replayed.
    ///
    /// # Errors
    ///
    /// JetStream unreachable: those replayed so far are replayed, the rest stay.
    pub async fn replay(&self, integration: &str, ids: Option<&[u64]>) -> Result<usize, NatsError> {
        let stream = self.dead_stream().await?;
        let letters = self.chosen(integration, ids).await?;
        let subject = self.settings.replay_subject(integration);
        for l in &letters {
            // With the letter's time in the id: a dead-letter stream made anew numbers its
            // letters from 1 again, and a replay must not be taken for an earlier one's.
            let msg = PublishMessage::build()
                .payload(Bytes::copy_from_slice(&l.payload))
                .message_id(format!("replay:{integration}:{}:{}", l.id, l.at_ms));
            self.js
                .send_publish(subject.clone(), msg)
                .await
                .map_err(|e| NatsError::unavailable("replay", e))?
                .await
                .map_err(|e| NatsError::unavailable("replay", e))?;
            delete(&stream, l.id).await?;
        }
        Ok(letters.len())
    }

    /// Deletes `integration`'s dead letters (all, or these ids); how many.
    ///
    /// # Errors
    ///
    /// JetStream unreachable.
    pub async fn purge(&self, integration: &str, ids: Option<&[u64]>) -> Result<usize, NatsError> {
        let stream = self.dead_stream().await?;
        let Some(ids) = ids else {
            let purged = stream
                .purge()
                .filter(self.settings.dead_subject(integration))
                .await
                .map_err(|e| NatsError::unavailable("purge", e))?;
            return Ok(usize::try_from(purged.purged).unwrap_or(usize::MAX));
        };
        let letters = self.chosen(integration, Some(ids)).await?;
        for l in &letters {
            delete(&stream, l.id).await?;
        }
        Ok(letters.len())
    }

    /// The dead letters of `integration` among `ids` (all when `None`): each id read by its
    /// sequence, not by a walk through every letter.
    async fn chosen(
        &self,
        integration: &str,
        ids: Option<&[u64]>,
    ) -> Result<Vec<DeadLetter>, NatsError> {
        if let Some(ids) = ids {
            let stream = self.dead_stream().await?;
            let subject = self.settings.dead_subject(integration);
            let mut out = Vec::new();
            for &id in ids {
                match stream.direct_get(id).await {
                    Ok(m) if m.subject.as_str() == subject => out.push(letter(&m)),
                    Ok(_) => {}
                    Err(e)
                        if e.kind()
                            == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => {}
                    Err(e) => return Err(NatsError::unavailable("dead letters", e)),
                }
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.dead_letter_page(integration, after, 500).await?;
            out.extend(
                page.letters
                    .into_iter()
                    .filter(|l| ids.is_none_or(|ids| ids.contains(&l.id))),
            );
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }
}

/// Deletes letter `id`; one already gone (another node replayed or purged it) is done.
async fn delete(stream: &async_nats::jetstream::stream::Stream, id: u64) -> Result<(), NatsError> {
    use async_nats::jetstream::stream::DeleteMessageErrorKind;
    match stream.delete_message(id).await {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            DeleteMessageErrorKind::JetStream(j)
                if j.error_code() == async_nats::jetstream::ErrorCode::NO_MESSAGE_FOUND
                    || j.error_code()
                        == async_nats::jetstream::ErrorCode::STREAM_MESSAGE_DELETE_FAILED =>
            {
                Ok(())
            }
            _ => Err(NatsError::unavailable("delete dead letter", e)),
        },
    }
}

/// A dead letter from its message (a damaged one keeps what can be read).
fn letter(msg: &async_nats::jetstream::message::StreamMessage) -> DeadLetter {
    let h = |name: &str| msg.headers.get(name).map(|v| v.as_str().to_owned());
    let p = &msg.payload;
    let len = p
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_be_bytes(b) as usize);
    let record = p.get(4..4 + len).unwrap_or_default();
    let body = p.get(4 + len..).unwrap_or_default();
    DeadLetter {
        id: msg.sequence,
        payload: record.to_vec(),
        info: DeadLetterInfo {
            reason: h(REASON).unwrap_or_default(),
            status: h(STATUS).and_then(|s| s.parse().ok()),
            body: String::from_utf8_lossy(body).into_owned(),
            attempts: h(ATTEMPTS).and_then(|s| s.parse().ok()).unwrap_or(0),
        },
        at_ms: u64::try_from(msg.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
    }
}
