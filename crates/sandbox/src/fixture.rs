//! The fixture format: one vendor as data (routes, where the key is, body checks, limits,
//! per-id throttling, answers). `fixtures/*.json` hold Pendo, Amplitude and Heap; a test can
//! write its own file and load it with [`Fixture::load`]. Every type here rejects unknown keys,
//! and `load.rs` reads and checks it.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One vendor, as the sandbox plays it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The vendor's name (`pendo`, `amplitude`, ...): shown at `/_sim/stats`.
    pub vendor: String,
    /// Where each request carries its key.
    pub auth: AuthRule,
    /// Keys known from the start, per region (added to the [`Subscriptions`](crate::Subscriptions)
    /// the sandbox starts with).
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
    /// Answers shared by every route, by name (see [`ANSWERS`]).
    #[serde(default)]
    pub answers: BTreeMap<String, Answer>,
    /// Check failure texts shared by every route.
    #[serde(default)]
    pub messages: Messages,
    /// The endpoints.
    pub routes: Vec<Route>,
}

/// Where the key is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "in", rename_all = "snake_case")]
pub enum AuthRule {
    /// A request header (`x-pendo-integration-key`).
    Header {
        /// Its name, lower-case.
        name: String,
    },
    /// A top-level string field of the JSON body (Amplitude's `api_key`, Heap's `app_id`).
    Body {
        /// The field.
        field: String,
    },
    /// `Authorization: Basic`: the key is the user name.
    Basic,
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// A query parameter.
    Query {
        /// Its name.
        name: String,
    },
}

/// One endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Its name, recorded with every request and item it accepts.
    pub name: String,
    /// `POST`.
    pub method: String,
    /// The path, exactly.
    pub path: String,
    /// The body's shape and limits.
    pub body: BodyRule,
    /// The checks on each item.
    #[serde(default)]
    pub item: ItemRule,
    /// Per-id throttling.
    #[serde(default)]
    pub throttle: Option<Throttle>,
    /// Answers of this route, over the fixture's.
    #[serde(default)]
    pub answers: BTreeMap<String, Answer>,
    /// Texts of this route, over the fixture's.
    #[serde(default)]
    pub messages: Messages,
    /// The item field whose numeric entries [`Sim::measure_latency`](crate::Sim::measure_latency)
    /// reads (default `properties`).
    #[serde(default = "default_properties")]
    pub properties_field: String,
}

fn default_properties() -> String {
    "properties".into()
}

/// A JSON body's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `{...}`.
    Object,
    /// `[...]`.
    Array,
}

/// The body: its shape, where the items are, its own fields, the limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyRule {
    /// Object or array.
    pub shape: Shape,
    /// The array field of an object body holding the items (`events`, `users`); absent: an
    /// array body's elements, or an object body itself as its one item.
    #[serde(default)]
    pub items: Option<String>,
    /// Checks on the object body's own fields (the envelope).
    #[serde(default)]
    pub fields: Vec<FieldRule>,
    /// More items than this: `too_many_items`.
    #[serde(default)]
    pub max_items: Option<usize>,
    /// More bytes than this: `too_large`.
    #[serde(default)]
    pub max_bytes: Option<usize>,
}

/// The checks each item gets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRule {
    /// Field checks, required ones in this order first.
    #[serde(default)]
    pub fields: Vec<FieldRule>,
    /// Groups of fields of which at least one must be present (`["user_id", "device_id"]`).
    #[serde(default)]
    pub any_of: Vec<Vec<String>>,
    /// A `null` anywhere at the top level of the item is refused.
    #[serde(default)]
    pub no_nulls: bool,
}

/// The check on one field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// The field's key.
    pub name: String,
    /// Its type, when checked.
    #[serde(rename = "type", default)]
    pub kind: Option<FieldType>,
    /// Absent (or `null`) is a failure.
    #[serde(default)]
    pub required: bool,
    /// The one value allowed.
    #[serde(default)]
    pub equals: Option<Value>,
    /// A string shorter than this fails ...
    #[serde(default)]
    pub min_length: Option<usize>,
    /// ... unless the envelope sets this (a dotted path, `options.min_id_length`), which then
    /// replaces it.
    #[serde(default)]
    pub min_length_option: Option<String>,
    /// A string longer than this fails.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Values refused.
    #[serde(default)]
    pub not_in: Vec<Value>,
    /// The failure text, over the route's `messages`.
    #[serde(default)]
    pub message: Option<String>,
}

/// Field types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Any string.
    String,
    /// A string of at least one character.
    NonEmptyString,
    /// An integer.
    Integer,
    /// A non-negative integer: epoch milliseconds.
    EpochMs,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// `{...}`.
    Object,
    /// `[...]`.
    Array,
}

impl FieldType {
    /// Whether `v` is of this type.
    pub fn admits(self, v: &Value) -> bool {
        match self {
            FieldType::String => v.is_string(),
            FieldType::NonEmptyString => v.as_str().is_some_and(|s| !s.is_empty()),
            FieldType::Integer => v.is_i64() || v.is_u64(),
            FieldType::EpochMs => v.is_u64(),
            FieldType::Number => v.is_number(),
            FieldType::Boolean => v.is_boolean(),
            FieldType::Object => v.is_object(),
            FieldType::Array => v.is_array(),
        }
    }

    /// Described with an article: `a non-empty string`, `epoch milliseconds` (`${a_type}`).
    pub fn described(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::NonEmptyString => "a non-empty string",
            FieldType::Integer => "an integer",
            FieldType::EpochMs => "epoch milliseconds",
            FieldType::Number => "a number",
            FieldType::Boolean => "a boolean",
            FieldType::Object => "an object",
            FieldType::Array => "an array",
        }
    }

    /// The JSON Schema name: `string`, `integer`, `object` (`${type}`).
    pub fn schema_name(self) -> &'static str {
        match self {
            FieldType::String | FieldType::NonEmptyString => "string",
            FieldType::Integer | FieldType::EpochMs => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Object => "object",
            FieldType::Array => "array",
        }
    }
}

/// More than `max_items` items for one id within `window_ms`: `throttled`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// The item fields holding ids (`user_id`, `device_id`); each counted on its own.
    pub by: Vec<String>,
    /// Items allowed per id per window.
    pub max_items: u64,
    /// The window.
    pub window_ms: u64,
}

/// An answer: status, a JSON or text body with `${var}` placeholders, headers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// A JSON body: a string that is exactly `"${var}"` becomes the variable's JSON value,
    /// other strings have each `${var}` replaced by its text.
    #[serde(default)]
    pub json: Option<Value>,
    /// A text body (`text/plain`), `${var}` replaced.
    #[serde(default)]
    pub text: Option<String>,
    /// Extra headers (`retry-after`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Check failure texts; `${path}`, `${field}`, `${a_type}`, `${type}`, `${value}`, `${min}`,
/// `${max}`, `${error}`, `${shape}` are filled in. Absent: the route's, the fixture's, the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// A required field absent or of the wrong type (default `${path} is required (${a_type})`).
    #[serde(default)]
    pub required: Option<String>,
    /// An optional field of the wrong type (default `${path} must be ${a_type}`).
    #[serde(default, rename = "type")]
    pub wrong_type: Option<String>,
    /// A `null` where `no_nulls` (default `${path} must not be null`).
    #[serde(default)]
    pub null: Option<String>,
    /// Not the `equals` value (default `${path} must be ${value}`).
    #[serde(default)]
    pub equals: Option<String>,
    /// Too short or too long (default `${path} must be ${min} to ${max} characters`).
    #[serde(default)]
    pub length: Option<String>,
    /// A refused value (default `${path} must not be ${value}`).
    #[serde(default)]
    pub not_in: Option<String>,
    /// None of an `any_of` group (default `one of ${field} is required`).
    #[serde(default)]
    pub any_of: Option<String>,
    /// Not JSON (default `body is not JSON: ${error}`).
    #[serde(default)]
    pub not_json: Option<String>,
    /// Not of the body's shape (default `body must be a JSON ${shape}`).
    #[serde(default)]
    pub shape: Option<String>,
}
