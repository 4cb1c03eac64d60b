//! The demo's traffic: sessions that look like real use of a B2B product, stamped now.
//!
//! A visitor lands anonymously (an `anonymousId`, no `userId`), browses two marketing pages,
//! signs in (`identify` with the `userId`, its traits and its `accountId`, then `group` for the
//! account), and then uses the product: page views and feature `track` events, each with the
//! `userId`. The anonymous pages and the sign-in go out in one batch, as a tag flushes its queue
//! when the sign-in navigates away: the identify's link is stored before those events are
//! delivered, so Pendo gets the anonymous pages under the signed-in visitor and its account.
//!
//! What the demo means to show, and nothing else, gets a warning or a drop:
//! - one session in [`DECLINE_EVERY`] declines analytics consent (`context.consent.analytics`
//!   `false`): its events are dropped for Pendo with reason `consent`;
//! - one track event every [`RESERVED_EVERY`] ticks carries a property named `id`, which Pendo
//!   reserves: it goes out as `custom_id` with a `reserved_property` warning.
//!
//! Deterministic from a seed (the tests run it), with each run's messageIds its own.

use serde_json::{Value, json};
use signal_core::rand::SplitMix64;
use signal_core::sample::{AGENTS, LOCALES};

/// One session in this many declines analytics consent.
pub const DECLINE_EVERY: u64 = 10;
/// One track event with a reserved property every this many ticks (seconds), from tick 2.
pub const RESERVED_EVERY: u64 = 30;

const ACCOUNTS: &[(&str, &str, &str, u32)] = &[
    ("acme-corp", "manufacturing", "enterprise", 1200),
    ("globex", "energy", "pro", 340),
    ("initech", "software", "starter", 45),
    ("umbrella", "pharma", "enterprise", 5000),
    ("hooli", "internet", "pro", 800),
];
const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Donald", "Frances", "John",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Knuth", "Allen",
    "Backus",
];
const APP_PAGES: &[(&str, &str)] = &[
    ("/dashboard", "Dashboard"),
    ("/reports/weekly", "Weekly report"),
    ("/projects/42/board", "Project board"),
    ("/settings/team", "Team settings"),
    ("/integrations", "Integrations"),
];

/// One visitor's visit.
struct Session {
    anon: String,
    user: String,
    name: String,
    account: usize,
    agent: &'static str,
    locale: &'static str,
    consent: bool,
    /// Ticks of product use left after the sign-in.
    left: u32,
    signed_in: bool,
    /// The page it is on: path, title, URL (the context of its track events).
    at: (Value, Value, Value),
}

/// The sessions in progress, and what each tick sends.
pub struct Sessions {
    state: SplitMix64,
    run: u64,
    tick: u64,
    sent: u64,
    started: u64,
    active: Vec<Session>,
    /// This tick's reserved-property event is still to be sent.
    reserved: bool,
}

impl Sessions {
    /// Sessions from `seed` (also what makes this run's messageIds its own).
    pub fn new(seed: u64) -> Self {
        Self {
            state: SplitMix64::new(seed ^ 0x5eed_0dd5_1234_abcd),
            run: seed & 0xffff_ffff,
            tick: 0,
            sent: 0,
            started: 0,
            active: Vec::new(),
            reserved: false,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state.next_u64()
    }

    fn below(&mut self, n: usize) -> usize {
        self.state.below(n)
    }

    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    fn start(&mut self) -> Session {
        self.started += 1;
        let n = self.started;
        let (first, last) = (self.below(FIRST.len()), self.below(LAST.len()));
        let account = self.below(ACCOUNTS.len());
        let left = 3 + self.below(6) as u32;
        let agent = AGENTS[self.below(AGENTS.len())];
        let locale = LOCALES[self.below(LOCALES.len())];
        Session {
            anon: format!("anon-{:08x}-{n:04}", self.next_u64() as u32),
            user: format!("{}.{}-{:x}{n}", FIRST[first], LAST[last], self.run & 0xfff)
                .to_lowercase(),
            name: format!("{} {}", FIRST[first], LAST[last]),
            account,
            agent,
            locale,
            consent: !n.is_multiple_of(DECLINE_EVERY),
            left,
            signed_in: false,
            at: (
                json!("/"),
                json!("Home | Example"),
                json!("https://www.example.com/"),
            ),
        }
    }

    /// The events of the next tick (about `rate` of them), stamped up to `now_ms`.
    pub fn tick(&mut self, rate: u32, now_ms: i64) -> Vec<Value> {
        self.tick += 1;
        // A session sends about two events a tick once signed in, four when it starts.
        let want = (rate as usize).div_ceil(2).max(1);
        let mut out = Vec::new();
        let mut active = std::mem::take(&mut self.active);
        active.retain(|s| s.left > 0);
        while active.len() < want {
            active.push(self.start());
        }
        self.reserved = self.tick % RESERVED_EVERY == 2;
        for s in &mut active {
            if out.len() >= rate.max(4) as usize {
                break;
            }
            self.session_tick(s, now_ms, &mut out);
        }
        self.active = active;
        out
    }

    fn session_tick(&mut self, s: &mut Session, now_ms: i64, out: &mut Vec<Value>) {
        if !s.signed_in {
            s.signed_in = true;
            let (acct, industry, plan, employees) = ACCOUNTS[s.account];
            out.push(self.event(
                s,
                now_ms - 3_000,
                false,
                page("/", "Home", "https://www.google.com/"),
            ));
            out.push(self.event(s, now_ms - 2_000, false, page("/pricing", "Pricing", "")));
            let seats = 1 + self.below(40);
            out.push(self.event(
                s,
                now_ms - 1_000,
                true,
                json!({"type": "identify", "traits": {"name": s.name, "plan": plan,
                       "accountId": acct, "seats": seats, "locale": s.locale}}),
            ));
            out.push(self.event(
                s,
                now_ms - 900,
                true,
                json!({"type": "group", "groupId": acct,
                       "traits": {"industry": industry, "plan": plan, "employees": employees}}),
            ));
            return;
        }
        s.left -= 1;
        let (path, title) = APP_PAGES[self.below(APP_PAGES.len())];
        out.push(self.event(s, now_ms - 500, true, page(path, title, "")));
        let track = if std::mem::take(&mut self.reserved) {
            json!({"type": "track", "event": "Report Exported",
                   "properties": {"id": format!("rep-{}", self.below(10_000)), "format": "csv"}})
        } else {
            self.feature()
        };
        out.push(self.event(s, now_ms, true, track));
    }

    fn feature(&mut self) -> Value {
        match self.below(8) {
            0 => {
                let sku = 100 + self.below(900);
                json!({"type": "track", "event": "Product Viewed", "properties": {
                    "product_id": format!("prod-{sku}"), "sku": format!("SKU-{sku}"),
                    "name": format!("Seat pack {sku}"), "category": "Add-ons",
                    "price": 49.0, "currency": "USD"}})
            }
            1 => {
                let sku = 100 + self.below(900);
                json!({"type": "track", "event": "Order Completed", "properties": {
                    "order_id": format!("ord-{:08x}", self.next_u64() as u32), "total": 49.0,
                    "currency": "USD", "products": [{"product_id": format!("prod-{sku}"),
                    "name": format!("Seat pack {sku}"), "price": 49.0, "quantity": 1}]}})
            }
            2 => json!({"type": "track", "event": "Report Exported",
                        "properties": {"format": self.pick(&["csv", "pdf", "xlsx"]), "rows": self.below(5_000)}}),
            3 => json!({"type": "track", "event": "Invite Sent",
                        "properties": {"invitee_role": self.pick(&["viewer", "editor"])}}),
            4 => json!({"type": "track", "event": "Dashboard Shared",
                        "properties": {"channel": self.pick(&["link", "email", "slack"])}}),
            _ => json!({"type": "track", "event": "feature_used",
                        "properties": {"feature": self.pick(&["filter", "bulk-edit", "search", "comments"]),
                                       "duration_ms": self.below(30_000)}}),
        }
    }

    /// `body` with the session's identity, context, timestamp and a messageId of this run.
    fn event(&mut self, s: &mut Session, at_ms: i64, known: bool, mut body: Value) -> Value {
        self.sent += 1;
        let mut ts = String::new();
        signal_core::time::format_rfc3339(at_ms, &mut ts);
        if body["type"] == "page" {
            let p = &body["properties"];
            s.at = (p["path"].clone(), p["title"].clone(), p["url"].clone());
        }
        let (path, title, url) = s.at.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("anonymousId".into(), s.anon.clone().into());
            if known {
                o.insert("userId".into(), s.user.clone().into());
            }
            o.insert("timestamp".into(), ts.clone().into());
            o.insert("sentAt".into(), ts.into());
            o.insert(
                "messageId".into(),
                format!("demo-{:08x}-{}", self.run, self.sent).into(),
            );
            o.insert(
                "context".into(),
                json!({"ip": "203.0.113.7", "userAgent": s.agent, "locale": s.locale,
                       "library": {"name": "signal-edge demo", "version": env!("CARGO_PKG_VERSION")},
                       "page": {"path": path, "title": title, "url": url},
                       "consent": {"analytics": s.consent}}),
            );
        }
        body
    }
}

fn page(path: &str, title: &str, referrer: &str) -> Value {
    let site = if path == "/" || path == "/pricing" {
        "https://www.example.com"
    } else {
        "https://app.example.com"
    };
    json!({"type": "page", "name": title, "properties": {
        "path": path, "title": format!("{title} | Example"), "url": format!("{site}{path}"),
        "referrer": referrer}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_land_anonymously_sign_in_then_use_the_product() {
        let mut s = Sessions::new(7);
        let mut all = Vec::new();
        for t in 0..8 {
            let tick = s.tick(20, 1_764_547_200_000 + t * 1000);
            assert!(
                (4..=23).contains(&tick.len()),
                "about the rate: {}",
                tick.len()
            );
            all.extend(tick);
        }
        let mut sessions: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
        for e in &all {
            sessions
                .entry(e["anonymousId"].to_string())
                .or_default()
                .push(e);
        }
        assert!(sessions.len() >= 10, "{}", sessions.len());
        for one in sessions.values() {
            let kinds: Vec<&str> = one.iter().filter_map(|e| e["type"].as_str()).collect();
            assert_eq!(kinds[..4], ["page", "page", "identify", "group"], "{one:?}");
            assert!(
                one[0].get("userId").is_none() && one[1].get("userId").is_none(),
                "anonymous pages"
            );
            assert_eq!(one[2]["userId"], one[3]["userId"]);
            assert_eq!(one[2]["traits"]["accountId"], one[3]["groupId"]);
            for e in &one[4..] {
                assert_eq!(e["userId"], one[2]["userId"], "signed in: {e}");
                assert!(matches!(e["type"].as_str(), Some("page" | "track")), "{e}");
            }
        }
        let ids: std::collections::BTreeSet<_> =
            all.iter().map(|e| e["messageId"].to_string()).collect();
        assert_eq!(ids.len(), all.len(), "messageIds differ");
    }

    #[test]
    fn only_the_meant_events_decline_consent_or_carry_a_reserved_property() {
        let mut s = Sessions::new(3);
        let mut all = Vec::new();
        for t in 0..60 {
            all.extend(s.tick(20, 1_764_547_200_000 + t * 1000));
        }
        let declined = all
            .iter()
            .filter(|e| e["context"]["consent"]["analytics"] == false)
            .count();
        assert!(
            declined > 0 && declined * 6 < all.len(),
            "{declined} of {}",
            all.len()
        );
        let reserved: Vec<_> = all
            .iter()
            .filter(|e| e["properties"].get("id").is_some())
            .collect();
        assert_eq!(reserved.len(), 2, "ticks 2 and 32");
        for e in &all {
            for key in ["email", "role", "full_name"] {
                assert!(e["traits"].get(key).is_none(), "{e}");
            }
            assert!(
                e["traits"].get("name").is_none() || e["type"] == "identify",
                "{e}"
            );
        }
    }
}
