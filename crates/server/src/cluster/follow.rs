//! Following the shared records: at start, the node's store is made what the buckets hold
//! (a node joining a cluster whose buckets never held any puts its own records there
//! instead); then every change another node makes is made here too: stored, and its delivery
//! started, restarted or stopped, or its source put into the gateway's view. A change this
//! node made (already stored) is seen again and left alone: it equals what the store holds.
//!
//! Changes are applied under the management API's write lock, so one made here and one
//! arriving from the bucket never interleave; the bucket's order decides which stays. When a
//! watch fails (a reconnect), the follower reads the bucket whole again and settles the store
//! on it, deletions made meanwhile included.

use super::{Cluster, ShareError};
use crate::pipeline::Deliveries;
use crate::state::GatewayState;
use bytes::Bytes;
use signal_nats::{Bucket, Changes};
use signal_spool::Start;
use signal_store::{IntegrationRecord, SourceRecord, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a follower waits before following again after its watch failed.
const AGAIN: Duration = Duration::from_secs(1);

/// Why the shared records could not be taken in at start.
#[derive(Debug)]
pub enum FollowError {
    /// JetStream did not answer, or a record could not be shared.
    Share(ShareError),
    /// The node's store failed.
    Store(StoreError),
}

impl std::fmt::Display for FollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Share(e) => write!(f, "the shared records: {e}"),
            Self::Store(e) => e.fmt(f),
        }
    }
}

impl From<StoreError> for FollowError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<ShareError> for FollowError {
    fn from(e: ShareError) -> Self {
        Self::Share(e)
    }
}

/// Makes the store what the buckets hold, then follows them (and the identity links) on
/// tasks of their own. Call before the node starts delivering: integrations are only stored
/// here, the caller starts their delivery.
///
/// # Errors
///
/// The buckets cannot be read, or the store written: the node does not start.
pub(crate) async fn follow(
    cluster: Arc<Cluster>,
    store: Store,
    gateway: Arc<GatewayState>,
    deliveries: Arc<Deliveries>,
) -> Result<(), FollowError> {
    let buckets = cluster.buckets().clone();
    let kinds = Arc::new(Kinds {
        cluster: cluster.clone(),
        store: store.clone(),
        gateway: gateway.clone(),
        deliveries,
    });
    for kind in [Kind::Integrations, Kind::Sources] {
        let bucket = kinds.bucket(kind).clone();
        let (now, changes) = bucket
            .follow()
            .await
            .map_err(|e| FollowError::Share(e.into()))?;
        if now.is_empty() && bucket.last_revision().await.map_err(ShareError::from)? == 0 {
            kinds.seed(kind).await?;
        } else {
            kinds.settle(kind, &now, false).await?;
        }
        tokio::spawn(run(kind, changes, kinds.clone()));
    }
    tokio::spawn(super::links::follow(cluster, store, gateway, buckets.links));
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Integrations,
    Sources,
}

/// What a change of either kind is applied to.
struct Kinds {
    cluster: Arc<Cluster>,
    store: Store,
    gateway: Arc<GatewayState>,
    deliveries: Arc<Deliveries>,
}

impl Kinds {
    fn bucket(&self, kind: Kind) -> &Bucket {
        match kind {
            Kind::Integrations => &self.cluster.buckets().integrations,
            Kind::Sources => &self.cluster.buckets().sources,
        }
    }

    /// The ids the store holds of `kind` (the node's own source left out), by key.
    fn stored_keys(&self, kind: Kind) -> Result<Vec<String>, StoreError> {
        Ok(match kind {
            Kind::Integrations => self
                .store
                .integrations()?
                .into_iter()
                .map(|r| signal_nats::key(&r.id))
                .collect(),
            Kind::Sources => self
                .store
                .sources()?
                .into_iter()
                .filter(|s| s.id != super::NODE_SOURCE)
                .map(|r| signal_nats::key(&r.id))
                .collect(),
        })
    }

    /// A bucket that never held anything takes the store's records (a node that ran alone
    /// brings its integrations and sources into the cluster it starts).
    async fn seed(&self, kind: Kind) -> Result<(), FollowError> {
        match kind {
            Kind::Integrations => {
                for rec in self.store.integrations()? {
                    self.cluster.put_integration(&rec).await?;
                }
            }
            Kind::Sources => {
                for rec in self.store.sources()? {
                    self.cluster.put_source(&rec).await?;
                }
            }
        }
        Ok(())
    }

    /// Makes the store hold what the bucket holds (`now`): what it lacks is removed, what
    /// differs is stored. `live`: delivery and the gateway follow (not at start, when the
    /// caller starts delivery from the store).
    async fn settle(
        &self,
        kind: Kind,
        now: &BTreeMap<String, Bytes>,
        live: bool,
    ) -> Result<(), StoreError> {
        for key in self.stored_keys(kind)? {
            if !now.contains_key(&key) {
                self.apply(kind, &key, None, live).await?;
            }
        }
        for (key, value) in now {
            self.apply(kind, key, Some(value), live).await?;
        }
        Ok(())
    }

    /// One change from the bucket, made here unless the store already holds it.
    async fn apply(
        &self,
        kind: Kind,
        key: &str,
        value: Option<&Bytes>,
        live: bool,
    ) -> Result<(), StoreError> {
        let _writing = crate::admin::WRITES.lock().await;
        match kind {
            Kind::Integrations => self.apply_integration(key, value, live).await,
            Kind::Sources => self.apply_source(key, value),
        }
    }

    async fn apply_integration(
        &self,
        key: &str,
        value: Option<&Bytes>,
        live: bool,
    ) -> Result<(), StoreError> {
        let Some(value) = value else {
            let Some(id) = signal_nats::id_of(key) else {
                return Ok(());
            };
            if self.store.delete_integration(&id)? && live {
                self.deliveries.halt(&id).await;
                self.release(&id).await;
            }
            return Ok(());
        };
        let Some(rec) = decode::<IntegrationRecord>(value) else {
            return Ok(());
        };
        if self.store.integration(&rec.id)?.as_ref() == Some(&rec) {
            return Ok(());
        }
        self.store.put_integration(&rec)?;
        if !live {
            return Ok(());
        }
        if rec.enabled {
            if let Err(e) = self.deliveries.run(&rec, Start::Latest).await {
                tracing::error!(integration = %rec.id, error = %e, "a change from another node is stored, but its delivery could not start here");
            }
        } else {
            self.deliveries.halt(&rec.id).await;
        }
        Ok(())
    }

    /// An integration removed on another node: its consumer and dead letters removed here
    /// too, after this node's last use of them (the removing node may have removed them while
    /// this one was still applying an earlier change that made the consumer again; with
    /// interest retention, a consumer left behind would keep every event until the stream
    /// is full). Both are idempotent.
    async fn release(&self, id: &str) {
        if let Some(log) = self.deliveries.state().nats() {
            let gone = match log.remove_consumer(id).await {
                Ok(()) => log.purge(id, None).await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = gone {
                tracing::warn!(integration = id, error = %e, "removed on another node, but its JetStream consumer or dead letters could not be removed here");
            }
        }
    }

    fn apply_source(&self, key: &str, value: Option<&Bytes>) -> Result<(), StoreError> {
        let Some(value) = value else {
            let Some(id) = signal_nats::id_of(key) else {
                return Ok(());
            };
            if id != super::NODE_SOURCE && self.store.delete_source(&id)? {
                self.gateway.source_changed(&id, None);
            }
            return Ok(());
        };
        let Some(rec) = decode::<SourceRecord>(value) else {
            return Ok(());
        };
        if rec.id == super::NODE_SOURCE || self.store.sources()?.contains(&rec) {
            return Ok(());
        }
        self.store.put_source(&rec)?;
        self.gateway.source_changed(&rec.id, Some(&rec));
        Ok(())
    }
}

/// Applies `changes` in order; when the watch fails, reads the bucket whole again and settles
/// on it before following its changes.
async fn run(kind: Kind, mut changes: Changes, kinds: Arc<Kinds>) {
    loop {
        while let Some(change) = changes.next().await {
            match change {
                Ok(c) => {
                    if let Err(e) = kinds.apply(kind, &c.key, c.value.as_ref(), true).await {
                        tracing::error!(?kind, key = %c.key, error = %e, "a change from another node could not be stored here");
                    }
                }
                Err(e) => {
                    tracing::warn!(?kind, error = %e, "following the shared records failed; following again");
                    break;
                }
            }
        }
        loop {
            tokio::time::sleep(AGAIN).await;
            match kinds.bucket(kind).follow().await {
                Ok((now, again)) => {
                    if let Err(e) = kinds.settle(kind, &now, true).await {
                        tracing::error!(?kind, error = %e, "the shared records could not be stored here");
                    }
                    changes = again;
                    break;
                }
                Err(e) => {
                    tracing::warn!(?kind, error = %e, "the shared records cannot be read; trying again");
                }
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: &Bytes) -> Option<T> {
    match serde_json::from_slice(v) {
        Ok(rec) => Some(rec),
        Err(e) => {
            tracing::error!(error = %e, "a shared record that is not one; left alone");
            None
        }
    }
}
