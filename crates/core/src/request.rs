//! How a vendor's requests are sent, as data: one entry of a blueprint's `requests` map
//! (method, URL per region, auth placement, batching, envelope), and the [`Target`] it becomes
//! for one installed integration once its region and config are known.
//!
//! The per-event object (`item`) is the mapping's business (`map/`); here it is only carried.
//! The delivery engine (`signal-forward`) sends [`Target`]s: it knows targets, batches and
//! response rules, never a vendor.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod resolve;

pub use resolve::{MASK, ResolveError, resolve};

/// One request type of a vendor (Pendo `track`, Amplitude `events`, Heap `user_props`, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// `POST` or `PUT`.
    #[serde(default)]
    pub method: Method,
    /// The URL, with `{region.base}` and `{config.<field>}` placeholders:
    /// `"{region.base}/data/track"`.
    pub url: String,
    /// Where the credential goes.
    #[serde(default)]
    pub auth: Auth,
    /// Batching; absent means one event per request, the body being the item itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
    /// For batched requests, the body around the items: a JSON value holding exactly one
    /// `{"@items": true}` where the item array goes (`{"@items": true}` alone for an array body);
    /// strings may hold `{config.<field>}` placeholders. Absent with a batch: the body is the
    /// array of items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<serde_json::Value>,
    /// The per-event object, written by the mapping's write plan (see `map/`).
    pub item: serde_json::Value,
    /// An item with none of these top-level keys written drops the event with this reason
    /// (Amplitude: one of `user_id`, `device_id`, else `no_valid_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_any: Option<RequireAny>,
    /// The name of the response policy (a key of the blueprint's `responses`).
    pub response: String,
}

/// `{"keys": ["user_id", "device_id"], "reason": "no_valid_id"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireAny {
    /// Top-level keys of the item.
    pub keys: Vec<String>,
    /// The drop reason when none is written.
    pub reason: String,
}

/// The HTTP method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `POST` (the default).
    #[default]
    Post,
    /// `PUT`.
    Put,
}

impl Method {
    /// `POST` or `PUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// Where a request's credential goes. Every value may hold `{config.<field>}` placeholders;
/// whatever a placeholder brings in is a secret: never shown in live events or logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// No credential (or one the item carries itself).
    #[default]
    None,
    /// Headers: `{"header": {"x-pendo-integration-key": "{config.integration_key}"}}`.
    Header(BTreeMap<String, String>),
    /// HTTP Basic: `{"basic": {"user": "{config.api_key}", "password": ""}}`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        #[serde(default)]
        password: String,
    },
    /// `Authorization: Bearer <token>`: `{"bearer": "{config.token}"}`.
    Bearer(String),
    /// Query parameters: `{"query": {"api_secret": "{config.secret}"}}`.
    Query(BTreeMap<String, String>),
    /// Fields merged into the envelope (or the item, for an unbatched request):
    /// `{"body": {"api_key": "{config.api_key}"}}`.
    Body(BTreeMap<String, String>),
}

/// How events gather into one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Most items in one request.
    pub max_items: usize,
    /// Most bytes of one serialized body (envelope included); absent: no byte limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<usize>,
    /// How long a partial batch waits for more items.
    pub linger_ms: u64,
    /// Items with the same value at this key of the item merge into one (Pendo metadata,
    /// Heap properties): the later item's fields win. Needs `merge_into`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_by: Option<String>,
    /// The object of the item whose keys merge (`values`, `properties`). A merged item is
    /// exactly `{<merge_by>: id, <merge_into>: {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_into: Option<String>,
    /// Items with the same value at this key of the item are held together when the vendor
    /// throttles that id (Amplitude's per-user 429): the other ids keep going.
    /// A list: the first key the item has (Amplitude: `["user_id", "device_id"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_by: Option<crate::blueprint::OneOrMany>,
}

/// A [`RequestSpec`] made concrete for one installed integration: URL, headers and envelope
/// resolved against its region and config, once, when it is installed or updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The request's name in the blueprint (`track`, `events`, ...).
    pub name: String,
    /// `POST` or `PUT`.
    pub method: Method,
    /// The full URL, query credential included.
    pub url: String,
    /// The URL as live events show it: a query credential masked.
    pub shown_url: String,
    /// Headers to send (credentials included; `content-type: application/json` is implied).
    pub headers: Vec<(String, String)>,
    /// The body around the items, when batched; `None`: the body is the item alone.
    pub envelope: Option<Envelope>,
    /// Batching, when batched.
    pub batch: Option<Batch>,
    /// The response policy's name (a key of the blueprint's `responses`).
    pub response: String,
    /// For an unbatched request with body auth: the fields spliced at the start of the item
    /// object (`{"app_id":"1",` + the item's own fields).
    pub item_fields: Option<ItemFields>,
}

/// Body-auth fields for an unbatched request: `"k":"v"` pairs, comma-separated, without braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFields {
    /// The fields as sent.
    pub bytes: Vec<u8>,
    /// The fields with every credential masked, for live events.
    pub shown: Vec<u8>,
}

/// A batched body, split around where the items go: `prefix item,item,... suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Bytes before the first item (`{"api_key":"...","events":[`).
    pub prefix: Vec<u8>,
    /// Bytes after the last item (`]}`).
    pub suffix: Vec<u8>,
    /// `prefix` with every credential masked, for live events.
    pub shown_prefix: Vec<u8>,
    /// `suffix` with every credential masked.
    pub shown_suffix: Vec<u8>,
}
