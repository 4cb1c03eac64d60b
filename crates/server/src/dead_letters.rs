//! The management API's view of an integration's dead letters: pages read from disk on a
//! blocking thread (never under a lock delivery needs), each letter as JSON with the event as
//! spooled but without the `writeKey` a client may have put in its body, as live events show it.

use serde_json::{Value, json};
use signal_spool::{DeadLetter, DeadLetters, SpoolError};
use std::fmt;
use std::sync::Arc;

/// An integration's dead letters: in the local spool's files, or in JetStream's dead-letter
/// stream under the integration's subject.
#[derive(Clone)]
pub(crate) enum Letters {
    /// The local consumer's.
    Local(Arc<DeadLetters>),
    /// On JetStream.
    Nats {
        /// The log (boxed: it is much larger than a local handle).
        log: Box<signal_nats::NatsLog>,
        /// Whose.
        integration: Arc<str>,
    },
}

/// Why a dead-letter operation did not happen.
#[derive(Debug)]
pub(crate) enum DeadLetterError {
    /// The spool could not read or write them.
    Spool(SpoolError),
    /// JetStream could not.
    Nats(signal_nats::NatsError),
    /// The blocking task doing it did not finish (the node is stopping).
    Stopped,
}

impl fmt::Display for DeadLetterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spool(e) => e.fmt(f),
            Self::Nats(e) => e.fmt(f),
            Self::Stopped => f.write_str("the node is stopping"),
        }
    }
}

impl std::error::Error for DeadLetterError {}

/// Runs `f` on the store on a blocking thread: it reads or writes files.
async fn blocking<T: Send + 'static>(
    dead: Arc<DeadLetters>,
    f: impl FnOnce(&DeadLetters) -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, DeadLetterError> {
    tokio::task::spawn_blocking(move || f(&dead))
        .await
        .map_err(|_| DeadLetterError::Stopped)?
        .map_err(DeadLetterError::Spool)
}

/// A list page: `{"data", "next_cursor", "has_more"}`, `next_cursor` the last id of the page.
pub(crate) async fn page(
    dead: Letters,
    after: Option<u64>,
    limit: usize,
) -> Result<Value, DeadLetterError> {
    let page = match dead {
        Letters::Local(dead) => blocking(dead, move |d| d.page(after, limit)).await?,
        Letters::Nats { log, integration } => log
            .dead_letter_page(&integration, after, limit)
            .await
            .map_err(DeadLetterError::Nats)?,
    };
    Ok(json!({
        "data": page.letters.iter().map(letter_json).collect::<Vec<_>>(),
        "next_cursor": page.next.map(|id| id.to_string()),
        "has_more": page.next.is_some(),
    }))
}

/// Replays these dead letters (all when `None`); how many.
pub(crate) async fn replay(dead: Letters, ids: Option<Vec<u64>>) -> Result<usize, DeadLetterError> {
    match dead {
        Letters::Local(dead) => blocking(dead, move |d| d.replay(ids.as_deref())).await,
        Letters::Nats { log, integration } => log
            .replay(&integration, ids.as_deref())
            .await
            .map_err(DeadLetterError::Nats),
    }
}

/// Deletes every dead letter; how many.
pub(crate) async fn purge(dead: Letters) -> Result<usize, DeadLetterError> {
    match dead {
        Letters::Local(dead) => blocking(dead, |d| d.purge(None)).await,
        Letters::Nats { log, integration } => log
            .purge(&integration, None)
            .await
            .map_err(DeadLetterError::Nats),
    }
}

fn letter_json(d: &DeadLetter) -> Value {
    json!({
        "id": d.id.to_string(), "reason": d.info.reason, "status": d.info.status, "body": d.info.body,
        "attempts": d.info.attempts, "at_ms": d.at_ms, "event": without_write_key(&d.payload),
    })
}

/// The spooled record (`{"receivedAt","context","batch":[event]}`) as text, without a
/// `writeKey` in the record or its events. A record that is not JSON (never written by the
/// gateway) is shown as it is.
fn without_write_key(record: &[u8]) -> String {
    let Ok(mut v) = serde_json::from_slice::<Value>(signal_core::record::json(record)) else {
        return String::from_utf8_lossy(record).into_owned();
    };
    if let Some(o) = v.as_object_mut() {
        o.remove("writeKey");
        if let Some(Value::Array(batch)) = o.get_mut("batch") {
            for e in batch.iter_mut().filter_map(Value::as_object_mut) {
                e.remove("writeKey");
            }
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::without_write_key;
    use serde_json::{Value, json};

    #[test]
    fn the_event_is_shown_as_spooled_but_without_its_write_key() {
        let record = json!({"receivedAt": 1, "context": {"ip": "10.0.0.1"}, "writeKey": "top",
            "batch": [{"type": "track", "event": "E", "writeKey": "secret"}]});
        let shown = without_write_key(record.to_string().as_bytes());
        assert!(
            !shown.contains("secret") && !shown.contains("top"),
            "{shown}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&shown).ok(),
            Some(json!({"receivedAt": 1, "context": {"ip": "10.0.0.1"},
                "batch": [{"type": "track", "event": "E"}]}))
        );
        assert_eq!(without_write_key(b"not json"), "not json");
    }
}
