//! `signal-edge demo`: the node, a Pendo sandbox on loopback standing in for every region, the
//! Pendo integration installed through the real install API, sessions of visitors through the
//! real ingestion API (`sessions.rs`, stamped now), and an example site using the node's tag
//! (`site.rs`), so a newcomer sees events flow with no Pendo account. The first screen says where
//! to look (Live Events, the example site, the sandbox's visitors) and which warnings to expect.

use crate::DemoError;
use crate::error::HttpError;
use crate::sessions::Sessions;
use crate::site::{Site, SiteLinks};
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
    // Left running, the sandbox keeps the most recent requests (about an hour at the default
    // rate) for its visitor view, not every one.
    sim.keep_at_most(60_000);
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

/// Where the example site listens: this port when free, else any.
const SITE_ADDRS: [&str; 2] = ["127.0.0.1:8085", "127.0.0.1:0"];

/// Runs the demo until `stop` resolves; `rate` sample events a second.
///
/// # Errors
///
/// The sandbox, the node or the example site cannot start, or the install is refused.
pub async fn run(
    settings: Settings,
    rate: u32,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), DemoError> {
    let (sim, node) = start(settings).await?;
    let admin = format!("http://{}", node.admin_addr);
    // What a browser or curl on this machine reaches (the node may listen on 0.0.0.0).
    let mut reach = node.ingest_addr;
    if reach.ip().is_unspecified() {
        reach.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let ingest = format!("http://{reach}");
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
    let visitors = format!("{}/_sim/visitors", sim.base_url());
    let live = format!("{admin}/#/integration/{id}/live");
    let links = SiteLinks {
        ingest: ingest.clone(),
        key: key.clone(),
        live_events: live.clone(),
        visitors: visitors.clone(),
    };
    let mut site = Err(std::io::Error::other("no address"));
    for addr in SITE_ADDRS {
        site = Site::start(addr, links.clone()).await;
        if site.is_ok() {
            break;
        }
    }
    let site = site.map_err(DemoError::Site)?;
    println!(
        "{}",
        first_screen(&FirstScreen {
            admin: &admin,
            token: &token,
            live: &live,
            site: &site.url(),
            visitors: &visitors,
            sandbox: &sim.base_url(),
            ingest: &ingest,
            key: &key,
            id: &id,
            rate,
        })
    );
    send(&client, &ingest, &key, rate, &sim, stop).await;
    drop(site);
    node.stop().await;
    Ok(())
}

/// What the first screen names.
struct FirstScreen<'a> {
    admin: &'a str,
    token: &'a str,
    live: &'a str,
    site: &'a str,
    visitors: &'a str,
    sandbox: &'a str,
    ingest: &'a str,
    key: &'a str,
    id: &'a str,
    rate: u32,
}

/// The demo's first screen: where to look, and what to expect there.
fn first_screen(f: &FirstScreen<'_>) -> String {
    let FirstScreen {
        admin,
        token,
        live,
        site,
        visitors,
        sandbox,
        ingest,
        key,
        id,
        rate,
    } = f;
    format!(
        "signal-edge demo: the node, a Pendo sandbox standing in for Pendo, and visitors using an example product

Look here:
  1. Live Events      {live}
                      (the management UI; sign in with \"Use an API token instead\": {token})
  2. Example site     {site}
                      a page using the node's tag, datafly.js: its buttons send page, identify,
                      group and track events; they show up in Live Events within a second
  3. Pendo's visitors {visitors}
                      the sandbox's view of what \"Pendo\" accepted: search a visitorId, open its
                      activity timeline and metadata, and its account

Every event is delivered to Pendo without a warning, except what the demo means to show:
  - one session in {decline} declines analytics consent: its events are dropped for Pendo (reason consent);
  - every {reserved} s one \"Report Exported\" carries a property named `id`, which Pendo reserves: it is
    sent as custom_id, with a reserved_property warning;
  - on the example site, a page view before you sign in has no account yet (account_not_linked).

Also: ingestion API {ingest} (pipeline key {key}), management API {admin}/v1/admin,
  what the sandbox accepted as JSON {sandbox}/_sim/requests, live events as JSON:
  curl -s -H 'Authorization: Bearer {token}' {admin}/v1/admin/integrations/{id}/events?limit=5

Sending about {rate} events a second (SIGNAL_DEMO_RATE): visitors land anonymously, browse, sign in
(identify links their anonymous id, group their account), then use features. Ctrl-C stops.",
        decline = crate::sessions::DECLINE_EVERY,
        reserved = crate::sessions::RESERVED_EVERY,
    )
}

/// About `rate` events a second of [`Sessions`] to the ingestion API until `stop`, each
/// second's in one batch, with progress every ten seconds.
async fn send(
    client: &Client,
    ingest: &str,
    key: &str,
    rate: u32,
    sim: &Sim,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut sessions = Sessions::new(now_seed());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stop = std::pin::pin!(stop);
    let (mut sent, mut ticks) = (0u64, 0u64);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let events = sessions.tick(rate, now_ms());
                let n = events.len() as u64;
                let body = serde_json::json!({ "batch": events }).to_string();
                match post(client, &format!("{ingest}/v1/batch"), &format!("Bearer {key}"), body).await {
                    Ok((200, _)) => sent += n,
                    Ok((s, b)) => eprintln!("gateway answered {s}: {b}"),
                    Err(e) => eprintln!("gateway: {e}"),
                }
                ticks += 1;
                if ticks.is_multiple_of(10) {
                    let stats = sim.stats();
                    println!("  {sent} events sent; the Pendo sandbox accepted {} requests ({} items)", stats.accepted, stats.items_accepted);
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn now_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_screen_says_where_to_look_and_what_to_expect() {
        let s = first_screen(&FirstScreen {
            admin: "http://127.0.0.1:8084",
            token: "tok",
            live: "http://127.0.0.1:8084/#/integration/int_1/live",
            site: "http://127.0.0.1:8085/",
            visitors: "http://127.0.0.1:9/_sim/visitors",
            sandbox: "http://127.0.0.1:9",
            ingest: "http://127.0.0.1:8080",
            key: "dk",
            id: "int_1",
            rate: 20,
        });
        let first: Vec<&str> = s.lines().take(12).collect();
        let first = first.join("\n");
        for want in [
            "Live Events",
            "#/integration/int_1/live",
            "tok",
            "Example site",
            "http://127.0.0.1:8085/",
            "/_sim/visitors",
        ] {
            assert!(first.contains(want), "{want} on the first lines: {first}");
        }
        assert!(
            s.contains("reserved_property") && s.contains("reason consent"),
            "{s}"
        );
    }
}
