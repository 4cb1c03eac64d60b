//! Realistic sample events, generated deterministically from a seed: the benchmark's mix, the
//! fuzzer's seeds, and (later) the demo's stream.
//!
//! The mix is what a B2B product sends: 40% page, 40% track (product views, orders with their
//! products, feature usage), 15% identify, 5% group; each event 300 B to 2 KB of the JSON that
//! analytics.js and Segment's server libraries send (camelCase, ISO timestamps, a context with
//! library, page, user agent and consent).

use crate::event::EventType;
use crate::rand::SplitMix64;
use std::fmt::Write as _;

/// A deterministic stream of sample events.
pub struct Samples {
    state: SplitMix64,
    count: u64,
    /// Share of events (0.0 to 1.0) sent with analytics consent `false`.
    pub consent_withheld: f64,
}

const PAGES: &[(&str, &str)] = &[
    ("/dashboard", "Dashboard"),
    ("/settings", "Settings"),
    ("/reports/weekly", "Weekly report"),
    ("/billing", "Billing"),
    ("/projects/42/board", "Project board"),
    ("/integrations", "Integrations"),
];
const FEATURES: &[&str] = &[
    "feature_used",
    "trial_started",
    "subscription_upgraded",
    "Report Exported",
    "Invite Sent",
    "Dashboard Shared",
];
const PLANS: &[&str] = &["free", "starter", "pro", "enterprise"];
const ACCOUNTS: &[&str] = &[
    "acme-corp",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark-ind",
];
/// Browsers' user agents the samples (and the demo's sessions) carry.
pub const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
];
/// Locales the samples (and the demo's sessions) carry.
pub const LOCALES: &[&str] = &["en-US", "de-DE", "fr-FR", "ja-JP", "en-GB"];

impl Samples {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: SplitMix64::new(seed ^ 0x9e37_79b9_7f4a_7c15),
            count: 0,
            consent_withheld: 0.02,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state.next_u64()
    }

    fn below(&mut self, n: usize) -> usize {
        self.state.below(n)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    /// Generates `n` events.
    pub fn take(&mut self, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.next_event().1).collect()
    }

    /// The next event's type and JSON.
    pub fn next_event(&mut self) -> (EventType, Vec<u8>) {
        self.count += 1;
        let roll = self.below(100);
        let kind = match roll {
            0..40 => EventType::Page,
            40..80 => EventType::Track,
            80..95 => EventType::Identify,
            _ => EventType::Group,
        };
        let user = self.below(5_000);
        let known = self.chance(0.7);
        let mut s = String::with_capacity(1024);
        let _ = write!(s, "{{\"type\":\"{}\",", kind.as_str());
        let _ = write!(
            s,
            "\"anonymousId\":\"{:016x}-{:04x}-4{:03x}\",",
            self.next_u64(),
            user,
            user % 4096
        );
        if known || matches!(kind, EventType::Identify | EventType::Group) {
            let _ = write!(s, "\"userId\":\"user-{user}\",");
        }
        let (path, title) = PAGES[self.below(PAGES.len())];
        match kind {
            EventType::Page => {
                let _ = write!(
                    s,
                    "\"name\":\"{title}\",\"properties\":{{\"path\":\"{path}\",\"referrer\":\"https://www.google.com/\",\"search\":\"\",\"title\":\"{title} | Example\",\"url\":\"https://app.example.com{path}\"}},"
                );
            }
            EventType::Track => self.track_body(&mut s),
            EventType::Identify => {
                let account = ACCOUNTS[user % ACCOUNTS.len()];
                let plan = self.pick(PLANS);
                let _ = write!(
                    s,
                    "\"traits\":{{\"email\":\"user{user}@example.com\",\"name\":\"User {user}\",\"plan\":\"{plan}\",\"accountId\":\"{account}\",\"seats\":{},\"createdAt\":\"2025-0{}-1{}T10:00:00Z\",\"role\":\"admin\"}},",
                    1 + self.below(200),
                    1 + self.below(9),
                    self.below(10)
                );
            }
            _ => {
                let account = ACCOUNTS[user % ACCOUNTS.len()];
                let _ = write!(
                    s,
                    "\"groupId\":\"{account}\",\"traits\":{{\"name\":\"{account} Inc.\",\"industry\":\"saas\",\"employees\":{},\"plan\":\"{}\",\"monthly_value\":{}.5}},",
                    10 + self.below(5_000),
                    self.pick(PLANS),
                    self.below(20_000)
                );
            }
        }
        let consent = !self.chance(self.consent_withheld);
        let ua = self.pick(AGENTS);
        let locale = self.pick(LOCALES);
        let _ = write!(
            s,
            "\"context\":{{\"ip\":\"203.0.113.{}\",\"userAgent\":\"{ua}\",\"locale\":\"{locale}\",\"library\":{{\"name\":\"analytics.js\",\"version\":\"next-1.72.0\"}},\"page\":{{\"path\":\"{path}\",\"referrer\":\"\",\"search\":\"\",\"title\":\"{title} | Example\",\"url\":\"https://app.example.com{path}\"}},\"consent\":{{\"analytics\":{consent}}}}},",
            self.below(255)
        );
        let ms = 1_764_140_000_000 + self.count as i64 * 37;
        let mut ts = String::new();
        crate::time::format_rfc3339(ms, &mut ts);
        let _ = write!(
            s,
            "\"messageId\":\"ajs-next-{:016x}{:08x}\",\"timestamp\":\"{ts}\",\"sentAt\":\"{ts}\",\"integrations\":{{}}}}",
            self.next_u64(),
            self.count
        );
        (kind, s.into_bytes())
    }

    fn track_body(&mut self, s: &mut String) {
        match self.below(10) {
            0..3 => {
                let sku = self.below(900) + 100;
                let _ = write!(
                    s,
                    "\"event\":\"Product Viewed\",\"properties\":{{\"product_id\":\"prod-{sku}\",\"sku\":\"SKU-{sku}\",\"category\":\"Add-ons\",\"name\":\"Seat pack {sku}\",\"brand\":\"Example\",\"variant\":\"annual\",\"price\":{}.99,\"currency\":\"USD\"}},",
                    self.below(500)
                );
            }
            3..5 => {
                let n = 1 + self.below(6);
                let _ = write!(
                    s,
                    "\"event\":\"Order Completed\",\"properties\":{{\"order_id\":\"ord-{:08x}\",\"total\":{}.00,\"currency\":\"USD\",\"products\":[",
                    self.next_u64() as u32,
                    n * 49
                );
                for i in 0..n {
                    if i > 0 {
                        s.push(',');
                    }
                    let sku = self.below(900) + 100;
                    let _ = write!(
                        s,
                        "{{\"product_id\":\"prod-{sku}\",\"sku\":\"SKU-{sku}\",\"name\":\"Seat pack {sku}\",\"price\":49.00,\"quantity\":1}}"
                    );
                }
                s.push_str("]},");
            }
            _ => {
                let event = self.pick(FEATURES);
                let _ = write!(
                    s,
                    "\"event\":\"{event}\",\"properties\":{{\"feature\":\"{}\",\"plan\":\"{}\",\"duration_ms\":{},\"first_time\":{}}},",
                    self.pick(&["export", "share", "filter", "bulk-edit"]),
                    self.pick(PLANS),
                    self.below(30_000),
                    self.chance(0.2)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Parser, Shape};

    #[test]
    fn the_mix_is_valid_sized_and_deterministic() {
        let events = Samples::new(7).take(2_000);
        assert_eq!(events, Samples::new(7).take(2_000));
        let mut parser = Parser::new();
        let mut counts = [0usize; 4];
        for e in &events {
            assert!((300..=2048).contains(&e.len()), "{} bytes", e.len());
            let mut buf = e.clone();
            let doc = parser.parse(&mut buf, Shape::Event(None)).expect("valid");
            let ev = doc.event(0).expect("valid");
            counts[match ev.kind {
                EventType::Page => 0,
                EventType::Track => 1,
                EventType::Identify => 2,
                _ => 3,
            }] += 1;
        }
        // 40/40/15/5 within sampling noise.
        assert!((700..900).contains(&counts[0]), "{counts:?}");
        assert!((700..900).contains(&counts[1]), "{counts:?}");
        assert!((220..380).contains(&counts[2]), "{counts:?}");
        assert!((50..150).contains(&counts[3]), "{counts:?}");
    }
}
