//! An integration's configuration, validated against its blueprint's config fields.
//!
//! The management API returns these errors as they are: `{"config.api_key": "is required"}`.

use crate::blueprint::{AnonymousMode, Blueprint, ConfigField, Variant};
use crate::map::PrivacyRules;
use crate::request::Auth;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Field-level validation errors, keyed by the field's path in the install body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors {
    /// `config.api_key` -> `is required`, in key order.
    pub fields: BTreeMap<String, String>,
}

impl ConfigErrors {
    fn add(&mut self, field: impl Into<String>, why: impl Into<String>) {
        self.fields
            .entry(field.into())
            .or_insert_with(|| why.into());
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.fields {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{k}: {v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// What to do with an event that has no userId and no identify link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnonymousVisitors {
    /// Send it (Pendo: visitorId = the anonymous prefix + anonymousId).
    #[default]
    Prefix,
    /// Drop it (reason `anonymous`).
    Drop,
}

/// A validated integration configuration, with defaults filled in.
#[derive(Debug, Clone, Default)]
pub struct IntegrationConfig {
    /// Every field, defaults included, as stored.
    pub values: Map<String, Value>,
    /// The data region (`us`).
    pub region: String,
    /// The credential the vendor's requests carry.
    pub auth: String,
    /// Event name overrides; `None` means do not send.
    pub event_mapping: HashMap<String, Option<String>>,
    /// Anonymous visitor policy.
    pub anonymous_visitors: AnonymousVisitors,
    /// Send only with explicit consent.
    pub require_consent: bool,
    /// Requests per second to the vendor.
    pub rate_limit_per_second: u32,
    /// The privacy rules (a config field of type `privacy`), checked.
    pub(crate) privacy: PrivacyRules,
}

impl IntegrationConfig {
    /// Validates a `config` object: required fields present and non-empty, types, enums,
    /// minimums, no unknown fields; then fills in defaults.
    ///
    /// # Errors
    ///
    /// Every broken rule, keyed `config.<field>`.
    pub fn validate(bp: &Blueprint, config: &Value) -> Result<Self, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let Some(given) = config.as_object() else {
            errors.add("config", "must be an object");
            return Err(errors);
        };
        for key in given.keys() {
            if bp.field(key).is_none() {
                errors.add(format!("config.{key}"), "is not a field of this blueprint");
            }
        }
        let mut values = Map::new();
        for field in &bp.config_fields {
            let path = format!("config.{}", field.key);
            match given.get(&field.key).filter(|v| !v.is_null()) {
                None if field.required => errors.add(path, "is required"),
                None => {
                    if let Some(d) = &field.default {
                        values.insert(field.key.clone(), d.clone());
                    }
                }
                Some(v) => match check_field(field, v) {
                    Ok(()) => {
                        values.insert(field.key.clone(), v.clone());
                    }
                    Err(why) => errors.add(path, why),
                },
            }
        }
        let mut privacy = PrivacyRules::default();
        for field in bp.config_fields.iter().filter(|f| f.privacy) {
            if let Some(v) = values.get(&field.key) {
                match PrivacyRules::parse(&field.key, v) {
                    Ok(p) => privacy = p,
                    Err((path, why)) => errors.add(path, why),
                }
            }
        }
        let mut event_mapping = HashMap::new();
        if let Some(Value::Object(m)) = values.get("event_mapping") {
            for (name, target) in m {
                match target {
                    Value::Null => {
                        event_mapping.insert(name.clone(), None);
                    }
                    Value::String(t) if !t.is_empty() => {
                        event_mapping.insert(name.clone(), Some(t.clone()));
                    }
                    _ => errors.add(
                        format!("config.event_mapping.{name}"),
                        "must be a non-empty event name or null",
                    ),
                }
            }
        }
        if !errors.fields.is_empty() {
            return Err(errors);
        }
        let text = |k: &str| values.get(k).and_then(Value::as_str).unwrap_or_default();
        let mode = bp.identity_rules.user.anonymous.as_ref().map(|a| {
            a.mode_field
                .as_deref()
                .and_then(|f| AnonymousMode::from_name(text(f)))
                .unwrap_or(a.mode)
        });
        Ok(Self {
            region: text(&bp.region_field).to_owned(),
            auth: auth_field(bp)
                .map(|f| text(f).to_owned())
                .unwrap_or_default(),
            event_mapping,
            anonymous_visitors: if mode == Some(AnonymousMode::Drop) {
                AnonymousVisitors::Drop
            } else {
                AnonymousVisitors::Prefix
            },
            privacy,
            require_consent: values
                .get("require_consent")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            rate_limit_per_second: values
                .get("rate_limit_per_second")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(100),
            values,
        })
    }

    /// Validates an install request's `variant`, `delivery_mode` and `config` together
    /// (`variant` defaults to the first, `delivery_mode` to `server_side`).
    ///
    /// # Errors
    ///
    /// Every broken rule, keyed `variant`, `delivery_mode` or `config.<field>`.
    pub fn validate_install<'b>(
        bp: &'b Blueprint,
        variant: Option<&str>,
        delivery_mode: Option<&str>,
        config: &Value,
    ) -> Result<(Self, &'b Variant), ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let variant = match variant {
            None => bp.variants.first(),
            Some(v) => bp.variant(v),
        };
        if variant.is_none() {
            let keys: Vec<&str> = bp.variants.iter().map(|v| v.key.as_str()).collect();
            errors.add("variant", format!("must be one of {}", keys.join(", ")));
        }
        if delivery_mode.is_some_and(|m| m != "server_side") {
            errors.add("delivery_mode", "must be server_side");
        }
        let config = Self::validate(bp, config);
        match (config, variant) {
            (Ok(c), Some(v)) if errors.fields.is_empty() => Ok((c, v)),
            (Err(e), _) => {
                errors.fields.extend(e.fields);
                Err(errors)
            }
            _ => Err(errors),
        }
    }

    /// The configuration as the API shows it: secrets masked to their last 4 characters.
    pub fn masked(&self, bp: &Blueprint) -> Map<String, Value> {
        let mut out = self.values.clone();
        for field in bp.config_fields.iter().filter(|f| f.secret) {
            if let Some(Value::String(s)) = out.get_mut(&field.key) {
                *s = mask_secret(s);
            }
        }
        out
    }
}

/// The config field the first request's credential names (`{config.integration_key}`).
fn auth_field(bp: &Blueprint) -> Option<&str> {
    let text = bp.requests.values().find_map(|r| match &r.auth {
        Auth::Header(h) | Auth::Query(h) | Auth::Body(h) => h.values().next().map(String::as_str),
        Auth::Bearer(t) => Some(t.as_str()),
        Auth::Basic { user, .. } => Some(user.as_str()),
        Auth::None => None,
    })?;
    let start = text.find("{config.")? + "{config.".len();
    let end = text[start..].find('}')? + start;
    Some(&text[start..end])
}

/// `****` and the last 4 characters; a secret of 4 characters or fewer shows none of them.
pub fn mask_secret(s: &str) -> String {
    let n = s.chars().count();
    if n <= 4 {
        return "****".to_owned();
    }
    let tail: String = s.chars().skip(n - 4).collect();
    format!("****{tail}")
}

/// True when `pattern` (checked when the blueprint loaded) matches the whole of `s`.
fn whole_match(pattern: &str, s: &str) -> bool {
    regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(s))
}

fn check_field(field: &ConfigField, v: &Value) -> Result<(), String> {
    match field.kind.as_str() {
        "string" => {
            let Some(s) = v.as_str() else {
                return Err("must be a string".into());
            };
            if field.required && s.trim().is_empty() {
                return Err("is required".into());
            }
            if let Some(allowed) = &field.allowed
                && !allowed.iter().any(|a| a == s)
            {
                return Err(format!("must be one of {}", allowed.join(", ")));
            }
            if let Some(p) = &field.pattern
                && !s.is_empty()
                && !whole_match(p, s)
            {
                return Err(format!("must match {p}"));
            }
            Ok(())
        }
        "boolean" if v.is_boolean() => Ok(()),
        "boolean" => Err("must be true or false".into()),
        "integer" => match v.as_i64() {
            Some(n) if field.minimum.is_some_and(|m| n < m) => Err(format!(
                "must be at least {}",
                field.minimum.unwrap_or_default()
            )),
            Some(n) if field.maximum.is_some_and(|m| n > m) => Err(format!(
                "must be at most {}",
                field.maximum.unwrap_or_default()
            )),
            Some(_) => Ok(()),
            None => Err("must be an integer".into()),
        },
        "object" if v.is_object() => Ok(()),
        "object" => Err("must be an object".into()),
        other => Err(format!("has an unknown type {other} in the blueprint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pendo() -> &'static Blueprint {
        Blueprint::get("pendo").expect("embedded")
    }

    #[test]
    fn the_product_pages_install_body_is_valid() {
        let (c, v) = IntegrationConfig::validate_install(
            pendo(),
            Some("b2b_saas"),
            Some("server_side"),
            &json!({"api_key": "your_subscription_api_key",
                    "integration_key": "your_track_integration_key", "data_region": "us"}),
        )
        .expect("valid");
        assert_eq!(v.key, "b2b_saas");
        assert_eq!(c.region, "us");
        assert_eq!(c.auth, "your_track_integration_key");
        assert_eq!(c.rate_limit_per_second, 100);
        assert_eq!(c.anonymous_visitors, AnonymousVisitors::Prefix);
        assert!(!c.require_consent);
    }

    #[test]
    fn defaults_fill_in_and_region_defaults_to_us() {
        let c =
            IntegrationConfig::validate(pendo(), &json!({"api_key": "a", "integration_key": "k"}))
                .expect("valid");
        assert_eq!(c.region, "us");
        assert_eq!(c.values.get("data_region"), Some(&json!("us")));
    }

    #[test]
    fn every_rule_is_named_by_field() {
        let e = IntegrationConfig::validate_install(
            pendo(),
            Some("retail"),
            Some("client_side"),
            &json!({"api_key": "", "data_region": "mars", "colour": "red",
                    "require_consent": "yes", "rate_limit_per_second": 0,
                    "event_mapping": {"A": 3}}),
        )
        .expect_err("invalid");
        let f = |k: &str| e.fields.get(k).map(String::as_str);
        assert_eq!(f("config.api_key"), Some("is required"));
        assert_eq!(f("config.integration_key"), Some("is required"));
        assert_eq!(
            f("config.data_region"),
            Some("must be one of us, eu, us1, jpn, au")
        );
        assert_eq!(f("config.colour"), Some("is not a field of this blueprint"));
        assert_eq!(f("config.require_consent"), Some("must be true or false"));
        assert_eq!(
            f("config.rate_limit_per_second"),
            Some("must be at least 1")
        );
        assert_eq!(
            f("config.event_mapping.A"),
            Some("must be a non-empty event name or null")
        );
        assert_eq!(f("variant"), Some("must be one of b2b_saas"));
        assert_eq!(f("delivery_mode"), Some("must be server_side"));
    }

    #[test]
    fn event_mapping_overrides_are_read() {
        let c = IntegrationConfig::validate(
            pendo(),
            &json!({"api_key": "a", "integration_key": "k",
                    "event_mapping": {"Signed Up": "trial_started", "Debug Ping": null}}),
        )
        .expect("valid");
        assert_eq!(
            c.event_mapping.get("Signed Up"),
            Some(&Some("trial_started".into()))
        );
        assert_eq!(c.event_mapping.get("Debug Ping"), Some(&None));
    }

    #[test]
    fn secrets_show_only_their_last_four() {
        let c = IntegrationConfig::validate(
            pendo(),
            &json!({"api_key": "secret-api-abcd", "integration_key": "ik-1234"}),
        )
        .expect("valid");
        let m = c.masked(pendo());
        assert_eq!(m.get("api_key"), Some(&json!("****abcd")));
        assert_eq!(m.get("integration_key"), Some(&json!("****1234")));
        assert_eq!(m.get("data_region"), Some(&json!("us")));
        assert_eq!(mask_secret("abc"), "****");
    }
}
