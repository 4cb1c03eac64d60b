//! Loading a fixture: parsing (serde, unknown keys refused), the rules beyond the JSON form
//! (answer names, `${var}` names, one route per method and path), the shipped fixtures, and the
//! error that names the file, the place inside it and the rule.

use crate::fixture::{Answer, Fixture, Shape};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The answer names a fixture may set.
pub const ANSWERS: &[&str] = &[
    "accepted",
    "not_found",
    "unknown_key",
    "forbidden",
    "wrong_region",
    "not_json",
    "bad_body",
    "invalid_items",
    "too_large",
    "too_many_items",
    "throttled",
];

/// The `${var}` names answers may use (`throttled.<field>` too).
pub const VARIABLES: &[&str] = &[
    "vendor",
    "route",
    "region",
    "items",
    "bytes",
    "now_ms",
    "why",
    "error",
    "field",
    "path",
    "index",
    "invalid_fields",
    "missing_fields",
    "invalid_indexes",
    "throttled_indexes",
    "max_items",
    "max_bytes",
];

/// A fixture that does not load.
#[derive(Debug)]
pub enum FixtureError {
    /// The file cannot be read.
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not JSON of the fixture's form (serde names the line, column and key).
    Json {
        /// The file.
        file: String,
        /// Why.
        source: serde_json::Error,
    },
    /// JSON of the form, breaking a rule.
    Invalid {
        /// The file.
        file: String,
        /// Where inside it (`routes[1].answers.oops`).
        at: String,
        /// The rule.
        rule: Rule,
    },
}

/// The rules a fixture can break beyond its JSON form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// An answer name not in [`ANSWERS`].
    UnknownAnswer,
    /// A `${var}` not in [`VARIABLES`].
    UnknownVariable(String),
    /// Two routes with one name, or one method and path.
    DuplicateRoute,
    /// An item field on an array body, or `fields` on a body without an object envelope.
    ItemsNeedObject,
    /// No routes.
    NoRoutes,
}

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixtureError::Read { file, source } => write!(f, "{file}: cannot read: {source}"),
            FixtureError::Json { file, source } => write!(f, "{file}: {source}"),
            FixtureError::Invalid { file, at, rule } => {
                let rule = match rule {
                    Rule::UnknownAnswer => format!("unknown answer name (one of {ANSWERS:?})"),
                    Rule::UnknownVariable(v) => format!("unknown variable ${{{v}}}"),
                    Rule::DuplicateRoute => {
                        "a second route with this name, or method and path".into()
                    }
                    Rule::ItemsNeedObject => "`items` and `fields` need an object body".into(),
                    Rule::NoRoutes => "a fixture needs at least one route".into(),
                };
                write!(f, "{file}: at {at}: {rule}")
            }
        }
    }
}

impl std::error::Error for FixtureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FixtureError::Read { source, .. } => Some(source),
            FixtureError::Json { source, .. } => Some(source),
            FixtureError::Invalid { .. } => None,
        }
    }
}

const PENDO: &str = include_str!("../fixtures/pendo.json");
const AMPLITUDE: &str = include_str!("../fixtures/amplitude.json");
const HEAP: &str = include_str!("../fixtures/heap.json");

impl Fixture {
    /// Parses a fixture's JSON; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// Not JSON of the form, or a rule broken ([`FixtureError`]).
    pub fn parse(file: &str, text: &str) -> Result<Fixture, FixtureError> {
        let fixture: Fixture = serde_json::from_str(text).map_err(|source| FixtureError::Json {
            file: file.to_owned(),
            source,
        })?;
        fixture
            .validate()
            .map_err(|(at, rule)| FixtureError::Invalid {
                file: file.to_owned(),
                at,
                rule,
            })?;
        Ok(fixture)
    }

    /// Reads and parses a fixture file.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or does not parse ([`Fixture::parse`]).
    pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
            file: file.clone(),
            source,
        })?;
        Fixture::parse(&file, &text)
    }

    /// A fixture shipped with the sandbox: `pendo`, `amplitude` or `heap`.
    ///
    /// # Errors
    ///
    /// Another name (a [`FixtureError::Read`] of kind `NotFound`), or the shipped file is
    /// broken (a test guards that).
    pub fn builtin(vendor: &str) -> Result<Fixture, FixtureError> {
        let text = match vendor {
            "pendo" => PENDO,
            "amplitude" => AMPLITUDE,
            "heap" => HEAP,
            _ => {
                return Err(FixtureError::Read {
                    file: format!("fixtures/{vendor}.json"),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such built-in fixture (pendo, amplitude, heap)",
                    ),
                });
            }
        };
        Fixture::parse(&format!("fixtures/{vendor}.json"), text)
    }

    fn validate(&self) -> Result<(), (String, Rule)> {
        if self.routes.is_empty() {
            return Err(("routes".into(), Rule::NoRoutes));
        }
        check_answers("answers", &self.answers)?;
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("routes[{i}]");
            if self.routes[..i].iter().any(|o| {
                o.name == r.name || (o.method.eq_ignore_ascii_case(&r.method) && o.path == r.path)
            }) {
                return Err((at, Rule::DuplicateRoute));
            }
            if r.body.shape == Shape::Array && (r.body.items.is_some() || !r.body.fields.is_empty())
            {
                return Err((format!("{at}.body"), Rule::ItemsNeedObject));
            }
            check_answers(&format!("{at}.answers"), &r.answers)?;
        }
        Ok(())
    }
}

fn check_answers(at: &str, answers: &BTreeMap<String, Answer>) -> Result<(), (String, Rule)> {
    for (name, a) in answers {
        let here = format!("{at}.{name}");
        if !ANSWERS.contains(&name.as_str()) {
            return Err((here, Rule::UnknownAnswer));
        }
        let mut texts = Vec::new();
        if let Some(t) = &a.text {
            texts.push(t.as_str());
        }
        if let Some(j) = &a.json {
            strings(j, &mut texts);
        }
        for t in texts {
            for var in crate::answer::variables(t) {
                if !VARIABLES.contains(&var) && !var.starts_with("throttled.") {
                    return Err((here, Rule::UnknownVariable(var.to_owned())));
                }
            }
        }
    }
    Ok(())
}

fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}
