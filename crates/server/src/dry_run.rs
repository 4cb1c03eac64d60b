//! `signal-edge map`: a dry run of one vendor's mapping, with no node, no spool and no network.
//! A body (one event or a batch) is validated as the gateway would, and each event is mapped
//! through the blueprint's write plan for the given configuration: per event, the vendor
//! requests it becomes, why it is dropped, or what is wrong with it, with the mapping's warnings.
//! Events in one body see the identity links the earlier ones make, as they would in the node.

use crate::vendors;
use signal_core::{
    Blueprint, ConfigErrors, IntegrationConfig, Mapped, Mapper, MemoryIdentity, Parser, Shape,
    catalog,
};
use std::fmt;
use std::path::Path;

/// The blueprint a dry run maps with when none is named.
pub const DEFAULT_BLUEPRINT: &str = "pendo";

/// What a dry run maps with.
#[derive(Debug, Clone, Default)]
pub struct DryRunOptions<'a> {
    /// The blueprint's key (`pendo`, `amplitude`, `heap`, or one read from `blueprint_dir`).
    pub blueprint: &'a str,
    /// The integration's configuration as JSON; `None`: every required field filled with a
    /// placeholder (`dry-run`, or the first allowed value).
    pub config: Option<&'a str>,
    /// A directory of extra blueprint files (`SIGNAL_BLUEPRINT_DIR`), added to the catalog first.
    pub blueprint_dir: Option<&'a Path>,
}

/// One line of a dry run's answer, about the event at `event` (its place in the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The whole body was refused (no event is read).
    BodyRejected {
        /// The API's error code.
        code: &'static str,
        /// Why.
        why: String,
    },
    /// One event of the body breaks a rule.
    Rejected {
        /// The event's place in the body.
        event: usize,
        /// The API's error code.
        code: &'static str,
        /// Why.
        why: String,
    },
    /// A vendor request the event makes (its item; a batched request's items go in a list).
    Request {
        /// The event's place in the body.
        event: usize,
        /// `POST` or `PUT`.
        method: &'static str,
        /// The URL without the region's base (`/data/track`).
        path: String,
        /// The item's JSON.
        body: String,
        /// The request batches items (shown in `[...]`).
        batched: bool,
    },
    /// The event is not sent.
    Dropped {
        /// The event's place in the body.
        event: usize,
        /// The drop reason's code.
        reason: String,
    },
    /// The event is sent, with a warning.
    Warning {
        /// The event's place in the body.
        event: usize,
        /// The warning's code.
        code: &'static str,
        /// Its text.
        text: String,
    },
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::BodyRejected { code, why } => write!(f, "rejected {code}: {why}"),
            Line::Rejected { event, code, why } => write!(f, "[{event}] rejected {code}: {why}"),
            Line::Request {
                event,
                method,
                path,
                body,
                batched: true,
            } => write!(f, "[{event}] {method} {path}: [{body}]"),
            Line::Request {
                event,
                method,
                path,
                body,
                batched: false,
            } => write!(f, "[{event}] {method} {path}: {body}"),
            Line::Dropped { event, reason } => write!(f, "[{event}] dropped: {reason}"),
            Line::Warning { event, code, text } => write!(f, "[{event}]   warning {code}: {text}"),
        }
    }
}

/// A dry run's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// What became of each event, in order.
    pub lines: Vec<Line>,
}

impl DryRun {
    /// Whether the body, or one of its events, was rejected (the command exits 1).
    pub fn rejected(&self) -> bool {
        self.lines
            .iter()
            .any(|l| matches!(l, Line::BodyRejected { .. } | Line::Rejected { .. }))
    }
}

/// Why a dry run cannot start.
#[derive(Debug)]
pub enum DryRunError {
    /// No blueprint has this key; the catalog's keys are given.
    UnknownBlueprint {
        /// The key asked for.
        key: String,
        /// The keys there are.
        known: Vec<String>,
    },
    /// The blueprint directory could not be read, or a file in it does not load.
    BlueprintDir(crate::SettingsError),
    /// The configuration is not JSON.
    ConfigNotJson(serde_json::Error),
    /// The configuration breaks the blueprint's rules (each field named).
    Config(ConfigErrors),
}

impl fmt::Display for DryRunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DryRunError::UnknownBlueprint { key, known } => write!(
                f,
                "--blueprint: no blueprint `{key}`; the catalog has {}",
                known.join(", ")
            ),
            DryRunError::BlueprintDir(e) => e.fmt(f),
            DryRunError::ConfigNotJson(e) => write!(f, "--integration: not JSON: {e}"),
            DryRunError::Config(e) => write!(f, "--integration: {e}"),
        }
    }
}

impl std::error::Error for DryRunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DryRunError::BlueprintDir(e) => Some(e),
            DryRunError::ConfigNotJson(e) => Some(e),
            DryRunError::Config(e) => Some(e),
            DryRunError::UnknownBlueprint { .. } => None,
        }
    }
}

/// A configuration with every required field of `bp` filled: `dry-run` for a string (its first
/// allowed value when it has a list), its minimum or 1 for an integer, `false`, `{}`.
pub fn placeholder_config(bp: &Blueprint) -> serde_json::Value {
    let mut config = serde_json::Map::new();
    for f in bp.config_fields.iter().filter(|f| f.required) {
        let value = match f.kind.as_str() {
            "integer" => f.minimum.unwrap_or(1).into(),
            "boolean" => false.into(),
            "object" => serde_json::json!({}),
            _ => f
                .allowed
                .as_ref()
                .and_then(|a| a.first())
                .map_or("dry-run", String::as_str)
                .into(),
        };
        config.insert(f.key.clone(), value);
    }
    serde_json::Value::Object(config)
}

/// Maps `body` through the blueprint and configuration `options` name, at `now_ms`.
///
/// # Errors
///
/// The blueprint is unknown (or the directory's files do not load), or the configuration is
/// not JSON or breaks the blueprint's rules. A body that does not validate is not an error: it
/// is [`Line::BodyRejected`] or [`Line::Rejected`] lines.
pub fn dry_run(
    options: &DryRunOptions<'_>,
    body: &mut [u8],
    now_ms: i64,
) -> Result<DryRun, DryRunError> {
    if let Some(dir) = options.blueprint_dir {
        vendors::install_dir(dir).map_err(DryRunError::BlueprintDir)?;
    }
    let Some(bp) = Blueprint::get(options.blueprint) else {
        return Err(DryRunError::UnknownBlueprint {
            key: options.blueprint.to_owned(),
            known: catalog().iter().map(|b| b.key.clone()).collect(),
        });
    };
    let config = match options.config {
        Some(text) => serde_json::from_str(text).map_err(DryRunError::ConfigNotJson)?,
        None => placeholder_config(bp),
    };
    let (config, variant) = IntegrationConfig::validate_install(bp, None, None, &config)
        .map_err(DryRunError::Config)?;
    let mut mapper = Mapper::new(bp, variant, config);
    let mut lines = Vec::new();
    let mut parser = Parser::new();
    let doc = match parser.parse(body, Shape::EventOrBatch) {
        Ok(doc) => doc,
        Err(e) => {
            lines.push(Line::BodyRejected {
                code: e.code(),
                why: e.to_string(),
            });
            return Ok(DryRun { lines });
        }
    };
    let mut ids = MemoryIdentity::new();
    let link_traits = crate::links::link_traits();
    for (event, parsed) in doc.events().enumerate() {
        let ev = match parsed {
            Ok(ev) => ev,
            Err(e) => {
                lines.push(Line::Rejected {
                    event,
                    code: e.code(),
                    why: e.to_string(),
                });
                continue;
            }
        };
        for link in crate::links::links(&ev, link_traits) {
            ids.record(&link);
        }
        let mapping = mapper.map(&ev, &ids, now_ms);
        match mapping.outcome {
            Mapped::Send(items) => {
                for item in items.iter() {
                    let Some((_, spec)) = bp.requests.iter().nth(item.request) else {
                        continue;
                    };
                    lines.push(Line::Request {
                        event,
                        method: spec.method.as_str(),
                        path: spec.url.trim_start_matches("{region.base}").to_owned(),
                        body: String::from_utf8_lossy(item.body).into_owned(),
                        batched: spec.batch.is_some(),
                    });
                }
            }
            Mapped::Dropped(reason) => lines.push(Line::Dropped {
                event,
                reason: reason.to_string(),
            }),
        }
        lines.extend(mapping.warnings.iter().map(|w| Line::Warning {
            event,
            code: w.code(),
            text: w.to_string(),
        }));
    }
    Ok(DryRun { lines })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn run(blueprint: &str, config: Option<&str>, body: &str) -> Result<DryRun, DryRunError> {
        let options = DryRunOptions {
            blueprint,
            config,
            blueprint_dir: None,
        };
        dry_run(&options, &mut body.as_bytes().to_vec(), 1_700_000_000_000)
    }

    /// The JSON of the request lines' bodies, with their paths.
    fn requests(out: &DryRun) -> Vec<(String, Value)> {
        out.lines
            .iter()
            .filter_map(|l| match l {
                Line::Request { path, body, .. } => Some((
                    path.clone(),
                    serde_json::from_str(body).unwrap_or(Value::Null),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pendo_is_the_default_and_a_track_call_becomes_its_track_request() {
        let out = run(
            DEFAULT_BLUEPRINT,
            None,
            r#"{"type":"track","event":"Signed Up","userId":"u1","messageId":"m1"}"#,
        )
        .unwrap();
        let sent = requests(&out);
        assert_eq!(sent.len(), 1, "{out:?}");
        assert_eq!(sent[0].0, "/data/track");
        assert_eq!(sent[0].1["event"], "Signed Up");
        assert_eq!(sent[0].1["visitorId"], "u1");
        assert!(!out.rejected());
        assert!(
            out.lines[0]
                .to_string()
                .starts_with("[0] POST /data/track: {")
        );
    }

    #[test]
    fn any_vendors_mapping_can_be_dry_run() {
        let body = r#"{"type":"track","event":"Signed Up","userId":"user-1","messageId":"m1"}"#;
        let amp = run("amplitude", None, body).unwrap();
        let sent = requests(&amp);
        assert_eq!(sent.len(), 1, "{amp:?}");
        assert_eq!(sent[0].1["event_type"], "Signed Up");
        assert_eq!(sent[0].1["insert_id"], "m1");
        assert!(amp.lines[0].to_string().ends_with("}]"), "batched: {amp:?}");
        let heap = run("heap", Some(r#"{"app_id":"1","api_key":"k"}"#), body).unwrap();
        assert_eq!(requests(&heap)[0].1["event"], "Signed Up", "{heap:?}");
    }

    #[test]
    fn drops_rejections_and_warnings_are_lines_not_errors() {
        let out = run(
            "pendo",
            None,
            r#"{"batch":[{"type":"screen","name":"Home","userId":"u1"},{"type":"track"}]}"#,
        )
        .unwrap();
        let text: Vec<String> = out.lines.iter().map(ToString::to_string).collect();
        assert!(text[0].starts_with("[0] dropped: "), "{text:?}");
        assert!(text[1].starts_with("[1] rejected "), "{text:?}");
        assert!(out.rejected());
        let not_json = run("pendo", None, "{").unwrap();
        assert!(matches!(not_json.lines[..], [Line::BodyRejected { .. }]));
    }

    #[test]
    fn an_unknown_vendor_or_a_bad_config_is_named() {
        let e = run("segment", None, "{}").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("`segment`") && text.contains("amplitude") && text.contains("pendo"),
            "{text}"
        );
        let e = run("amplitude", Some("{}"), "{}").unwrap_err();
        assert!(e.to_string().contains("api_key"), "{e}");
        let e = run("amplitude", Some("{"), "{}").unwrap_err();
        assert!(matches!(e, DryRunError::ConfigNotJson(_)), "{e}");
    }
}
