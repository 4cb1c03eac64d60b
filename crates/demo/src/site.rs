//! The demo's example site: one HTML page on its own loopback port that loads the node's
//! first-party tag (`<script src="http://<ingest>/v1/datafly.js" data-key="<key>" async>`) and
//! has a button for each mapped event: a page view, sign in (`identify` with the account, then
//! `group`), feature `track` events, a product view and an order, and consent declined. What a
//! click sent is listed on the page, with links to where it shows up: the node's Live Events and
//! the Pendo sandbox's timeline of the visitor.
//!
//! The default source takes any origin (its `allowed_origins` is empty), so the page's origin
//! (`http://127.0.0.1:<port>`) is allowed by the gateway's CORS rules as it is.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Where the page sends and links to.
#[derive(Debug, Clone)]
pub struct SiteLinks {
    /// `http://127.0.0.1:8080`: the node's ingestion address, where the tag is served from.
    pub ingest: String,
    /// The default source's pipeline key.
    pub key: String,
    /// The management UI's Live Events page of the integration.
    pub live_events: String,
    /// The Pendo sandbox's visitors page (`.../_sim/visitors`).
    pub visitors: String,
}

/// The running site; dropping it stops it.
pub struct Site {
    /// Its address.
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Site {
    /// Serves the page on `addr` (`127.0.0.1:0` for any free port).
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn start(addr: &str, links: SiteLinks) -> std::io::Result<Site> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let html = Bytes::from(page(&links));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let html = html.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        let html = html.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(req.uri().path(), html)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Site { addr, accept })
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn answer(path: &str, html: Bytes) -> Response<Full<Bytes>> {
    let (status, body, kind) = match path {
        "/" | "/index.html" => (StatusCode::OK, html, "text/html; charset=utf-8"),
        _ => (
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"not found: the example site is one page, at /"),
            "text/plain; charset=utf-8",
        ),
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(kind),
    );
    r.headers_mut().insert(
        "cache-control",
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page, with the tag's address and key and the links filled in.
pub fn page(links: &SiteLinks) -> String {
    TEMPLATE
        .replace("{{ingest}}", &esc(&links.ingest))
        .replace("{{key}}", &esc(&links.key))
        .replace("{{live}}", &esc(&links.live_events))
        .replace("{{visitors}}", &esc(&links.visitors))
}

const TEMPLATE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Example site · signal-edge demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { background: #0f5c4a; color: #fff; padding: 12px 28px; }
  header strong { font-size: 18px; }
  main { max-width: 980px; margin: 0 auto; padding: 16px 28px; display: grid; grid-template-columns: 1.2fr 1fr; gap: 24px; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 14px 18px; margin-bottom: 14px; }
  h2 { font-size: 16px; margin: 0 0 8px; }
  button { font: inherit; padding: 7px 12px; margin: 0 6px 8px 0; border-radius: 5px; border: 1px solid #0f5c4a; background: #fff; color: #0f5c4a; cursor: pointer; }
  button.primary { background: #0f5c4a; color: #fff; }
  input { font: inherit; padding: 6px 8px; border: 1px solid #b9c0cb; border-radius: 4px; width: 180px; }
  code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
  ol#sent { padding-left: 20px; margin: 0; max-height: 420px; overflow: auto; }
  ol#sent li { margin-bottom: 4px; }
  .help { color: #5b6270; font-size: 13px; }
  #who { font-weight: 600; }
</style>
</head>
<body>
<header><strong>Example site</strong> · a page using signal-edge's first-party tag, <code>datafly.js</code></header>
<main>
  <div>
    <section>
      <h2>1. You are a visitor</h2>
      <p class="help">This page sent a page view when it loaded, as an anonymous visitor (the tag's
        <code>_dfid</code> cookie). Until you sign in, Pendo has no account for it: Live Events
        shows that page view with <code>account_not_linked</code>.</p>
      <button type="button" id="page-view" onclick="go('page', 'Reports', {path: '/reports'})">Open the Reports page (page view)</button>
    </section>
    <section>
      <h2>2. Sign in</h2>
      <p><label for="user">visitorId </label><input id="user" autocomplete="off">
        at <span class="mono">acme-corp</span></p>
      <button type="button" class="primary" id="sign-in" onclick="signIn()">Sign in (identify + group)</button>
      <p class="help">Signed in as <span id="who">nobody yet</span>.</p>
    </section>
    <section>
      <h2>3. Use the product</h2>
      <button type="button" id="export" onclick="go('track', 'Report Exported', {format: 'csv', rows: 120})">Export a report</button>
      <button type="button" id="invite" onclick="go('track', 'Invite Sent', {invitee_role: 'editor'})">Invite a teammate</button>
      <button type="button" id="share" onclick="go('track', 'Dashboard Shared', {channel: 'link'})">Share a dashboard</button>
      <button type="button" id="product" onclick="go('track', 'Product Viewed', {product_id: 'prod-42', sku: 'SKU-42', name: 'Seat pack 10', price: 49, currency: 'USD'})">View a seat pack</button>
      <button type="button" id="order" onclick="go('track', 'Order Completed', {order_id: 'ord-' + Date.now(), total: 49, currency: 'USD', products: [{product_id: 'prod-42', price: 49, quantity: 1}]})">Buy it</button>
      <p><button type="button" id="decline" onclick="go('consent', {analytics: false})">Decline analytics consent</button>
        <button type="button" id="accept" onclick="go('consent', {analytics: true})">Accept it again</button></p>
      <p class="help">After declining, events still reach the node, and Pendo's are dropped with reason <code>consent</code>.</p>
    </section>
  </div>
  <section>
    <h2>What this page sent</h2>
    <p class="help">Watch them arrive in <a id="live-link" href="{{live}}" target="_blank" rel="noopener">Live Events</a>
      (sign in to the UI with the admin token the demo printed), then in
      <a id="visitor-link" href="{{visitors}}" target="_blank" rel="noopener">Pendo's visitor timeline</a> (the sandbox).</p>
    <ol id="sent" reversed></ol>
    <p class="help" id="tag-state">Loading the tag from <code>{{ingest}}/v1/datafly.js</code>…</p>
  </section>
</main>
<script>
  // The stub: calls made before the tag loads are queued as [method, ...args] (the tag replays them).
  window.datafly = window.datafly || [];
  ['page', 'track', 'identify', 'group', 'consent', 'flush'].forEach(function (m) {
    if (!window.datafly[m]) window.datafly[m] = function () { window.datafly.push([m].concat([].slice.call(arguments))); };
  });
  var visitors = document.getElementById('visitor-link').getAttribute('href');
  var user = document.getElementById('user');
  user.value = localStorage.getItem('example-user') || ('ada-' + Math.random().toString(16).slice(2, 8));
  function log(text) {
    var li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    document.getElementById('sent').prepend(li);
  }
  function go(method) {
    var args = [].slice.call(arguments, 1);
    window.datafly[method].apply(window.datafly, args);
    window.datafly.flush && window.datafly.flush();
    log(method + '(' + args.map(function (a) { return JSON.stringify(a); }).join(', ') + ')');
  }
  function signIn() {
    var id = user.value.trim();
    if (!id) { user.focus(); return; }
    localStorage.setItem('example-user', id);
    go('identify', id, {name: 'Ada Lovelace', plan: 'enterprise', accountId: 'acme-corp'});
    go('group', 'acme-corp', {industry: 'manufacturing', plan: 'enterprise', employees: 1200});
    document.getElementById('who').textContent = id;
    document.getElementById('visitor-link').href = visitors + '/' + encodeURIComponent(id);
  }
  go('page');
</script>
<script src="{{ingest}}/v1/datafly.js" data-key="{{key}}" async
  onload="document.getElementById('tag-state').textContent = 'The tag is loaded.'"
  onerror="document.getElementById('tag-state').textContent = 'The tag did not load: is the node running?'"></script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_the_tag_with_the_key_and_escapes_what_it_fills_in() {
        let html = page(&SiteLinks {
            ingest: "http://127.0.0.1:8080".into(),
            key: "dk_live_<x>".into(),
            live_events: "http://127.0.0.1:8084/#/integration/int_1/live".into(),
            visitors: "http://127.0.0.1:9/_sim/visitors".into(),
        });
        assert!(html.contains(
            r#"<script src="http://127.0.0.1:8080/v1/datafly.js" data-key="dk_live_&lt;x&gt;" async"#
        ));
        assert!(html.contains(r#"href="http://127.0.0.1:8084/#/integration/int_1/live""#));
        assert!(!html.contains("{{"), "everything filled in");
    }
}
