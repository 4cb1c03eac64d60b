//! [`decide`]: one vendor answer against a response policy. Pure.
//!
//! Rules are tried in order; the first that matches decides. A rule matches when its `status`
//! list holds the status (a code, or a class `"2xx"`), its `body` test (if any) holds, and, for
//! a `partial` rule, its selectors name at least one of the request's items: a partial rule
//! that names none does not match, so the next rule decides (Heap: a 400 naming `events[i]` is
//! partial, any other 400 falls through to `split`).
//!
//! Selectors of indexes (into the request's items; out-of-range indexes are ignored):
//! - a dotted JSON path to an array of numbers (`silenced_events`, `throttled_events`);
//! - a dotted path ending in `.*`: every array among that object's values, flattened
//!   (`events_with_invalid_fields.*` over `{"time": [3], "event_type": [1, 4]}` → 1, 3, 4);
//! - `text:<marker>`: the body as text, the number after every `<marker>`
//!   (`text:events[` over `postBody.events[3].properties should be object` → 3).
//!
//! No rule matching: [`default_decision`] (2xx delivered, 429 throttled retry, 408 and 5xx
//! retry, any other status dead-letter).

use super::{BodyMatch, Decision, ResponseRule, RuleOutcome, StatusMatch, WarnIf};
use serde_json::Value;

/// What an answer comes to under `rules` (the default when no rule matches). `items` is the
/// number of items the request carried.
pub fn decide(rules: &[ResponseRule], status: u16, body: &[u8], items: usize) -> Decision {
    decide_rule(rules, status, body, items).unwrap_or_else(|| default_decision(status))
}

/// The decision of the first matching rule, or `None` when no rule matches (the caller may
/// consult more, e.g. a troubleshooting table, before [`default_decision`]).
pub fn decide_rule(
    rules: &[ResponseRule],
    status: u16,
    body: &[u8],
    items: usize,
) -> Option<Decision> {
    let json = std::cell::OnceCell::new();
    let parsed = || -> Option<&Value> {
        json.get_or_init(|| serde_json::from_slice::<Value>(body).ok())
            .as_ref()
    };
    for rule in rules {
        if !rule.status.iter().any(|s| status_matches(s, status)) {
            continue;
        }
        let body_ok = match &rule.body {
            None => true,
            Some(BodyMatch::Contains(text)) => contains(body, text.as_bytes()),
            Some(BodyMatch::Has(path)) => parsed()
                .and_then(|v| at(v, path))
                .is_some_and(|v| !v.is_null()),
        };
        if !body_ok {
            continue;
        }
        let diagnosis = rule.diagnosis.clone();
        let decision = match rule.outcome {
            RuleOutcome::Delivered => Decision::Delivered {
                warnings: warnings(&rule.warn_if, parsed()),
            },
            RuleOutcome::Retry => Decision::Retry { throttled: false },
            RuleOutcome::Throttle => Decision::Retry { throttled: true },
            RuleOutcome::Pause => Decision::Pause {
                code: diagnosis.unwrap_or_else(|| format!("status_{status}")),
            },
            RuleOutcome::DeadLetter => Decision::DeadLetter { diagnosis },
            RuleOutcome::Split => Decision::Split,
            RuleOutcome::Drop => Decision::Drop {
                reason: diagnosis.unwrap_or_else(|| format!("status_{status}")),
            },
            RuleOutcome::Partial => {
                let v = parsed();
                let dead = indexes(&rule.drop_indexes, v, body, items);
                let (mut delayed, delay_s) = match &rule.delay_indexes {
                    Some(d) => (indexes(&d.from, v, body, items), d.seconds),
                    None => (Vec::new(), 0),
                };
                delayed.retain(|i| !dead.contains(i));
                if dead.is_empty() && delayed.is_empty() {
                    continue;
                }
                Decision::Partial {
                    dead,
                    delayed,
                    delay_s,
                    diagnosis,
                }
            }
        };
        return Some(decision);
    }
    None
}

/// The answer's meaning when no rule speaks: 2xx delivered; 429 retry, throttled; 408 and 5xx
/// retry; anything else dead-letters.
pub fn default_decision(status: u16) -> Decision {
    match status {
        200..=299 => Decision::Delivered {
            warnings: Vec::new(),
        },
        429 => Decision::Retry { throttled: true },
        408 | 500..=599 => Decision::Retry { throttled: false },
        _ => Decision::DeadLetter { diagnosis: None },
    }
}

fn status_matches(m: &StatusMatch, status: u16) -> bool {
    match m {
        StatusMatch::Code(c) => *c == status,
        StatusMatch::Class(class) => {
            let b = class.as_bytes();
            b.len() == 3
                && b[1..].eq_ignore_ascii_case(b"xx")
                && b[0].is_ascii_digit()
                && u16::from(b[0] - b'0') == status / 100
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// The value at a dotted path (`a.b.c`; a numeric segment indexes an array).
fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// The warnings of a delivered answer: `code: message` for each bound passed.
fn warnings(rules: &[WarnIf], body: Option<&Value>) -> Vec<String> {
    let Some(body) = body else {
        return Vec::new();
    };
    rules
        .iter()
        .filter_map(|w| {
            let n = at(body, &w.path)?.as_u64()?;
            (n > w.gt).then(|| {
                format!(
                    "{}: {}",
                    w.warning,
                    w.message.replace("{n}", &n.to_string())
                )
            })
        })
        .collect()
}

/// The indexes the selectors name, below `items`, sorted and without repeats.
fn indexes(selectors: &[String], json: Option<&Value>, body: &[u8], items: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for sel in selectors {
        if let Some(marker) = sel.strip_prefix("text:") {
            text_indexes(body, marker.as_bytes(), &mut out);
            continue;
        }
        let Some(json) = json else { continue };
        let (path, flatten) = match sel.strip_suffix(".*") {
            Some(p) => (p, true),
            None => (sel.as_str(), false),
        };
        let Some(v) = at(json, path) else { continue };
        match v {
            Value::Array(a) => numbers(a, &mut out),
            Value::Object(m) if flatten => {
                for child in m.values() {
                    if let Value::Array(a) = child {
                        numbers(a, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    out.retain(|&i| i < items);
    out.sort_unstable();
    out.dedup();
    out
}

fn numbers(a: &[Value], out: &mut Vec<usize>) {
    out.extend(
        a.iter()
            .filter_map(Value::as_u64)
            .filter_map(|n| usize::try_from(n).ok()),
    );
}

/// The decimal number right after each `marker` in `body`.
fn text_indexes(body: &[u8], marker: &[u8], out: &mut Vec<usize>) {
    if marker.is_empty() {
        return;
    }
    let mut rest = body;
    while let Some(pos) = rest.windows(marker.len()).position(|w| w == marker) {
        rest = &rest[pos + marker.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let Some(n) = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        {
            out.push(n);
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
