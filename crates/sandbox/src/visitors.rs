//! The sandbox's visitor view: what Pendo would show after the events it accepted, as plain
//! server-rendered HTML at the sandbox's own address (no script).
//!
//! - `GET /_sim/visitors` (`?q=` searches visitorIds, case-insensitive, a part of one is enough):
//!   the visitors, most recently active first, with their account and event count;
//! - `GET /_sim/visitors/{visitorId}`: the visitor's metadata (the values of the visitor metadata
//!   records, later ones winning, as Pendo's `custom` fields), its account, and its activity
//!   timeline newest first (page views with their title and URL, track events with their
//!   properties), ordered by the events' own `timestamp`;
//! - `GET /_sim/accounts/{accountId}`: the account's metadata and the visitors whose events
//!   named it.
//!
//! It is built on each request from the accepted items (`Log::items`): Track items (route
//! `track`), visitor metadata (route `visitors`) and account metadata (route `accounts`), the
//! names of the Pendo fixture's routes. A sandbox playing another vendor shows a page saying so.
//! Every text from a request is escaped; ids in links are percent-encoded.

mod people;

use crate::record::AcceptedItem;
use people::{Activity, People};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Most timeline entries a visitor page shows (newest first), and most visitors a list shows.
const SHOWN: usize = 200;

/// `1 visitor`, `2 visitors`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment (all but unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes a percent-encoded path segment; `None` when it is not valid UTF-8 or a `%` is not
/// followed by two hex digits.
fn dec(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `2026-11-30 23:59:59 UTC` for epoch milliseconds.
fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A value as a cell shows it: strings bare, the rest as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{background:#2b1e4f;color:#fff;padding:10px 24px}header a{color:#fff;text-decoration:none;font-weight:600}\
header small{opacity:.75;margin-left:8px}main{max-width:1000px;margin:0 auto;padding:16px 24px}\
h1{font-size:22px;margin:8px 0 4px}h2{font-size:16px;margin:20px 0 8px}.sub{color:#5b6270;margin:0 0 12px}\
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e7}\
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eceff3;vertical-align:top}\
th{background:#f0f2f5;font-weight:600;font-size:12px;text-transform:uppercase;color:#5b6270}\
code,.mono{font-family:ui-monospace,monospace;font-size:13px}h1.mono{font-size:20px}\
form{margin:8px 0 16px}input{padding:6px 8px;width:320px;border:1px solid #b9c0cb;border-radius:4px}\
button{padding:6px 12px;border-radius:4px;border:1px solid #2b1e4f;background:#2b1e4f;color:#fff}\
ol.timeline{list-style:none;padding:0;margin:0}ol.timeline li{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 12px;margin:0 0 8px}\
.kind{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;padding:1px 6px;border-radius:3px;margin-right:6px}\
.page{background:#e3f0ff;color:#0b4f9c}.track{background:#efe7ff;color:#5a2ea6}.when{color:#5b6270;float:right;font-size:12px}\
.props{margin:6px 0 0;font-size:13px;width:auto}.props td,.props th{padding:2px 8px}\
.props th{text-transform:none;font-size:13px;background:none;color:#5b6270}.none{color:#5b6270}\
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}";

fn layout(vendor: &str, title: &str, body: &str) -> String {
    let mut chars = vendor.chars();
    let vendor = &chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect::<String>())
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · {} sandbox</title>\
         <style>{STYLE}</style></head><body><header><a href=\"/_sim/visitors\">{} sandbox · Visitors</a>\
         <small>what this sandbox accepted, as {} would show it</small></header><main>{body}</main></body></html>",
        esc(title),
        esc(vendor),
        esc(vendor),
        esc(vendor)
    )
}

fn search_form(q: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/_sim/visitors\" role=\"search\"><label for=\"q\">Search by visitorId </label>\
         <input id=\"q\" name=\"q\" value=\"{}\" placeholder=\"user-123 or _PENDO_T_…\" autocomplete=\"off\"> \
         <button type=\"submit\">Search</button></form>",
        esc(q)
    )
}

fn visitor_link(id: &str) -> String {
    format!(
        "<a class=\"mono\" href=\"/_sim/visitors/{}\">{}</a>",
        enc(id),
        esc(id)
    )
}

fn account_link(id: &str) -> String {
    format!(
        "<a class=\"mono\" href=\"/_sim/accounts/{}\">{}</a>",
        enc(id),
        esc(id)
    )
}

fn values_table(id: &str, values: &Map<String, Value>, empty: &str) -> String {
    if values.is_empty() {
        return format!("<p class=\"none\" id=\"{id}\">{}</p>", esc(empty));
    }
    let mut s = format!("<table id=\"{id}\"><tr><th>Field</th><th>Value</th></tr>");
    for (k, v) in values {
        let _ = write!(
            s,
            "<tr><td class=\"mono\">{}</td><td>{}</td></tr>",
            esc(k),
            esc(&shown(v))
        );
    }
    s.push_str("</table>");
    s
}

fn list_page(vendor: &str, people: &People, q: &str) -> String {
    let found = people.search(q);
    let mut s = String::from("<h1>Visitors</h1>");
    let _ = write!(
        s,
        "<p class=\"sub\">{}, {}. Anonymous visitors' ids start with <code>_PENDO_T_</code>.</p>",
        count(people.visitors.len(), "visitor"),
        count(people.accounts.len(), "account")
    );
    s.push_str(&search_form(q));
    if found.is_empty() {
        let why = if q.trim().is_empty() {
            "No visitor yet: nothing has been accepted. Send events through the node.".to_owned()
        } else {
            format!("No visitor matches “{}”.", q.trim())
        };
        let _ = write!(s, "<p class=\"none\" id=\"no-visitors\">{}</p>", esc(&why));
        return layout(vendor, "Visitors", &s);
    }
    s.push_str("<table id=\"visitors\"><tr><th>visitorId</th><th>Account</th><th>Events</th><th>Last active</th></tr>");
    for (id, v) in found.iter().take(SHOWN) {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            visitor_link(id),
            v.account.as_deref().map(account_link).unwrap_or_default(),
            v.events.len(),
            if v.last_ms > 0 {
                time(v.last_ms)
            } else {
                String::new()
            }
        );
    }
    s.push_str("</table>");
    if found.len() > SHOWN {
        let _ = write!(
            s,
            "<p class=\"none\">The {SHOWN} most recently active of {} shown: search to narrow.</p>",
            found.len()
        );
    }
    layout(vendor, "Visitors", &s)
}

fn activity_html(a: &Activity) -> String {
    let mut s = String::from("<li>");
    let _ = write!(s, "<span class=\"when\">{}</span>", time(a.at_ms));
    if a.event == "page_view" {
        let title = a
            .properties
            .get("title")
            .or_else(|| a.context.get("title"))
            .map(shown)
            .unwrap_or_default();
        let url = a
            .properties
            .get("url")
            .or_else(|| a.context.get("url"))
            .map(shown)
            .unwrap_or_default();
        let _ = write!(
            s,
            "<span class=\"kind page\">Page view</span><strong>{}</strong> <span class=\"mono\">{}</span>",
            esc(&title),
            esc(&url)
        );
    } else {
        let _ = write!(
            s,
            "<span class=\"kind track\">Track event</span><strong>{}</strong>",
            esc(&a.event)
        );
        if !a.properties.is_empty() {
            s.push_str("<table class=\"props\">");
            for (k, v) in &a.properties {
                let _ = write!(
                    s,
                    "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
                    esc(k),
                    esc(&shown(v))
                );
            }
            s.push_str("</table>");
        }
    }
    if let Some(acc) = &a.account {
        let _ = write!(s, "<div class=\"none\">account {}</div>", account_link(acc));
    }
    s.push_str("</li>");
    s
}

fn visitor_page(vendor: &str, people: &People, id: &str) -> Option<String> {
    let v = people.visitors.get(id)?;
    let mut s = String::from("<p><a href=\"/_sim/visitors\">← Visitors</a></p>");
    let _ = write!(s, "<h1 class=\"mono\" id=\"visitor-id\">{}</h1>", esc(id));
    let kind = if id.starts_with("_PENDO_T_") {
        "Anonymous visitor"
    } else {
        "Visitor"
    };
    let _ = write!(
        s,
        "<p class=\"sub\">{kind} · {} · account {}</p>",
        count(v.events.len(), "event"),
        v.account
            .as_deref()
            .map_or_else(|| "none".to_owned(), account_link)
    );
    s.push_str("<div class=\"grid\"><section><h2>Activity (newest first)</h2>");
    if v.events.is_empty() {
        s.push_str("<p class=\"none\">No events: only metadata was received.</p>");
    } else {
        s.push_str("<ol class=\"timeline\" id=\"timeline\">");
        for a in v.events.iter().take(SHOWN) {
            s.push_str(&activity_html(a));
        }
        s.push_str("</ol>");
        if v.events.len() > SHOWN {
            let _ = write!(
                s,
                "<p class=\"none\">The newest {SHOWN} of {} shown.</p>",
                v.events.len()
            );
        }
    }
    s.push_str("</section><section><h2>Visitor metadata</h2>");
    s.push_str(&values_table(
        "metadata",
        &v.values,
        "No metadata: no identify has reached Pendo for this visitor.",
    ));
    s.push_str("</section></div>");
    Some(layout(vendor, id, &s))
}

fn account_page(vendor: &str, people: &People, id: &str) -> Option<String> {
    let a = people.accounts.get(id)?;
    let mut s = String::from("<p><a href=\"/_sim/visitors\">← Visitors</a></p>");
    let _ = write!(
        s,
        "<h1 class=\"mono\" id=\"account-id\">{}</h1><p class=\"sub\">Account · {}</p>",
        esc(id),
        count(a.visitors.len(), "visitor")
    );
    s.push_str("<div class=\"grid\"><section><h2>Visitors</h2>");
    if a.visitors.is_empty() {
        s.push_str("<p class=\"none\">No event has named this account yet.</p>");
    } else {
        s.push_str("<table id=\"account-visitors\"><tr><th>visitorId</th><th>Events</th><th>Last active</th></tr>");
        // The most recently active first, as many as a list shows.
        let mut rows: Vec<(&String, usize, u64)> = a
            .visitors
            .iter()
            .map(|vid| {
                let (n, last) = people
                    .visitors
                    .get(vid)
                    .map_or((0, 0), |v| (v.events.len(), v.last_ms));
                (vid, n, last)
            })
            .collect();
        rows.sort_by_key(|&(vid, _, last)| (std::cmp::Reverse(last), vid));
        for (vid, n, last) in rows.iter().take(SHOWN) {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{n}</td><td>{}</td></tr>",
                visitor_link(vid),
                if *last > 0 {
                    time(*last)
                } else {
                    String::new()
                }
            );
        }
        s.push_str("</table>");
        if rows.len() > SHOWN {
            let _ = write!(
                s,
                "<p class=\"none\">The {SHOWN} most recently active of {} shown.</p>",
                rows.len()
            );
        }
    }
    s.push_str("</section><section><h2>Account metadata</h2>");
    s.push_str(&values_table(
        "metadata",
        &a.values,
        "No metadata: no group call has reached Pendo for this account.",
    ));
    s.push_str("</section></div>");
    Some(layout(vendor, id, &s))
}

fn not_found(vendor: &str, what: &str, id: &str) -> String {
    let body = format!(
        "<p><a href=\"/_sim/visitors\">← Visitors</a></p><h1>No such {what}</h1>\
         <p class=\"none\" id=\"not-found\">Nothing accepted so far names the {what} “{}”.</p>",
        esc(id)
    );
    layout(vendor, "Not found", &body)
}

/// Whether `path` is one of the visitor view's pages.
pub(crate) fn is_page(path: &str) -> bool {
    path == "/_sim/visitors"
        || path.starts_with("/_sim/visitors/")
        || path.starts_with("/_sim/accounts/")
}

/// The page at `path` (with `query`), as status and HTML, from the accepted `items` of a
/// sandbox playing `vendor` (`pendo_like`: whether its fixture has Pendo's `track`, `visitors`
/// and `accounts` routes; when not, a page saying the view reads Pendo's).
pub(crate) fn page(
    vendor: &str,
    pendo_like: bool,
    items: &[AcceptedItem],
    path: &str,
    query: Option<&str>,
) -> (u16, String) {
    if !pendo_like {
        let body = format!(
            "<h1>Visitors</h1><p class=\"none\" id=\"no-visitors\">This sandbox plays {}: the visitor view reads \
             Pendo's Track and metadata requests. What it accepted is at <a href=\"/_sim/items\">/_sim/items</a>.</p>",
            esc(vendor)
        );
        return (200, layout(vendor, "Visitors", &body));
    }
    let people = People::from_items(items);
    if path == "/_sim/visitors" {
        let q = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "q")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        return (200, list_page(vendor, &people, &q));
    }
    let (what, rest) = match path.strip_prefix("/_sim/visitors/") {
        Some(rest) => ("visitor", rest),
        None => (
            "account",
            path.strip_prefix("/_sim/accounts/").unwrap_or_default(),
        ),
    };
    let Some(id) = dec(rest) else {
        return (400, not_found(vendor, what, rest));
    };
    let shown = if what == "visitor" {
        visitor_page(vendor, &people, &id)
    } else {
        account_page(vendor, &people, &id)
    };
    match shown {
        Some(html) => (200, html),
        None => (404, not_found(vendor, what, &id)),
    }
}

#[cfg(test)]
#[path = "visitors_tests.rs"]
mod tests;
