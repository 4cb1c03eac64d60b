//! Identity links across nodes. The gateway puts a request's new links in the shared bucket
//! (one publish each, acknowledged together) before it answers; each node copies the bucket
//! into its store, a batch of changes in one transaction, and says up to which revision its
//! store holds ([`Cluster::links_caught_up`] waits on that).
//!
//! The bucket is the links' durable home on JetStream: a node's store is its copy for
//! lookups, taken in again from the bucket at every start.

use super::{Cluster, ShareError};
use crate::gateway::OwnedLink;
use crate::known_links::{KnownLinks, parts};
use crate::state::GatewayState;
use signal_core::Link;
use signal_nats::{Bucket, Change, link_key, parse_link_key};
use signal_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// The most changes stored in one transaction.
const BATCH: usize = 2_000;

impl Cluster {
    /// Puts `links` in the shared bucket; resolves once JetStream stored every one.
    pub(crate) async fn put_links(&self, links: &[OwnedLink]) -> Result<(), ShareError> {
        let pairs = links
            .iter()
            .map(|l| {
                let (table, key, value) = parts(l);
                (link_key(table, key), bytes::Bytes::from(value.to_owned()))
            })
            .collect();
        Ok(self.buckets().links.put_all(pairs).await?)
    }
}

/// Copies the links bucket into `store`, then each change as it comes, for as long as the
/// node runs; follows again from the whole bucket after a failure.
pub(super) async fn follow(
    cluster: Arc<Cluster>,
    store: Store,
    gateway: Arc<GatewayState>,
    bucket: Bucket,
) {
    let known = gateway.known_links().clone();
    loop {
        match bucket.changes().await {
            Ok((_, mut changes)) => loop {
                let Some(first) = changes.next().await else {
                    break;
                };
                let mut batch = Vec::new();
                let mut next = Some(first);
                let mut failed = false;
                // What has come already, up to a batch, goes in one transaction.
                while let Some(c) = next.take() {
                    match c {
                        Ok(c) => batch.push(c),
                        Err(e) => {
                            tracing::warn!(error = %e, "following the identity links failed; following again");
                            failed = true;
                            break;
                        }
                    }
                    if batch.len() >= BATCH {
                        break;
                    }
                    next = tokio::time::timeout(Duration::ZERO, changes.next())
                        .await
                        .ok()
                        .flatten();
                }
                if !batch.is_empty() {
                    store_batch(&cluster, &store, &known, batch).await;
                }
                if failed {
                    break;
                }
            },
            Err(e) => tracing::warn!(error = %e, "the identity links cannot be read; trying again"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stores `batch` (retried until the store takes it: a link is never skipped), then says so.
async fn store_batch(
    cluster: &Cluster,
    store: &Store,
    known: &Arc<KnownLinks>,
    batch: Vec<Change>,
) {
    let last = batch.iter().map(|c| c.revision).max().unwrap_or(0);
    let links: Vec<OwnedLink> = batch.into_iter().filter_map(owned).collect();
    loop {
        let (s, l) = (store.clone(), links.clone());
        let written = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<Link<'_>> = l.iter().map(OwnedLink::as_link).collect();
            s.record_links(&borrowed)
        })
        .await;
        match written {
            Ok(Ok(())) => break,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "identity links from other nodes could not be stored; retrying")
            }
            Err(e) => {
                tracing::error!(error = %e, "storing identity links from other nodes stopped; retrying")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for l in &links {
        let (table, key, value) = parts(l);
        known.learned(table, key, value);
    }
    cluster.links_applied_to(last);
}

/// A change as a link (deletes are not made: links are only replaced).
fn owned(c: Change) -> Option<OwnedLink> {
    let (table, key) = parse_link_key(&c.key)?;
    let value = String::from_utf8(c.value?.to_vec()).ok()?;
    match table {
        0 => Some(OwnedLink::User(key, value)),
        1 => Some(OwnedLink::Account(key, value)),
        2 => Some(OwnedLink::Group(key, value)),
        _ => None,
    }
}
