//! Answers: a fixture's templates filled with the variables of one request (`${items}`,
//! `${why}`, `${invalid_fields}`, ...), and the lookup of an answer by name (the route's, the
//! fixture's, a fallback, a default).

use crate::fixture::{Answer, Fixture, Route};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The variables of one answer.
#[derive(Debug, Default)]
pub(crate) struct Vars(Map<String, Value>);

impl Vars {
    pub(crate) fn new() -> Vars {
        Vars(Map::new())
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<Value>) -> &mut Vars {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    pub(crate) fn with(mut self, name: &str, value: impl Into<Value>) -> Vars {
        self.set(name, value);
        self
    }

    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn text(&self, name: &str) -> String {
        match self.0.get(name) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        }
    }
}

/// The `${name}`s in `text`, in order.
pub(crate) fn variables(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find("${")?;
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        rest = &after[end + 1..];
        Some(&after[..end])
    })
}

/// `text` with each `${name}` replaced by its value's text (unknown: empty).
pub(crate) fn fill(text: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push_str(&rest[..start]);
        out.push_str(&vars.text(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn fill_json(v: &Value, vars: &Vars) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && !name.contains('}')
            {
                return vars.0.get(name).cloned().unwrap_or(Value::Null);
            }
            if s.contains("${") {
                Value::String(fill(s, vars))
            } else {
                v.clone()
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| fill_json(v, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A filled answer, ready to send.
#[derive(Debug)]
pub(crate) struct Filled {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// Fills `answer` with `vars`.
pub(crate) fn render(answer: &Answer, vars: &Vars) -> Filled {
    let (content_type, body) = match (&answer.json, &answer.text) {
        (Some(j), _) => ("application/json", fill_json(j, vars).to_string()),
        (None, Some(t)) => ("text/plain; charset=utf-8", fill(t, vars)),
        (None, None) => ("application/json", String::new()),
    };
    Filled {
        status: answer.status,
        content_type,
        body,
        headers: answer
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), fill(v, vars)))
            .collect(),
    }
}

/// The answer `name` for `route`: the route's, else the fixture's, else a fallback's
/// (`forbidden` is `unknown_key` with 403, `not_json` and `invalid_items` are `bad_body`,
/// `too_many_items` is `too_large`), else a plain default.
pub(crate) fn pick(fixture: &Fixture, route: Option<&Route>, name: &str) -> Answer {
    let own = |n: &str| {
        route
            .and_then(|r| r.answers.get(n))
            .or_else(|| fixture.answers.get(n))
            .cloned()
    };
    if let Some(a) = own(name) {
        return a;
    }
    let fallback = match name {
        "forbidden" => own("unknown_key").map(|a| Answer { status: 403, ..a }),
        "not_json" | "invalid_items" => own("bad_body"),
        "too_many_items" => own("too_large"),
        _ => None,
    };
    fallback.unwrap_or_else(|| default(name))
}

fn default(name: &str) -> Answer {
    let (status, json) = match name {
        "accepted" => (200, None),
        "not_found" => (404, Some(json!({"error": "no such endpoint"}))),
        "unknown_key" => (401, Some(json!({"error": "invalid key"}))),
        "forbidden" => (403, Some(json!({"error": "invalid key"}))),
        "wrong_region" => (404, Some(json!({"error": "wrong region"}))),
        "too_large" | "too_many_items" => (413, Some(json!({"error": "payload too large"}))),
        "throttled" => (429, Some(json!({"error": "too many requests"}))),
        _ => (400, Some(json!({"error": "${why}"}))),
    };
    Answer {
        status,
        json,
        text: None,
        headers: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_values_or_text() {
        let vars = Vars::new()
            .with("items", 3)
            .with("why", "time must be an integer")
            .with("invalid_fields", json!({"time": [0, 2]}));
        let a = Answer {
            status: 400,
            json: Some(
                json!({"n": "${items}", "error": "bad: ${why}", "map": "${invalid_fields}", "none": "${index}"}),
            ),
            text: None,
            headers: BTreeMap::new(),
        };
        let f = render(&a, &vars);
        let v: Value = serde_json::from_str(&f.body).expect("json");
        assert_eq!(
            v,
            json!({"n": 3, "error": "bad: time must be an integer", "map": {"time": [0, 2]}, "none": null})
        );
        assert_eq!(
            fill(
                "postBody.${path} should be ${type}",
                &Vars::new()
                    .with("path", "events[1].properties")
                    .with("type", "object")
            ),
            "postBody.events[1].properties should be object"
        );
        assert_eq!(
            variables("a ${x} b ${y.z}").collect::<Vec<_>>(),
            ["x", "y.z"]
        );
    }
}
