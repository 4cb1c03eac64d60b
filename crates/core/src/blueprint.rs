//! Blueprints: a vendor described as data.
//!
//! Each blueprint is a JSON file under `crates/core/blueprints/`, embedded in the binary and read
//! once into these types. It holds what the management API shows (config fields, variants,
//! mapping and identity tables, troubleshooting) and what the mapper and the delivery engine
//! follow (event mapping rows and their property plans, key rules and reserved names, request
//! paths, regions, retry settings). Adding a vendor is mostly a new data file; the request shape
//! itself is written by the vendor's module in `map/`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The embedded blueprint files, by key.
const FILES: &[(&str, &str)] = &[("pendo", include_str!("../blueprints/pendo.json"))];

/// Every blueprint, loaded once.
///
/// # Panics
///
/// If an embedded file does not parse: that is a bug caught by this crate's tests, not input.
pub fn catalog() -> &'static [Blueprint] {
    static CATALOG: OnceLock<Vec<Blueprint>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        FILES
            .iter()
            .map(
                |(key, text)| match serde_json::from_str::<Blueprint>(text) {
                    Ok(bp) => bp,
                    Err(e) => panic!("embedded blueprint {key} is invalid: {e}"),
                },
            )
            .collect()
    })
}

/// A vendor integration, as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Blueprint {
    /// Stable key (`pendo`).
    pub key: String,
    /// Display name (`Pendo`); also the key looked up in an event's `integrations` object.
    pub name: String,
    /// Catalog category (`Analytics`).
    pub category: String,
    /// Release status (`alpha`).
    pub status: String,
    /// Blueprint version (`0.1.0`).
    pub version: String,
    /// One paragraph for the catalog.
    pub description: String,
    /// The consent category the vendor needs (`analytics`).
    pub consent_category: String,
    /// The name under which an event's `integrations` object switches this vendor.
    pub integrations_key: String,
    /// The integration's configuration fields.
    pub config_fields: Vec<ConfigField>,
    /// Data regions by key, with their default base URL and the variable that overrides it.
    pub regions: BTreeMap<String, Region>,
    /// The config field that names the region.
    pub region_field: String,
    /// Variants (event taxonomies).
    pub variants: Vec<Variant>,
    /// The identity table, as documented.
    pub identity: Vec<IdentityRow>,
    /// Prefix of the visitorId of anonymous visitors.
    pub anonymous_prefix: String,
    /// The track request.
    pub track: TrackSpec,
    /// Visitor and account metadata requests.
    pub metadata: MetadataSpec,
    /// Timeouts and retries.
    pub delivery: DeliverySpec,
    /// Vendor answers and warnings turned into diagnoses.
    pub troubleshooting: Vec<Troubleshooting>,
}

/// One configuration field of an integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigField {
    /// Field key (`api_key`).
    pub key: String,
    /// Whether it must be given and non-empty.
    pub required: bool,
    /// JSON type: `string`, `boolean`, `integer` or `object`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the field is, for people.
    pub description: String,
    /// Value when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// The allowed values, for an enumerated string.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// Smallest allowed integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<i64>,
    /// A secret: never returned whole, only `****` and its last 4 characters.
    #[serde(default)]
    pub secret: bool,
    /// Shown folded away in the install form.
    #[serde(default)]
    pub advanced: bool,
}

/// A data region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Region {
    /// The vendor's base URL for the region.
    pub base_url: String,
    /// The environment variable that points the region elsewhere (tests use the sandbox).
    pub env: String,
}

/// A variant: an event taxonomy with its mapping table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    /// Variant key (`b2b_saas`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it covers.
    pub description: String,
    /// Config values the install form starts from.
    pub default_config: serde_json::Map<String, serde_json::Value>,
    /// Mapping rows, most specific first; a `*` source matches any track event.
    pub event_mapping: Vec<EventRule>,
}

/// One row of the event mapping table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRule {
    /// `page` or `track`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Datafly event (`page`, `Order Completed`, or `*` for any other track).
    pub source: String,
    /// Other names of the same event (`purchase`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The vendor event name; `*` keeps the source name.
    pub target: String,
    /// The documented notes column.
    pub notes: String,
    /// How the vendor's properties are made from the event.
    #[serde(default)]
    pub properties: PropertyPlan,
}

/// How an event's properties become the vendor's. All input properties are always kept (under
/// the key rules); a plan only adds to them or moves one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PropertyPlan {
    /// Keys taken from `context.page` when the properties lack them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_page: Vec<String>,
    /// The property key that receives the page's `name` when the properties lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_as: Option<String>,
    /// `key` copied from the first present `from` key when absent (the source stays).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fill: Vec<KeyFrom>,
    /// `key` taken over from the first present `from` key when absent (the source goes).
    #[serde(default, rename = "move", skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<KeyFrom>,
}

/// A target key and its source keys, in order of preference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFrom {
    /// The key written.
    pub key: String,
    /// The keys read.
    pub from: Vec<String>,
}

/// One row of the identity table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityRow {
    /// Datafly field.
    pub source: String,
    /// Vendor field.
    pub target: String,
    /// How it is resolved.
    pub notes: String,
}

/// The vendor's rules for property or metadata keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRules {
    /// Longest key, if limited.
    pub max_key_chars: Option<usize>,
    /// Keys may not start with a digit.
    pub forbid_leading_digit: bool,
    /// Keys may not both start and end with `__`.
    pub forbid_dunder_wrap: bool,
    /// Names the vendor keeps for itself.
    pub reserved: Vec<String>,
    /// The new name of a reserved key: `{key}` stands for the old one.
    pub rename: String,
}

/// The track request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackSpec {
    /// HTTP method.
    pub method: String,
    /// Path under the region's base URL.
    pub path: String,
    /// Header that carries the credential.
    pub auth_header: String,
    /// Config field whose value the header carries.
    pub auth_config: String,
    /// Key rules for event properties.
    pub properties: KeyRules,
    /// Properties larger than this (bytes of JSON) are sent with a warning.
    pub max_properties_bytes: usize,
    /// Events older than this are sent with a warning.
    pub max_age_days: i64,
}

/// Visitor and account metadata requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataSpec {
    /// Visitor metadata.
    pub visitor: MetadataTarget,
    /// Account metadata.
    pub account: MetadataTarget,
    /// Most records in one request.
    pub max_batch: usize,
    /// How long a partial batch waits for more records, in milliseconds.
    pub linger_ms: u64,
    /// The trait that links a user to an account instead of being a metadata value.
    pub link_trait: String,
}

/// One metadata endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataTarget {
    /// Path under the region's base URL.
    pub path: String,
    /// The record's id field (`visitorId`, `accountId`).
    pub id_field: String,
    /// Key rules for the record's values.
    pub rules: KeyRules,
}

/// Delivery settings the vendor's documentation implies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverySpec {
    /// Request timeout.
    pub timeout_ms: u64,
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    /// First retry backoff.
    pub retry_base_ms: u64,
    /// Longest retry backoff.
    pub retry_cap_ms: u64,
    /// Age after which an undelivered event is dead-lettered.
    pub max_age_hours: u64,
}

/// One row of the troubleshooting table, and the diagnosis it becomes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Troubleshooting {
    /// Diagnosis code (`invalid_integration_key`).
    pub code: String,
    /// Vendor HTTP statuses that mean this.
    pub statuses: Vec<u16>,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// Whether the integration pauses (its events held) until the configuration changes.
    pub pauses: bool,
    /// What the user sees.
    pub symptom: String,
    /// Why.
    pub cause: String,
    /// The diagnosis message.
    pub message: String,
    /// What to do.
    pub fix: String,
}

impl Blueprint {
    /// The blueprint with this key.
    pub fn get(key: &str) -> Option<&'static Blueprint> {
        catalog().iter().find(|b| b.key == key)
    }

    /// The variant with this key.
    pub fn variant(&self, key: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.key == key)
    }

    /// The config field with this key.
    pub fn field(&self, key: &str) -> Option<&ConfigField> {
        self.config_fields.iter().find(|f| f.key == key)
    }

    /// The troubleshooting row with this code.
    pub fn troubleshooting(&self, code: &str) -> Option<&Troubleshooting> {
        self.troubleshooting.iter().find(|t| t.code == code)
    }

    /// The diagnosis of a vendor HTTP status, if the table has one.
    pub fn diagnose_status(&self, status: u16) -> Option<&Troubleshooting> {
        self.troubleshooting
            .iter()
            .find(|t| t.statuses.contains(&status))
    }

    /// The default base URL of a region.
    pub fn base_url(&self, region: &str) -> Option<&str> {
        self.regions.get(region).map(|r| r.base_url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pendo_blueprint_is_what_the_product_page_says() {
        let bp = Blueprint::get("pendo").expect("embedded");
        assert_eq!(
            (bp.name.as_str(), bp.version.as_str(), bp.status.as_str()),
            ("Pendo", "0.1.0", "alpha")
        );
        assert_eq!(bp.category, "Analytics");
        assert_eq!(bp.consent_category, "analytics");
        let region = bp.field("data_region").expect("field");
        assert_eq!(region.default, Some(serde_json::json!("us")));
        assert_eq!(
            region.allowed.as_deref(),
            Some(&["us", "eu", "us1", "jpn", "au"].map(String::from)[..])
        );
        assert!(bp.field("api_key").is_some_and(|f| f.required && f.secret));
        assert!(
            bp.field("integration_key")
                .is_some_and(|f| f.required && f.secret)
        );
        for opt in [
            "event_mapping",
            "anonymous_visitors",
            "require_consent",
            "rate_limit_per_second",
        ] {
            assert!(bp.field(opt).is_some_and(|f| !f.required), "{opt}");
        }
        assert_eq!(bp.base_url("us"), Some("https://app.pendo.io"));
        assert_eq!(bp.base_url("eu"), Some("https://app.eu.pendo.io"));
        assert_eq!(bp.base_url("us1"), Some("https://us1.app.pendo.io"));
        assert_eq!(bp.base_url("jpn"), Some("https://app.jpn.pendo.io"));
        assert_eq!(bp.base_url("au"), Some("https://app.au.pendo.io"));
        assert!(bp.variant("b2b_saas").is_some());
    }

    #[test]
    fn troubleshooting_table_diagnoses_statuses() {
        let bp = Blueprint::get("pendo").expect("embedded");
        for s in [401, 403] {
            assert_eq!(
                bp.diagnose_status(s).map(|t| t.code.as_str()),
                Some("invalid_integration_key")
            );
        }
        let region = bp.diagnose_status(404).expect("404 row");
        assert_eq!(region.code, "wrong_data_region");
        assert!(region.fix.contains("data_region"));
        assert!(bp.diagnose_status(500).is_none());
        for code in [
            "account_not_linked",
            "reserved_property",
            "visitor_mismatch",
        ] {
            assert!(bp.troubleshooting(code).is_some(), "{code}");
        }
    }
}
