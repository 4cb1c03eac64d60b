//! Any node's API shows the cluster, over core NATS (`signal_nats`' views):
//!
//! - Live events: a node with viewers of an integration's stream tells the others every two
//!   seconds (`watch`); for five seconds after, they publish that integration's live events,
//!   and every node relays the ones it receives to its own viewers. Nobody watching: nothing
//!   is published (a live event's JSON is made only for a viewer).
//! - Recent live events and stats: the node asked asks the others (`recent`, `stats`) and
//!   waits for every node alive to answer, at most a second; the answer merges what came
//!   (recent events newest first; counts summed, latency percentiles over every node's recent
//!   latencies) and lists each node's part (`nodes`), so a node that did not answer is seen
//!   to be missing.

use super::Cluster;
use crate::pipeline::{Deliveries, Runtime};
use bytes::Bytes;
use serde_json::{Value, json};
use signal_nats::{NatsLog, Question};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long the asking node waits for the others' answers (a healthy node answers in
/// milliseconds; a node that died is counted alive for up to 6 s, and each answer waits this
/// long for it meanwhile).
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// How often a node with viewers says so, and how long the others publish after.
const WATCH_EVERY: Duration = Duration::from_secs(2);
const WATCHED_FOR: Duration = Duration::from_secs(5);

/// Starts answering the other nodes, relaying their live events and publishing this node's.
///
/// # Errors
///
/// A subscription could not be made.
pub(crate) async fn serve(
    cluster: Arc<Cluster>,
    deliveries: Arc<Deliveries>,
) -> Result<(), signal_nats::NatsError> {
    let log = cluster.log.clone();
    let mut questions = log.questions().await?;
    let mut feed = log.live_feed().await?;
    let me: Arc<str> = Arc::from(cluster.node());
    {
        let (me, deliveries) = (me.clone(), deliveries.clone());
        tokio::spawn(async move {
            while let Some(q) = questions.next().await {
                if *q.node != *me {
                    answer(&deliveries, &me, q).await;
                }
            }
        });
    }
    {
        let (me, deliveries) = (me.clone(), deliveries.clone());
        tokio::spawn(async move {
            while let Some(ev) = feed.next().await {
                if *ev.node == *me {
                    continue;
                }
                if let Some(rt) = deliveries.running().await.get(&ev.integration) {
                    rt.live
                        .relay(String::from_utf8_lossy(&ev.json).into_owned());
                }
            }
        });
    }
    if let Some(mut out) = cluster.take_live_out() {
        let (me, log) = (me.clone(), log.clone());
        tokio::spawn(async move {
            while let Some((integration, json)) = out.recv().await {
                let _ = log.publish_live(&me, &integration, Bytes::from(json)).await;
            }
        });
    }
    tokio::spawn(say_who_watches(log, me, deliveries));
    Ok(())
}

/// Every two seconds, the integrations this node has stream viewers of, told to the others.
async fn say_who_watches(log: NatsLog, me: Arc<str>, deliveries: Arc<Deliveries>) {
    loop {
        let watched: Vec<String> = deliveries
            .running()
            .await
            .iter()
            .filter(|(_, rt)| rt.live.has_viewers())
            .map(|(id, _)| id.clone())
            .collect();
        for id in watched {
            let _ = log
                .ask(
                    &me,
                    "watch",
                    Bytes::from(json!({"integration": id}).to_string()),
                    0,
                    Duration::ZERO,
                )
                .await;
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// Answers one question from another node.
async fn answer(deliveries: &Deliveries, me: &str, q: Question) {
    let asked: Value = serde_json::from_slice(&q.body).unwrap_or(Value::Null);
    let integration = asked["integration"].as_str().unwrap_or_default();
    let running = deliveries.running().await;
    let rt = running.get(integration);
    let body = match q.topic.as_str() {
        "watch" => {
            if let Some(rt) = rt {
                rt.live.watched_for(WATCHED_FOR);
            }
            return;
        }
        "recent" => {
            let limit = asked["limit"].as_u64().unwrap_or(50).min(1000) as usize;
            json!(rt.map(|rt| rt.live.recent(limit)).unwrap_or_default())
        }
        "stats" => rt.map_or(json!({"node": me}), |rt| node_stats(me, rt)),
        _ => return,
    };
    drop(running);
    let _ = q.answer(Bytes::from(body.to_string())).await;
}

/// What one node says of an integration's delivery: its counts, its recent latencies, what it
/// holds, its status, and its outcomes per second (`series`, in [`crate::live::Window`]'s wire
/// form: the asking node adds them up).
pub(crate) fn node_stats(node: &str, rt: &Runtime) -> Value {
    let (status, diagnosis) = rt.stats.status();
    json!({
        "node": node, "counts": rt.stats.counts(), "latencies": rt.stats.latencies(),
        "in_flight": rt.in_flight(), "in_flight_bytes": rt.in_flight_bytes(),
        "status": status, "diagnosis": diagnosis, "series": rt.stats.window().to_wire(),
    })
}

impl Cluster {
    /// The other nodes' answers to `topic` about `integration` (with `extra` fields).
    async fn gather(&self, topic: &str, integration: &str, extra: Value) -> Vec<Value> {
        let mut body = json!({"integration": integration});
        if let (Some(b), Value::Object(x)) = (body.as_object_mut(), extra) {
            b.extend(x);
        }
        let others = self.nodes().saturating_sub(1);
        if others == 0 {
            return Vec::new();
        }
        match self
            .log
            .ask(
                self.node(),
                topic,
                Bytes::from(body.to_string()),
                others,
                ANSWER_WAIT,
            )
            .await
        {
            Ok(answers) => answers
                .iter()
                .filter_map(|a| serde_json::from_slice(a).ok())
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the other nodes could not be asked");
                Vec::new()
            }
        }
    }

    /// The cluster's most recent live events of `integration`, newest first: this node's
    /// (`local`) and every other node's.
    pub(crate) async fn recent(
        &self,
        integration: &str,
        limit: usize,
        local: Vec<Value>,
    ) -> Vec<Value> {
        let mut all = local;
        for answer in self
            .gather("recent", integration, json!({"limit": limit}))
            .await
        {
            if let Value::Array(a) = answer {
                all.extend(a);
            }
        }
        // RFC 3339 in one format: the text sorts as the time does.
        all.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
        all.truncate(limit);
        all
    }

    /// `body` (this node's stats of `integration`, `mine` its part) made the cluster's:
    /// counts and what is held summed, latency percentiles over every node's, the series added
    /// second by second (their latency histograms too, so the percentiles per second are the
    /// cluster's), and `nodes`, each node's part (without its series).
    pub(crate) async fn stats(&self, integration: &str, mut body: Value, mine: Value) -> Value {
        // The series on this node's clock: another node's seconds outside it are left out.
        let mut series = crate::live::Window::from_wire(&mine["series"])
            .map(|w| crate::live::Window::empty(w.end));
        let mut parts = vec![mine];
        parts.extend(self.gather("stats", integration, json!({})).await);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let (mut latencies, mut in_flight, mut in_flight_bytes) = (Vec::new(), 0u64, 0u64);
        let mut nodes = Vec::new();
        for mut p in parts {
            if let Some(c) = p["counts"].as_object() {
                for (k, v) in c {
                    *counts.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                }
            }
            if let Value::Array(l) = p["latencies"].take() {
                let mine: Vec<u64> = l.iter().filter_map(Value::as_u64).collect();
                p["latency_ms"] = crate::live::percentiles_of(mine.clone());
                latencies.extend(mine);
            }
            in_flight += p["in_flight"].as_u64().unwrap_or(0);
            in_flight_bytes += p["in_flight_bytes"].as_u64().unwrap_or(0);
            if let (Some(total), Some(w)) = (
                series.as_mut(),
                crate::live::Window::from_wire(&p["series"]),
            ) {
                total.merge(&w);
            }
            if let Some(o) = p.as_object_mut() {
                o.remove("latencies");
                o.remove("series");
            }
            nodes.push(p);
        }
        body["counts"] = json!(counts);
        body["latency_ms"] = crate::live::percentiles_of(latencies);
        body["in_flight"] = in_flight.into();
        body["in_flight_bytes"] = in_flight_bytes.into();
        if let Some(s) = series {
            body["series"] = s.to_json();
        }
        body["nodes_alive"] = self.nodes().into();
        body["nodes"] = Value::Array(nodes);
        body
    }
}
