//! Following the shared records: at start, the node's store is made what the buckets hold
//! (a node joining buckets that never held anything puts its own records there instead);
//! then every change another node makes is made here too: stored, and its delivery started,
//! restarted or stopped, or its source put into the gateway's view.
//!
//! Each key's last revision applied here is remembered (`Cluster::applied`), with the
//! revisions this node's own API wrote: a change at or below it is an echo or older, and is
//! left alone (an echo of an older local change must not undo a newer one). Changes are
//! applied under the management API's write lock, so one made here and one arriving from the
//! bucket never interleave. When a watch fails (a reconnect) or a change cannot be applied
//! here (the store fails, a delivery cannot start), the follower reads the bucket whole
//! again a second later and settles on it: deletions made meanwhile included, and every
//! enabled integration running, every other one stopped.
//!
//! Integrations are followed only once the node has started delivery from its store
//! ([`Following::start`]): a change applied while that start-up loop still runs could be
//! undone by it (an integration deleted elsewhere started again from the loop's old copy).

use super::{Cluster, ShareError};
use crate::pipeline::{Deliveries, PipelineStartError};
use crate::state::GatewayState;
use bytes::Bytes;
use signal_nats::{Bucket, Changes};
use signal_spool::Start;
use signal_store::{IntegrationRecord, SourceRecord, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a follower waits before reading the bucket again after a failure.
const AGAIN: Duration = Duration::from_secs(1);

/// Why the shared records could not be taken in at start.
#[derive(Debug)]
pub enum FollowError {
    /// JetStream did not answer, or a record could not be shared.
    Share(ShareError),
    /// The node's store failed.
    Store(StoreError),
    /// A delivery could not start.
    Start(PipelineStartError),
}

impl std::fmt::Display for FollowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Share(e) => write!(f, "the shared records: {e}"),
            Self::Store(e) => e.fmt(f),
            Self::Start(e) => e.fmt(f),
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

/// Why one change could not be made here (the follower reads the bucket again).
#[derive(Debug)]
enum ApplyError {
    Store(StoreError),
    Start(PipelineStartError),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::Start(e) => write!(f, "delivery could not start: {e}"),
        }
    }
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The integrations' changes, to follow once delivery has started from the store.
pub(crate) struct Following {
    kinds: Arc<Kinds>,
    integrations: Changes,
}

impl Following {
    /// Follows the integrations' changes from here on.
    pub(crate) fn start(self) {
        tokio::spawn(run(Kind::Integrations, self.integrations, self.kinds));
    }
}

/// Makes the store what the buckets hold, then follows the sources and the identity links on
/// tasks of their own; the integrations' changes are followed once the caller has started
/// delivery from the store ([`Following::start`]).
///
/// # Errors
///
/// The buckets cannot be read, or the store written: the node does not start.
pub(crate) async fn follow(
    cluster: Arc<Cluster>,
    store: Store,
    gateway: Arc<GatewayState>,
    deliveries: Arc<Deliveries>,
) -> Result<Following, FollowError> {
    let links = cluster.buckets().links.clone();
    let kinds = Arc::new(Kinds {
        cluster: cluster.clone(),
        store: store.clone(),
        gateway: gateway.clone(),
        deliveries,
    });
    let sources = kinds.load(Kind::Sources).await?;
    tokio::spawn(run(Kind::Sources, sources, kinds.clone()));
    let integrations = kinds.load(Kind::Integrations).await?;
    tokio::spawn(super::links::follow(cluster, store, gateway, links));
    Ok(Following {
        kinds,
        integrations,
    })
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Integrations,
    Sources,
}

impl Kind {
    /// `key` as `Cluster::applied` names it.
    fn name(self, key: &str) -> String {
        match self {
            Kind::Integrations => format!("integrations/{key}"),
            Kind::Sources => format!("sources/{key}"),
        }
    }
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

    /// At start: the bucket seeded from the store when it never held anything, else the
    /// store settled on it; its changes after.
    async fn load(&self, kind: Kind) -> Result<Changes, FollowError> {
        let loaded = self
            .bucket(kind)
            .follow()
            .await
            .map_err(|e| FollowError::Share(e.into()))?;
        if loaded.revision == 0 {
            self.seed(kind).await?;
        } else {
            self.settle(kind, &loaded.now, loaded.revision, false)
                .await
                .map_err(|e| match e {
                    ApplyError::Store(e) => FollowError::Store(e),
                    ApplyError::Start(e) => FollowError::Start(e),
                })?;
        }
        Ok(loaded.changes)
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
    /// brings its integrations and sources into the cluster it starts; two starting at once
    /// bring both).
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

    /// Makes the store hold what the bucket held (`now`, as of `revision`): what it lacks is removed (each
    /// said in the log), what differs is stored; a key this node wrote after `revision`
    /// is left to its own change. `live`: delivery and the gateway follow, every enabled
    /// integration running and no other (not at start, when the caller starts delivery).
    async fn settle(
        &self,
        kind: Kind,
        now: &BTreeMap<String, Bytes>,
        revision: u64,
        live: bool,
    ) -> Result<(), ApplyError> {
        for key in self.stored_keys(kind)? {
            if !now.contains_key(&key) && self.apply(kind, &key, None, revision, live).await? {
                tracing::warn!(?kind, key = %key, "not in the cluster's records: removed from this node's store");
            }
        }
        for (key, value) in now {
            self.apply(kind, key, Some(value), revision, live).await?;
        }
        if live && matches!(kind, Kind::Integrations) {
            self.run_what_is_enabled().await?;
        }
        Ok(())
    }

    /// Every enabled integration in the store running, every other one stopped.
    async fn run_what_is_enabled(&self) -> Result<(), ApplyError> {
        let _writing = crate::admin::WRITES.lock().await;
        let stored = self.store.integrations()?;
        for id in self.deliveries.running_ids().await {
            if !stored.iter().any(|r| r.id == id && r.enabled) {
                self.deliveries.halt(&id).await;
            }
        }
        for rec in stored.iter().filter(|r| r.enabled) {
            if !self.deliveries.is_running(&rec.id).await {
                self.deliveries
                    .run(rec, Start::Latest)
                    .await
                    .map_err(ApplyError::Start)?;
            }
        }
        Ok(())
    }

    /// One change from the bucket, as of `revision`: made here unless this node already
    /// applied or wrote that revision of its key or a later one (checked under the management
    /// API's write lock, so a change this node's API makes meanwhile is seen; its own echo is
    /// one), or the store already holds it. Whether it was made.
    async fn apply(
        &self,
        kind: Kind,
        key: &str,
        value: Option<&Bytes>,
        revision: u64,
        live: bool,
    ) -> Result<bool, ApplyError> {
        let _writing = crate::admin::WRITES.lock().await;
        let name = kind.name(key);
        if self
            .cluster
            .applied_after(&name, revision.saturating_sub(1))
        {
            return Ok(false);
        }
        match kind {
            Kind::Integrations => self.apply_integration(key, value, live).await?,
            Kind::Sources => self.apply_source(key, value)?,
        }
        self.cluster.note_applied(&name, revision);
        Ok(true)
    }

    async fn apply_integration(
        &self,
        key: &str,
        value: Option<&Bytes>,
        live: bool,
    ) -> Result<(), ApplyError> {
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
            self.deliveries
                .run(&rec, Start::Latest)
                .await
                .map_err(ApplyError::Start)?;
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

/// Applies `changes` in order, each newer than what this node applied or wrote of its key;
/// when the watch fails or a change cannot be made here, reads the bucket whole again a
/// second later and settles on it before following its changes.
async fn run(kind: Kind, mut changes: Changes, kinds: Arc<Kinds>) {
    loop {
        while let Some(change) = changes.next().await {
            let c = match change {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(?kind, error = %e, "following the shared records failed; reading them again");
                    break;
                }
            };
            match kinds
                .apply(kind, &c.key, c.value.as_ref(), c.revision, true)
                .await
            {
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(?kind, key = %c.key, error = %e, "a change from another node could not be made here; reading the records again");
                    break;
                }
            }
        }
        loop {
            tokio::time::sleep(AGAIN).await;
            let loaded = match kinds.bucket(kind).follow().await {
                Ok(loaded) => loaded,
                Err(e) => {
                    tracing::warn!(?kind, error = %e, "the shared records cannot be read; trying again");
                    continue;
                }
            };
            match kinds.settle(kind, &loaded.now, loaded.revision, true).await {
                Ok(()) => {
                    changes = loaded.changes;
                    break;
                }
                Err(e) => {
                    tracing::error!(?kind, error = %e, "the shared records could not be made here; trying again");
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
