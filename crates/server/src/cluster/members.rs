//! The nodes alive: each node renews its heartbeat in the nodes bucket every second (entries
//! there expire after `signal_nats::HEARTBEAT_TTL`) and counts the heartbeats alive; when the
//! count changes, every running integration takes its new share of its rate limit.
//!
//! Why shares and not one limiter for the cluster: a shared limiter would cost a JetStream
//! round trip per request (or a lease protocol) on the hot path; a share costs nothing per
//! request. Its price: a node that has nothing to send leaves its share unused (under a
//! backlog every node pulls from the shared consumer, so the shares add up to the limit),
//! and for up to the heartbeat's lifetime after a node dies the others keep their smaller
//! shares (the cluster sends less than its limit, never more).

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
            (Ok(_), Ok(alive)) => {
                // This node counts even if its beat expired between the put and the count.
                let n = alive.len() + usize::from(!alive.contains(&key));
                if cluster.set_nodes(n) {
                    tracing::info!(
                        nodes = n,
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
