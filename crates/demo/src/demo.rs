//! `signal-edge demo`: the node, a Pendo sandbox on loopback standing in for every region, the
//! Pendo integration installed through the real install API, and a steady stream of sample
//! events through the real ingestion API, so a newcomer sees events flow with no Pendo account.

use crate::DemoError;
use crate::error::HttpError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use signal_sandbox::{Sim, Subscriptions};
use signal_server::Node;
use signal_server::Settings;
use std::time::Duration;

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

async fn post(
    client: &Client,
    url: &str,
    auth: &str,
    body: String,
) -> Result<(u16, String), DemoError> {
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("authorization", auth)
        .body(Full::new(Bytes::from(body)))
        .map_err(HttpError::Request)?;
    let resp = client.request(req).await.map_err(HttpError::Send)?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(HttpError::Body)?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The Pendo sandbox as every Pendo region, and the node pointed at it.
async fn start(mut settings: Settings) -> Result<(Sim, Node), DemoError> {
    let subs = Subscriptions::new();
    subs.add("demo-integration-key", "us");
    let sim = Sim::start("us", subs).await.map_err(DemoError::Sandbox)?;
    if let Some(bp) = signal_core::Blueprint::get("pendo") {
        for region in bp.regions.keys() {
            settings
                .base_urls
                .insert(bp.base_url_env(region), sim.base_url());
        }
    }
    let (node, _) = Node::start(settings).await.map_err(DemoError::Start)?;
    Ok((sim, node))
}

/// Installs the Pendo integration through the management API (or finds the one an earlier run
/// installed in the same data directory); returns its id.
async fn install(
    client: &Client,
    node: &Node,
    admin: &str,
    token: &str,
) -> Result<String, DemoError> {
    let install = serde_json::json!({
        "name": "Pendo (demo)",
        "variant": "b2b_saas",
        "config": {"api_key": "demo-api-key", "integration_key": "demo-integration-key", "data_region": "us"},
        "delivery_mode": "server_side",
    });
    let (status, body) = post(
        client,
        &format!("{admin}/v1/admin/integration-catalog/pendo/install"),
        &format!("Bearer {token}"),
        install.to_string(),
    )
    .await?;
    Ok(match status {
        201 => serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .unwrap_or_default(),
        409 => node
            .shared
            .store
            .integrations()
            .ok()
            .and_then(|l| l.into_iter().find(|i| i.name == "Pendo (demo)"))
            .map(|i| i.id)
            .unwrap_or_default(),
        _ => return Err(DemoError::Install { status, body }),
    })
}

/// Runs the demo until `stop` resolves; `rate` sample events a second.
///
/// # Errors
///
/// The sandbox or the node cannot start, or the install is refused.
pub async fn run(
    settings: Settings,
    rate: u32,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), DemoError> {
    let (sim, node) = start(settings).await?;
    let admin = format!("http://{}", node.admin_addr);
    let ingest = format!("http://{}", node.ingest_addr);
    let token = node.shared.admin_token.clone();
    let key = node
        .shared
        .sources
        .read()
        .ok()
        .and_then(|s| s.first().map(|s| s.pipeline_key.clone()))
        .ok_or(DemoError::NoSource)?;
    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let id = install(&client, &node, &admin, &token).await?;
    println!("signal-edge demo");
    println!("  ingestion API:  {ingest}  (pipeline key {key})");
    println!("  management UI:  {admin}/  (sign in with the admin token {token})");
    println!("  management API: {admin}/v1/admin");
    println!(
        "  Pendo sandbox:  {}  (what it accepted: {}/_sim/requests)",
        sim.base_url(),
        sim.base_url()
    );
    println!(
        "  live events:    curl -s -H 'Authorization: Bearer {token}' {admin}/v1/admin/integrations/{id}/events?limit=5"
    );
    println!(
        "  sending {rate} sample events a second (pages, product views, orders, feature usage, identify, group, some without consent)"
    );
    send(&client, &ingest, &key, rate, &sim, stop).await;
    node.stop().await;
    Ok(())
}

/// `rate` sample events a second to the ingestion API until `stop`, with progress every five
/// seconds.
async fn send(
    client: &Client,
    ingest: &str,
    key: &str,
    rate: u32,
    sim: &Sim,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut samples = signal_core::sample::Samples::new(now_seed());
    samples.consent_withheld = 0.05;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stop = std::pin::pin!(stop);
    let mut sent = 0u64;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let events: Vec<String> = (0..rate).map(|_| String::from_utf8_lossy(&samples.next_event().1).into_owned()).collect();
                let body = format!("{{\"batch\":[{}]}}", events.join(","));
                match post(client, &format!("{ingest}/v1/batch"), &format!("Bearer {key}"), body).await {
                    Ok((200, _)) => sent += u64::from(rate),
                    Ok((s, b)) => eprintln!("gateway answered {s}: {b}"),
                    Err(e) => eprintln!("gateway: {e}"),
                }
                if sent.is_multiple_of(u64::from(rate) * 5) {
                    let stats = sim.stats();
                    println!("  {sent} events sent; Pendo sandbox accepted {} requests", stats.accepted);
                }
            }
        }
    }
}

fn now_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}
