//! Load-time checks of a blueprint's requests that the request resolver would otherwise only
//! find at pipeline start: an envelope has exactly one `{"@items": true}`, and every
//! `{config.<field>}` / `@config` in a URL, auth or envelope names a config field.

use super::Blueprint;
use super::error::BlueprintRule;
use super::template::Tpl;

/// Checks each request of `bp` as written in `tree` (the blueprint file's JSON).
pub(super) fn check(bp: &Blueprint, tree: &Tpl) -> Result<(), (String, BlueprintRule)> {
    for name in bp.requests.keys() {
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
