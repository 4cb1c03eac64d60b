//! The nodes alive: each node renews its heartbeat in the nodes bucket every second (entries
//! there expire after `signal_nats::HEARTBEAT_TTL`) and counts the heartbeats alive; when the
//! count changes, every running integration takes its new share of its rate limit: the limit
//! over the nodes alive, rounded down, and one more for the first `limit % nodes` of them in
//! node-id order, so the shares add up to the limit exactly.
//!
//! Why shares and not one limiter for the cluster: a shared limiter would cost a JetStream
//! round trip per request (or a lease protocol) on the hot path; a share costs nothing per
//! request. Its price: a node that has nothing to send leaves its share unused (under a
//! backlog every node pulls from the shared consumer, so the shares add up to the limit),
//! and for up to the heartbeat's lifetime after a node dies the others keep their smaller
//! shares (the cluster sends less than its limit). Nodes count one another a second apart, so
//! while one joins or leaves their shares may briefly add up to a share more than the limit.

use super::Cluster;
use crate::pipeline::Deliveries;
use std::sync::Arc;
use std::time::Duration;

/// How often a node renews its heartbeat and counts the others.
const BEAT: Duration = Duration::from_secs(1);

/// Renews this node's heartbeat and follows the count, for as long as the node runs.
pub(crate) async fn keep_alive(cluster: Arc<Cluster>, deliveries: Arc<Deliveries>) {
    let key = signal_nats::key(cluster.node());
    let nodes = cluster.buckets().nodes.clone();
    loop {
        let beat = nodes.put(&key, bytes::Bytes::from_static(b"alive")).await;
        match (beat, nodes.live_keys().await) {
            (Ok(_), Ok(mut alive)) => {
                // This node counts even if its beat expired between the put and the count.
                if !alive.contains(&key) {
                    alive.push(key.clone());
                }
                alive.sort();
                let index = alive.iter().position(|k| *k == key).unwrap_or(0);
                if cluster.set_place(alive.len(), index) {
                    tracing::info!(
                        nodes = alive.len(),
                        index,
                        "nodes alive changed; rate limits shared out again"
                    );
                    deliveries.reshare().await;
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "the node heartbeat could not be renewed");
            }
        }
        tokio::time::sleep(BEAT).await;
    }
}
