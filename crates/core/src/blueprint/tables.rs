//! The tables a blueprint shows through the management API: config fields, regions, variants
//! with their documented event mapping, the identity table, delivery settings and the
//! troubleshooting rows.

use serde::{Deserialize, Serialize};

/// One configuration field of an integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Largest allowed integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<i64>,
    /// A regular expression a string must match whole (`[0-9]+`); checked at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// A secret: never returned whole, only `****` and its last 4 characters.
    #[serde(default)]
    pub secret: bool,
    /// Shown folded away in the install form.
    #[serde(default)]
    pub advanced: bool,
    /// An `object` field holding the integration's privacy rules
    /// (`{"hash": [paths], "remove": [paths]}`), checked at install and applied by the mapper.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privacy: bool,
}

/// A data region.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// The vendor's base URL for the region.
    pub base_url: String,
}

/// A variant: an event taxonomy with its documented mapping table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Variant key (`b2b_saas`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it covers.
    pub description: String,
    /// Config values the install form starts from.
    pub default_config: serde_json::Map<String, serde_json::Value>,
    /// The mapping table as the catalog shows it (the blueprint's `events` rows do the work).
    pub event_mapping: Vec<EventRule>,
}

/// One row of the documented event mapping table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    /// `page`, `track`, `identify`, `group`.
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
}

/// One row of the identity table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRow {
    /// Datafly field.
    pub source: String,
    /// Vendor field.
    pub target: String,
    /// How it is resolved.
    pub notes: String,
}

/// Delivery settings the vendor's documentation implies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
