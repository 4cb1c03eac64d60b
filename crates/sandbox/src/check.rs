//! The body checks a route makes, from its fixture: JSON, shape, the envelope's fields, the item
//! count, then every item's fields. A refusal names the answer to give and its variables: the
//! first failure's text (`why`), and for item failures the indexes per field, as Amplitude's
//! `events_with_invalid_fields` lists them.

use crate::answer::{Vars, fill};
use crate::fixture::{FieldRule, Fixture, ItemRule, Route, Shape};
use crate::messages::{Which, default_message, pick};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A request the route refuses: which answer, with what.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub answer: &'static str,
    pub vars: Vars,
}

/// One failed check.
struct Failure {
    index: Option<usize>,
    field: String,
    path: String,
    missing: bool,
    message: String,
}

struct Ctx<'a> {
    fixture: &'a Fixture,
    route: &'a Route,
    envelope: &'a Value,
    out: Vec<Failure>,
}

/// Where a check is: the path prefix (`events[2].`) and the item's index.
#[derive(Clone, Copy)]
struct At<'p> {
    prefix: &'p str,
    index: Option<usize>,
}

/// A failed check before its text: the rule (when one), which text, the field, absent or not.
struct Miss<'r> {
    rule: Option<&'r FieldRule>,
    which: Which,
    field: &'r str,
    absent: bool,
}

impl<'r> Miss<'r> {
    fn of(rule: &'r FieldRule, which: Which) -> Miss<'r> {
        Miss {
            rule: Some(rule),
            which,
            field: &rule.name,
            absent: false,
        }
    }

    fn absent(self, absent: bool) -> Miss<'r> {
        Miss { absent, ..self }
    }
}

impl Ctx<'_> {
    fn text(&self, rule: Option<&FieldRule>, w: Which, vars: &Vars) -> String {
        let template = rule
            .and_then(|r| r.message.as_ref())
            .or_else(|| pick(&self.route.messages, w))
            .or_else(|| pick(&self.fixture.messages, w))
            .map_or(default_message(w), String::as_str);
        fill(template, vars)
    }

    fn fail(&mut self, at: At<'_>, miss: Miss<'_>, extra: Vars) {
        let path = format!("{}{}", at.prefix, miss.field);
        let mut vars = extra;
        vars.set("path", path.as_str())
            .set("field", miss.field)
            .set("dot_parent", dot_parent(at.prefix));
        if let Some(k) = miss.rule.and_then(|r| r.kind) {
            vars.set("a_type", k.described())
                .set("type", k.schema_name());
        }
        if let Some(eq) = miss.rule.and_then(|r| r.equals.as_ref()) {
            vars.set("value", eq.to_string());
        }
        let message = self.text(miss.rule, miss.which, &vars);
        self.out.push(Failure {
            index: at.index,
            field: miss.field.to_owned(),
            path,
            missing: miss.absent,
            message,
        });
    }

    fn min_length(&self, rule: &FieldRule) -> Option<usize> {
        rule.min_length_option
            .as_deref()
            .and_then(|p| p.split('.').try_fold(self.envelope, |v, k| v.get(k)))
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .or(rule.min_length)
    }

    /// Length and refused values, on a value of the right type.
    fn extra(&mut self, at: At<'_>, rule: &FieldRule, v: &Value) {
        let refused = rule.not_in.iter().any(|n| match (n.as_str(), v.as_str()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => n == v,
        });
        if refused {
            let vars = Vars::new().with("value", v.to_string());
            self.fail(at, Miss::of(rule, Which::NotIn), vars);
            return;
        }
        if let Some(s) = v.as_str() {
            let (min, max) = (self.min_length(rule), rule.max_length);
            let len = s.chars().count();
            if min.is_some_and(|m| len < m) || max.is_some_and(|m| len > m) {
                let vars = Vars::new()
                    .with("min", min.unwrap_or(0))
                    .with("max", max.map_or(Value::Null, Value::from));
                self.fail(at, Miss::of(rule, Which::Length), vars);
            }
        }
    }

    /// Required fields in the rules' order, then `any_of`, then every present key in order
    /// (nulls, optional fields' types).
    fn object(&mut self, at: At<'_>, obj: &Map<String, Value>, rules: &ItemRule) {
        for rule in rules.fields.iter().filter(|r| r.required) {
            let v = obj.get(&rule.name).filter(|v| !v.is_null());
            if let Some(eq) = &rule.equals {
                if v != Some(eq) {
                    let miss = Miss::of(rule, Which::Equals).absent(v.is_none());
                    self.fail(at, miss, Vars::new());
                }
                continue;
            }
            match v {
                None => self.fail(
                    at,
                    Miss::of(rule, Which::Required).absent(true),
                    Vars::new(),
                ),
                Some(v) if rule.kind.is_some_and(|k| !k.admits(v)) => {
                    self.fail(at, Miss::of(rule, Which::Required), Vars::new());
                }
                Some(v) => self.extra(at, rule, v),
            }
        }
        for group in &rules.any_of {
            if !group
                .iter()
                .any(|f| obj.get(f).is_some_and(|v| !v.is_null()))
            {
                let field = group.first().map_or("", String::as_str);
                let miss = Miss {
                    rule: None,
                    which: Which::AnyOf,
                    field,
                    absent: true,
                };
                self.fail(at, miss, Vars::new().with("fields", group.join(", ")));
            }
        }
        for (k, v) in obj {
            if v.is_null() {
                if rules.no_nulls {
                    let miss = Miss {
                        rule: None,
                        which: Which::Null,
                        field: k,
                        absent: false,
                    };
                    self.fail(at, miss, Vars::new());
                }
                continue;
            }
            let Some(rule) = rules.fields.iter().find(|r| !r.required && r.name == *k) else {
                continue;
            };
            if rule.equals.as_ref().is_some_and(|eq| eq != v) {
                self.fail(at, Miss::of(rule, Which::Equals), Vars::new());
            } else if rule.kind.is_some_and(|t| !t.admits(v)) {
                self.fail(at, Miss::of(rule, Which::Type), Vars::new());
            } else {
                self.extra(at, rule, v);
            }
        }
    }
}

/// `.events[0]` for the prefix `events[0].`, empty for the envelope: `postBody${dot_parent}`.
fn dot_parent(prefix: &str) -> String {
    match prefix.trim_end_matches('.') {
        "" => String::new(),
        p if p.starts_with('[') => p.to_owned(),
        p => format!(".{p}"),
    }
}

fn bad_body(why: String, field: &str) -> Refusal {
    Refusal {
        answer: "bad_body",
        vars: Vars::new().with("why", why).with("field", field),
    }
}

/// Parses the body as JSON.
pub(crate) fn parse(fixture: &Fixture, route: &Route, body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        let vars = Vars::new().with("error", e.to_string());
        let template = pick(&route.messages, Which::NotJson)
            .or_else(|| pick(&fixture.messages, Which::NotJson))
            .map_or(default_message(Which::NotJson), String::as_str);
        Refusal {
            answer: "not_json",
            vars: Vars::new()
                .with("why", fill(template, &vars))
                .with("error", e.to_string()),
        }
    })
}

/// The route's items in `body` (checked by [`check`] first).
pub(crate) fn items<'b>(route: &Route, body: &'b Value) -> &'b [Value] {
    match (&route.body.items, body) {
        (Some(field), b) => b
            .get(field)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice),
        (None, Value::Array(a)) => a,
        (None, b) => std::slice::from_ref(b),
    }
}

/// Checks a parsed body; returns the number of items.
pub(crate) fn check(fixture: &Fixture, route: &Route, body: &Value) -> Result<usize, Refusal> {
    let mut ctx = Ctx {
        fixture,
        route,
        envelope: body,
        out: Vec::new(),
    };
    let shape_ok = match route.body.shape {
        Shape::Object => body.is_object(),
        Shape::Array => body.is_array(),
    };
    if !shape_ok {
        let shape = match route.body.shape {
            Shape::Object => "object",
            Shape::Array => "array",
        };
        let why = ctx.text(None, Which::Shape, &Vars::new().with("shape", shape));
        return Err(bad_body(why, ""));
    }
    if let Some(obj) = body.as_object() {
        let envelope = ItemRule {
            fields: route.body.fields.clone(),
            ..ItemRule::default()
        };
        let at = At {
            prefix: "",
            index: None,
        };
        ctx.object(at, obj, &envelope);
        if let Some(f) = ctx.out.first() {
            return Err(bad_body(f.message.clone(), &f.field));
        }
        if let Some(field) = &route.body.items
            && !obj.get(field).is_some_and(Value::is_array)
        {
            let vars = Vars::new()
                .with("path", field.as_str())
                .with("field", field.as_str())
                .with("dot_parent", "")
                .with("a_type", "an array")
                .with("type", "array");
            return Err(bad_body(ctx.text(None, Which::Required, &vars), field));
        }
    }
    let list = items(route, body);
    if let Some(max) = route.body.max_items
        && list.len() > max
    {
        return Err(Refusal {
            answer: "too_many_items",
            vars: Vars::new()
                .with("items", list.len())
                .with("max_items", max)
                .with("field", route.body.items.as_deref().unwrap_or_default()),
        });
    }
    for (i, item) in list.iter().enumerate() {
        let prefix = match (&route.body.items, body.is_array()) {
            (Some(field), _) => format!("{field}[{i}]."),
            (None, true) => format!("[{i}]."),
            (None, false) => String::new(),
        };
        match item.as_object() {
            Some(obj) => {
                let at = At {
                    prefix: &prefix,
                    index: Some(i),
                };
                ctx.object(at, obj, &route.item);
            }
            None => {
                let vars = Vars::new()
                    .with("a_type", "an object")
                    .with("type", "object");
                let path = prefix.trim_end_matches('.').to_owned();
                let message = ctx.text(None, Which::Type, &vars.with("path", path.as_str()));
                ctx.out.push(Failure {
                    index: Some(i),
                    field: String::new(),
                    path,
                    missing: false,
                    message,
                });
            }
        }
    }
    if ctx.out.is_empty() {
        return Ok(list.len());
    }
    Err(invalid_items(&ctx.out, list.len()))
}

fn invalid_items(out: &[Failure], items: usize) -> Refusal {
    let mut invalid: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut missing: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut indexes: Vec<usize> = Vec::new();
    for f in out {
        let i = f.index.unwrap_or(0);
        let map = if f.missing {
            &mut missing
        } else {
            &mut invalid
        };
        let list = map.entry(f.field.as_str()).or_default();
        if !list.contains(&i) {
            list.push(i);
        }
        if !indexes.contains(&i) {
            indexes.push(i);
        }
    }
    indexes.sort_unstable();
    let first = &out[0];
    let as_json = |m: BTreeMap<&str, Vec<usize>>| {
        Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.to_owned(), Value::from(v)))
                .collect(),
        )
    };
    Refusal {
        answer: "invalid_items",
        vars: Vars::new()
            .with("why", first.message.as_str())
            .with("field", first.field.as_str())
            .with("path", first.path.as_str())
            .with("index", first.index.map_or(Value::Null, Value::from))
            .with("invalid_fields", as_json(invalid))
            .with("missing_fields", as_json(missing))
            .with("invalid_indexes", indexes)
            .with("items", items),
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
