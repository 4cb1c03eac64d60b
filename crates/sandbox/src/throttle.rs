//! Per-id throttling: more than `max_items` items for one id (`user_id`, `device_id`) within
//! `window_ms` refuses the whole request with the fixture's `throttled` answer, naming the ids
//! (with their item counts in the window) and the indexes of their items. Only accepted items
//! count towards the window.

use crate::answer::Vars;
use crate::fixture::Throttle;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};

/// The items each id had accepted, with when.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    seen: HashMap<(String, String), VecDeque<(u64, u64)>>,
}

fn id_of(item: &Value, field: &str) -> Option<String> {
    match item.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Windows {
    /// Admits `items` (counting them) or refuses them all with the `throttled` variables.
    pub(crate) fn admit(
        &mut self,
        rule: &Throttle,
        items: &[Value],
        now_ms: u64,
    ) -> Result<(), Vars> {
        let since = now_ms.saturating_sub(rule.window_ms);
        let mut here: HashMap<(String, String), u64> = HashMap::new();
        for item in items {
            for field in &rule.by {
                if let Some(id) = id_of(item, field) {
                    *here.entry((field.clone(), id)).or_default() += 1;
                }
            }
        }
        let mut over: HashMap<(String, String), u64> = HashMap::new();
        for (key, n) in &here {
            let before = self.seen.get_mut(key).map_or(0, |q| {
                while q.front().is_some_and(|(at, _)| *at < since) {
                    q.pop_front();
                }
                q.iter().map(|(_, n)| n).sum::<u64>()
            });
            if before + n > rule.max_items {
                over.insert(key.clone(), before + n);
            }
        }
        if over.is_empty() {
            for (key, n) in here {
                self.seen.entry(key).or_default().push_back((now_ms, n));
            }
            return Ok(());
        }
        let indexes: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                rule.by
                    .iter()
                    .any(|f| id_of(item, f).is_some_and(|id| over.contains_key(&(f.clone(), id))))
            })
            .map(|(i, _)| i)
            .collect();
        let mut vars = Vars::new().with("throttled_indexes", indexes);
        for field in &rule.by {
            let ids: Map<String, Value> = over
                .iter()
                .filter(|((f, _), _)| f == field)
                .map(|((_, id), n)| (id.clone(), Value::from(*n)))
                .collect();
            vars.set(&format!("throttled.{field}"), Value::Object(ids));
        }
        Err(vars)
    }

    /// Forgets every window.
    pub(crate) fn clear(&mut self) {
        self.seen.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_hot_id_is_refused_and_named_others_are_not_counted() {
        let rule = Throttle {
            by: vec!["user_id".into(), "device_id".into()],
            max_items: 2,
            window_ms: 1000,
        };
        let mut w = Windows::default();
        let a = json!({"user_id": "alice"});
        let b = json!({"user_id": "bobby", "device_id": "d-1"});
        assert!(w.admit(&rule, &[a.clone(), b.clone()], 10).is_ok());
        let refused = w
            .admit(&rule, &[b.clone(), a.clone(), a.clone()], 20)
            .expect_err("alice has 3");
        assert_eq!(refused.get("throttled.user_id"), Some(&json!({"alice": 3})));
        assert_eq!(refused.get("throttled.device_id"), Some(&json!({})));
        assert_eq!(refused.get("throttled_indexes"), Some(&json!([1, 2])));
        assert!(
            w.admit(&rule, std::slice::from_ref(&a), 30).is_ok(),
            "the refused items were not counted"
        );
        assert!(
            w.admit(&rule, &[a.clone(), a], 2000).is_ok(),
            "the window moved on"
        );
    }
}
