//! What every node of one log shares besides the events, in JetStream key-value buckets:
//! the management API's records (integrations, sources), the identity links the gateways
//! make, and the nodes alive now.
//!
//! A [`Bucket`] is a thin, typed face of an `async-nats` key-value store: values are bytes
//! (the server's records, as JSON; this crate knows no record type), keys are made of ids
//! with [`key`]. [`Bucket::follow`] gives what the bucket holds now and then every change
//! after it, in the bucket's order, so a node that applies both in order ends where the
//! bucket is. The node heartbeats ([`Bucket::live_keys`]) live in a bucket whose entries
//! expire: a node that stops renewing its key drops out of the count by itself.

use crate::error::NatsError;
use crate::log::NatsLog;
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a node's heartbeat lasts without being renewed.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(6);

/// How long [`Bucket::follow`] waits for what the bucket holds before giving up.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared buckets of one log.
#[derive(Clone)]
pub struct Buckets {
    /// Installed integrations, by id.
    pub integrations: Bucket,
    /// Sources, by id.
    pub sources: Bucket,
    /// Identity links, by table and id ([`link_key`]).
    pub links: Bucket,
    /// The nodes alive, by node id, each entry expiring after [`HEARTBEAT_TTL`].
    pub nodes: Bucket,
}

/// One key-value bucket.
#[derive(Clone)]
pub struct Bucket {
    kv: kv::Store,
    js: async_nats::jetstream::Context,
}

/// A change of one key: its new value, or `None` once deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The key ([`key`]'s form).
    pub key: String,
    /// The value put, or `None` for a delete or purge.
    pub value: Option<Bytes>,
    /// Its place in the bucket's order.
    pub revision: u64,
}

/// What [`Bucket::follow`] found: the bucket's keys and values, the revision that is as of
/// (0: the bucket held nothing, never written or purged), and the changes after it.
pub struct Loaded {
    /// Key -> value, deleted keys left out.
    pub now: BTreeMap<String, Bytes>,
    /// The bucket's last revision when it was read; 0 when it held nothing.
    pub revision: u64,
    /// The changes after.
    pub changes: Changes,
}

/// The changes after a [`Bucket::follow`]'s load, in order; ends when the client is dropped.
pub struct Changes {
    watch: kv::Watch,
}

impl Changes {
    /// The next change.
    ///
    /// # Errors
    ///
    /// The watch failed (the server answered something it should not); the caller follows
    /// again.
    pub async fn next(&mut self) -> Option<Result<Change, NatsError>> {
        let entry = self.watch.next().await?;
        Some(
            entry
                .map(change)
                .map_err(|e| NatsError::unavailable("watch", e)),
        )
    }
}

fn change(e: kv::Entry) -> Change {
    let value = match e.operation {
        kv::Operation::Put => Some(e.value),
        kv::Operation::Delete | kv::Operation::Purge => None,
    };
    Change {
        key: e.key,
        value,
        revision: e.revision,
    }
}

/// `id` as one key-value key token: what a key cannot hold (anything outside ASCII letters,
/// digits, `-` and `_`) as `=XX` hex; never empty.
pub fn key(id: &str) -> String {
    crate::settings::escaped(id, '=')
}

/// The key of an identity link: its table (`0` anonymousId -> userId, `1` userId ->
/// accountId, `2` userId -> groupId) and its id.
pub fn link_key(table: usize, id: &str) -> String {
    format!("t{table}.{}", key(id))
}

/// The table and id of a link key ([`link_key`]'s inverse), `None` when it is not one.
pub fn parse_link_key(k: &str) -> Option<(usize, String)> {
    let (table, id) = k.strip_prefix('t')?.split_once('.')?;
    Some((table.parse().ok()?, id_of(id)?))
}

/// The id a key was made from ([`key`]'s inverse), `None` when it is not one of its keys.
pub fn id_of(id: &str) -> Option<String> {
    let mut out = Vec::with_capacity(id.len());
    let mut bytes = id.bytes();
    while let Some(b) = bytes.next() {
        if b == b'=' {
            let (Some(h), Some(l)) = (bytes.next(), bytes.next()) else {
                // The empty id's lone `=`.
                return (id == "=").then(String::new);
            };
            let hex = [h, l];
            let s = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

impl NatsLog {
    /// The shared buckets, made when missing (with the log's replicas), brought in line when
    /// their settings differ.
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached, or refuses a bucket.
    pub async fn buckets(&self) -> Result<Buckets, NatsError> {
        let replicas = self.settings.replicas;
        let make = |name: &str, history: i64, max_age: Duration| kv::Config {
            bucket: format!("{}_{name}", self.settings.prefix),
            history,
            max_age,
            storage: async_nats::jetstream::stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        };
        let mut made = Vec::new();
        for config in [
            make("integrations", 1, Duration::ZERO),
            make("sources", 1, Duration::ZERO),
            make("links", 1, Duration::ZERO),
            make("nodes", 1, HEARTBEAT_TTL),
        ] {
            let kv = self.bucket(config).await?;
            made.push(Bucket {
                kv,
                js: self.js.clone(),
            });
        }
        let mut made = made.into_iter();
        match (made.next(), made.next(), made.next(), made.next()) {
            (Some(integrations), Some(sources), Some(links), Some(nodes)) => Ok(Buckets {
                integrations,
                sources,
                links,
                nodes,
            }),
            _ => Err(NatsError::refused("key-value bucket", "not made")),
        }
    }
}

impl NatsLog {
    /// The bucket of `config`, made or brought in line; a cluster still electing its leaders
    /// is waited for (up to 30 s, as the streams at connect).
    async fn bucket(&self, config: kv::Config) -> Result<kv::Store, NatsError> {
        let start = std::time::Instant::now();
        loop {
            match self.js.create_or_update_key_value(config.clone()).await {
                Ok(kv) => return Ok(kv),
                Err(e) if start.elapsed() < crate::log::START_WAIT => {
                    tracing::warn!(error = %e, bucket = %config.bucket, "JetStream not ready for the bucket yet; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(NatsError::unavailable("key-value bucket", e)),
            }
        }
    }
}

impl Bucket {
    /// Puts `value` under `key`; resolves once JetStream stored it. Its revision.
    ///
    /// # Errors
    ///
    /// Not stored (JetStream unreachable or refusing).
    pub async fn put(&self, key: &str, value: Bytes) -> Result<u64, NatsError> {
        self.kv
            .put(key, value)
            .await
            .map_err(|e| NatsError::unavailable("key-value put", e))
    }

    /// Puts every pair, published together; resolves once JetStream stored them all.
    ///
    /// # Errors
    ///
    /// One was not stored (others may be).
    pub async fn put_all(&self, pairs: Vec<(String, Bytes)>) -> Result<(), NatsError> {
        let prefix = self.kv.put_prefix.as_ref().unwrap_or(&self.kv.prefix);
        let mut acks = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let subject = format!("{prefix}{k}");
            let ack = self
                .js
                .publish(subject, v)
                .await
                .map_err(|e| NatsError::unavailable("key-value put", e))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await
                .map_err(|e| NatsError::unavailable("key-value put", e))?;
        }
        Ok(())
    }

    /// `key`'s value and its revision, `None` when it has none (never put, or deleted).
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached.
    pub async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, NatsError> {
        let e = self
            .kv
            .entry(key)
            .await
            .map_err(|e| NatsError::unavailable("key-value get", e))?;
        Ok(e.filter(|e| e.operation == kv::Operation::Put)
            .map(|e| (e.value, e.revision)))
    }

    /// Puts `value` under `key` only if its last change is still `revision` (what the caller
    /// read); its new revision.
    ///
    /// # Errors
    ///
    /// [`NatsError::is_conflict`]: the key changed or was deleted since; else not stored.
    pub async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<u64, NatsError> {
        self.kv.update(key, value, revision).await.map_err(|e| {
            if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                NatsError::conflict("key-value update", e)
            } else {
                NatsError::unavailable("key-value update", e)
            }
        })
    }

    /// Deletes `key` (a delete every follower sees).
    ///
    /// # Errors
    ///
    /// Not stored.
    pub async fn delete(&self, key: &str) -> Result<(), NatsError> {
        self.kv
            .delete(key)
            .await
            .map_err(|e| NatsError::unavailable("key-value delete", e))
    }

    /// The revision of the bucket's last change (0 when it holds nothing: never had one, or
    /// was purged): a change made before this call has a revision at most this.
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached.
    pub async fn last_revision(&self) -> Result<u64, NatsError> {
        let mut stream = self.kv.stream.clone();
        let info = stream
            .info()
            .await
            .map_err(|e| NatsError::unavailable("key-value status", e))?;
        Ok(if info.state.messages > 0 {
            info.state.last_sequence
        } else {
            0
        })
    }

    /// Every key's last change (what the bucket holds now, deletes included) then each change
    /// after, in order; with the revision of the last change of the first part (0 when the
    /// bucket holds nothing): a change at or below it is what was there when this was called.
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached.
    async fn changes(&self) -> Result<(u64, Changes), NatsError> {
        let mut stream = self.kv.stream.clone();
        let info = stream
            .info()
            .await
            .map_err(|e| NatsError::unavailable("key-value status", e))?;
        let watch = self
            .kv
            .watch_with_history(">")
            .await
            .map_err(|e| NatsError::unavailable("key-value watch", e))?;
        let loaded = if info.state.messages > 0 {
            info.state.last_sequence
        } else {
            0
        };
        Ok((loaded, Changes { watch }))
    }

    /// What the bucket holds now (key -> value, deleted keys left out) and the changes after
    /// it, in order.
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached, or the load takes over 10 s.
    pub async fn follow(&self) -> Result<Loaded, NatsError> {
        let (loaded, mut changes) = self.changes().await?;
        let mut now = BTreeMap::new();
        if loaded > 0 {
            let load = async {
                while let Some(c) = changes.next().await {
                    let c = c?;
                    let done = c.revision >= loaded;
                    match c.value {
                        Some(v) => now.insert(c.key, v),
                        None => now.remove(&c.key),
                    };
                    if done {
                        return Ok(());
                    }
                }
                Err(NatsError::unavailable("key-value watch", "ended"))
            };
            tokio::time::timeout(LOAD_TIMEOUT, load)
                .await
                .map_err(|_| NatsError::unavailable("key-value load", "timed out"))??;
        }
        Ok(Loaded {
            now,
            revision: loaded,
            changes,
        })
    }

    /// The changes after `revision` (a follower that holds everything up to it resumes here),
    /// in order; from the start when the bucket was made anew since (its last revision is
    /// below `revision`).
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached.
    pub async fn changes_after(&self, revision: u64) -> Result<Changes, NatsError> {
        let mut stream = self.kv.stream.clone();
        let info = stream
            .info()
            .await
            .map_err(|e| NatsError::unavailable("key-value status", e))?;
        let from = if revision > info.state.last_sequence {
            1
        } else {
            revision + 1
        };
        let watch = self
            .kv
            .watch_all_from_revision(from)
            .await
            .map_err(|e| NatsError::unavailable("key-value watch", e))?;
        Ok(Changes { watch })
    }

    /// The keys alive now (in a bucket whose entries expire, the nodes that renewed theirs).
    ///
    /// # Errors
    ///
    /// JetStream cannot be reached.
    pub async fn live_keys(&self) -> Result<Vec<String>, NatsError> {
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| NatsError::unavailable("key-value keys", e))?;
        let mut out = Vec::new();
        while let Some(k) = keys.next().await {
            out.push(k.map_err(|e| NatsError::unavailable("key-value keys", e))?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_keys_are_valid_keys_and_read_back() {
        for id in ["u1", "", "a.b c/*>é", "=", "x=41", "-_"] {
            for table in 0..3 {
                let k = link_key(table, id);
                assert!(
                    k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_=.".contains(&b)),
                    "{k}"
                );
                assert_eq!(parse_link_key(&k), Some((table, id.to_owned())), "{id:?}");
            }
        }
        assert_eq!(parse_link_key("nodes.x"), None);
    }
}
