//! Load-time checks of a blueprint's requests that the request resolver would otherwise only
//! find at pipeline start: an envelope has exactly one `{"@items": true}`, and every
//! `{config.<field>}` / `@config` in a URL, auth or envelope names a config field, and a batch's
//! `merge_by` / `merge_into` can merge.

use super::Blueprint;
use super::error::BlueprintRule;
use super::template::Tpl;
use crate::request::Batch;

/// Checks each request of `bp` as written in `tree` (the blueprint file's JSON).
pub(super) fn check(bp: &Blueprint, tree: &Tpl) -> Result<(), (String, BlueprintRule)> {
    for (name, spec) in &bp.requests {
        if let Some(b) = &spec.batch {
            merge_rules(name, b, &bp.item(name).unwrap_or(Tpl::Null))?;
        }
        let Some(req) = tree.get("requests").and_then(|r| r.get(name)) else {
            continue;
        };
        for part in ["url", "auth", "envelope"] {
            if let Some(t) = req.get(part) {
                let mut fields = Vec::new();
                configs(t, &mut fields);
                if let Some(f) = fields.into_iter().find(|f| bp.field(f).is_none()) {
                    return Err((
                        format!("requests.{name}.{part}"),
                        BlueprintRule::UnknownConfigField(f),
                    ));
                }
            }
        }
        if let Some(env) = req.get("envelope") {
            let why = match items_marks(env) {
                1 => continue,
                0 => "an envelope needs one {\"@items\": true}: where the items go",
                _ => "an envelope has more than one {\"@items\": true}",
            };
            return Err((
                format!("requests.{name}.envelope"),
                BlueprintRule::Invalid(why),
            ));
        }
    }
    Ok(())
}

/// A batch's `merge_by` and `merge_into`: both or neither, each naming a key of the item, the
/// `merge_into` one an object (what merges is its members).
fn merge_rules(name: &str, b: &Batch, item: &Tpl) -> Result<(), (String, BlueprintRule)> {
    let at = |k: &str| format!("requests.{name}.batch.{k}");
    let into = match (&b.merge_by, &b.merge_into) {
        (None, None) => return Ok(()),
        (Some(_), None) => {
            return Err((
                at("merge_into"),
                BlueprintRule::Invalid(
                    "merge_by needs merge_into: the item key whose object merges",
                ),
            ));
        }
        (None, Some(_)) => {
            return Err((
                at("merge_by"),
                BlueprintRule::Invalid("merge_into needs merge_by: the item key merged by"),
            ));
        }
        (Some(by), Some(into)) => {
            if item.get(by).is_none() {
                return Err((at("merge_by"), BlueprintRule::UnknownItemKey(by.clone())));
            }
            into
        }
    };
    let Some(v) = item.get(into) else {
        return Err((
            at("merge_into"),
            BlueprintRule::UnknownItemKey(into.clone()),
        ));
    };
    let object = match v {
        Tpl::Obj(m) if m.iter().any(|(k, _)| k.starts_with('@')) => !m.iter().any(|(k, _)| {
            matches!(
                k.as_str(),
                "@identity" | "@template" | "@event_name" | "@now" | "@link"
            )
        }),
        Tpl::Obj(_) => true,
        _ => false,
    };
    if !object {
        return Err((
            at("merge_into"),
            BlueprintRule::Invalid("merge_into must name an item key whose value is an object"),
        ));
    }
    Ok(())
}

/// The config fields `t` names: `{config.<field>}` (or `{config.<field>|default}`) in its
/// strings and `{"@config": "<field>"}` members.
fn configs(t: &Tpl, out: &mut Vec<String>) {
    match t {
        Tpl::Str(s) => {
            let mut rest = s.as_str();
            while let Some(open) = rest.find("{config.") {
                let from = &rest[open + "{config.".len()..];
                let Some(close) = from.find('}') else { break };
                let name = &from[..close];
                out.push(name.split('|').next().unwrap_or(name).to_owned());
                rest = &from[close..];
            }
        }
        Tpl::Arr(a) => a.iter().for_each(|c| configs(c, out)),
        Tpl::Obj(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("@config", Tpl::Str(f)) => out.push(f.clone()),
                    _ => configs(v, out),
                }
            }
        }
        _ => {}
    }
}

/// How many `{"@items": true}` objects `t` holds.
fn items_marks(t: &Tpl) -> usize {
    match t {
        Tpl::Obj(m) if m.len() == 1 && m[0].0 == "@items" && m[0].1 == Tpl::Bool(true) => 1,
        Tpl::Obj(m) => m.iter().map(|(_, v)| items_marks(v)).sum(),
        Tpl::Arr(a) => a.iter().map(items_marks).sum(),
        _ => 0,
    }
}
