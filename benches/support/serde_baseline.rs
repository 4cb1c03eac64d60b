//! The Pendo mapping written the straightforward way: `serde_json::Value` in, `json!` and
//! `to_vec` out. The benchmark's baseline; it checks at start-up that it produces the same JSON
//! as signal-core for every event of the mix, so the comparison is like for like.

use serde_json::{Map, Value, json};
use signal_core::Blueprint;
use signal_core::time::parse_iso8601;

fn id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn ts(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_iso8601(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn with_rules(
    obj: &Map<String, Value>,
    rules: &signal_core::blueprint::KeyRules,
    skip: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        if k == skip {
            continue;
        }
        let key = if rules.is_valid(k) {
            k.clone()
        } else {
            rules.rename(k)
        };
        out.entry(key).or_insert_with(|| v.clone());
    }
    out
}

/// Maps one event body to the Pendo request body, or `None` when it is not sent.
pub fn map_event(input: &[u8], now: i64) -> Option<Vec<u8>> {
    let bp = Blueprint::get("pendo")?;
    let v: Value = serde_json::from_slice(input).ok()?;
    let ctx = &v["context"];
    if ctx["consent"]["analytics"] == json!(false)
        || ctx["consent"]["canonical"]["analytics"] == json!(false)
    {
        return None;
    }
    let user = v.get("userId").or_else(|| v.get("user_id")).and_then(id);
    let anon = v
        .get("anonymousId")
        .or_else(|| v.get("anonymous_id"))
        .and_then(id);
    let visitor = user
        .clone()
        .or_else(|| anon.as_ref().map(|a| format!("_PENDO_T_{a}")))?;
    let kind = v["type"].as_str()?;
    let out = match kind {
        "page" | "track" => {
            let event = match (kind, v["event"].as_str()) {
                ("page", _) => "page_view".to_owned(),
                (_, Some("Product Viewed" | "view_item")) => "product_viewed".to_owned(),
                (_, Some("Order Completed" | "purchase")) => "purchase".to_owned(),
                (_, Some(other)) => other.to_owned(),
                _ => return None,
            };
            let empty = Map::new();
            let props = v["properties"].as_object().unwrap_or(&empty);
            let from_props = props.get("accountId").and_then(id);
            let account = ctx
                .get("groupId")
                .and_then(id)
                .or(from_props.clone())
                .or_else(|| ctx["traits"].get("accountId").and_then(id));
            let skip = if ctx.get("groupId").and_then(id).is_none() && from_props.is_some() {
                "accountId"
            } else {
                ""
            };
            let mut p = with_rules(props, &bp.key_rules["properties"], skip);
            if event == "purchase" {
                if !props.contains_key("items") && props.contains_key("products") {
                    let products = p.remove("products").unwrap_or(Value::Null);
                    p.insert("items".into(), products);
                }
                if !props.contains_key("revenue")
                    && let Some(total) = props.get("total")
                {
                    p.insert("revenue".into(), total.clone());
                }
            }
            if kind == "page" {
                for k in ["url", "title", "referrer", "path", "search"] {
                    if !props.contains_key(k)
                        && let Some(s) = ctx["page"][k].as_str()
                    {
                        p.insert(k.into(), s.into());
                    }
                }
                if !props.contains_key("name")
                    && let Some(n) = v["name"].as_str()
                {
                    p.insert("name".into(), n.into());
                }
            }
            let mut c = Map::new();
            for (to, val) in [
                ("ip", &ctx["ip"]),
                ("userAgent", &ctx["userAgent"]),
                ("url", &ctx["page"]["url"]),
                ("title", &ctx["page"]["title"]),
                ("locale", &ctx["locale"]),
            ] {
                if let Some(s) = val.as_str() {
                    c.insert(to.into(), s.into());
                }
            }
            if let Some(a) = &anon {
                c.insert("anonymousId".into(), a.clone().into());
            }
            let mut body = json!({
                "type": "track",
                "event": event,
                "visitorId": visitor,
                "timestamp": v.get("timestamp").and_then(ts).unwrap_or(now),
            });
            if let Some(a) = account {
                body["accountId"] = a.into();
            }
            if !p.is_empty() {
                body["properties"] = Value::Object(p);
            }
            if !c.is_empty() {
                body["context"] = Value::Object(c);
            }
            body
        }
        "identify" => {
            let traits = v["traits"].as_object()?;
            let values = with_rules(traits, &bp.key_rules["visitor_values"], "accountId");
            json!({"visitorId": visitor, "values": values})
        }
        "group" => {
            let traits = v["traits"].as_object()?;
            let values = with_rules(traits, &bp.key_rules["account_values"], "accountId");
            json!({"accountId": v.get("groupId").and_then(id)?, "values": values})
        }
        _ => return None,
    };
    serde_json::to_vec(&out).ok()
}
