//! Blueprints: a vendor described as data.
//!
//! Each blueprint is a JSON file (`crates/core/blueprints/<key>.json`, embedded; or read at run
//! time by the caller and installed with [`install_catalog`]). It holds what the management API
//! shows (config fields, regions, variants, identity table, troubleshooting) and what the
//! engine follows: the event rows, identity and key rules, the requests (target, auth, batching,
//! envelope and the per-event `item`) and the response policies. `docs/blueprint-format.md` is
//! the format's reference; [`Blueprint::parse`] loads a file strictly (unknown keys are errors)
//! and checks every directive by compiling the write plan once.

mod error;
mod request_check;
mod rules;
mod tables;
pub(crate) mod template;

pub use error::{BlueprintError, BlueprintRule};
pub use rules::{
    AccountRule, AnonymousMode, AnonymousRule, EventRow, IdentityRules, KeyRules, Match, OneOrMany,
    SendItem, UserRule,
};
pub use tables::{
    ConfigField, DeliverySpec, EventRule, IdentityRow, Region, Troubleshooting, Variant,
};
pub use template::Tpl;

use crate::request::RequestSpec;
use crate::response::ResponseRule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// The embedded blueprint files: (file name, text).
const FILES: &[(&str, &str)] = &[
    ("pendo.json", include_str!("../../blueprints/pendo.json")),
    (
        "amplitude.json",
        include_str!("../../blueprints/amplitude.json"),
    ),
    ("heap.json", include_str!("../../blueprints/heap.json")),
];

static CATALOG: OnceLock<Vec<Blueprint>> = OnceLock::new();
static EXTRA: Mutex<Vec<Blueprint>> = Mutex::new(Vec::new());

/// Adds blueprints read at run time (a test fixture vendor) to the catalog. Core does no I/O:
/// the caller reads and [`parse`](Blueprint::parse)s the files. Takes effect only before the
/// catalog is first used; returns false when it is too late. An extra blueprint with the key of
/// an embedded one replaces it.
pub fn install_catalog(extra: Vec<Blueprint>) -> bool {
    if CATALOG.get().is_some() {
        return false;
    }
    match EXTRA.lock() {
        Ok(mut e) => e.extend(extra),
        Err(poisoned) => poisoned.into_inner().extend(extra),
    }
    CATALOG.get().is_none()
}

/// Every blueprint, loaded once: the embedded files, then those given to [`install_catalog`].
///
/// # Panics
///
/// If an embedded file does not load: that is a bug caught by this crate's tests, not input.
pub fn catalog() -> &'static [Blueprint] {
    CATALOG.get_or_init(|| {
        let mut all: Vec<Blueprint> = FILES
            .iter()
            .map(|(file, text)| match Blueprint::parse(file, text) {
                Ok(bp) => bp,
                Err(e) => panic!("embedded blueprint {e}"),
            })
            .collect();
        let extra = match EXTRA.lock() {
            Ok(mut e) => std::mem::take(&mut *e),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for bp in extra {
            all.retain(|b| b.key != bp.key);
            all.push(bp);
        }
        all
    })
}

/// A vendor integration, as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// Stable key (`pendo`).
    pub key: String,
    /// Display name (`Pendo`).
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
    /// Data regions by key, with their default base URL.
    pub regions: BTreeMap<String, Region>,
    /// The config field that names the region.
    pub region_field: String,
    /// Variants (event taxonomies), with their documented mapping tables.
    pub variants: Vec<Variant>,
    /// The identity table, as documented.
    pub identity: Vec<IdentityRow>,
    /// How the user and account are resolved.
    pub identity_rules: IdentityRules,
    /// Named key-rule sets (`@keys`).
    #[serde(default)]
    pub key_rules: BTreeMap<String, KeyRules>,
    /// The vendor's requests by name; a request's index is its position in this map.
    pub requests: BTreeMap<String, RequestSpec>,
    /// Named response policies.
    #[serde(default)]
    pub responses: BTreeMap<String, Vec<ResponseRule>>,
    /// Event rows: the first that matches decides.
    pub events: Vec<EventRow>,
    /// Timeouts and retries.
    pub delivery: DeliverySpec,
    /// Vendor answers and warnings turned into diagnoses.
    pub troubleshooting: Vec<Troubleshooting>,
    /// Each request's item with its keys in file order (`RequestSpec::item` sorts them).
    #[serde(skip)]
    items: BTreeMap<String, Tpl>,
}

impl Blueprint {
    /// Loads a blueprint file: strict (unknown keys are errors), and every directive checked.
    ///
    /// # Errors
    ///
    /// The file, the JSON path inside it and the rule broken.
    pub fn parse(file: &str, text: &str) -> Result<Blueprint, BlueprintError> {
        let err = |path: String, rule| BlueprintError {
            file: file.to_owned(),
            path,
            rule,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let mut bp: Blueprint = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            err(path, BlueprintRule::Shape(e.into_inner().to_string()))
        })?;
        let tree: Tpl = serde_json::from_str(text)
            .map_err(|e| err(String::new(), BlueprintRule::Shape(e.to_string())))?;
        for name in bp.requests.keys() {
            let item = tree
                .get("requests")
                .and_then(|r| r.get(name))
                .and_then(|r| r.get("item"))
                .cloned()
                .unwrap_or(Tpl::Null);
            bp.items.insert(name.clone(), item);
        }
        for (i, f) in bp.config_fields.iter().enumerate() {
            if let Some(p) = &f.pattern
                && regex::Regex::new(p).is_err()
            {
                return Err(err(
                    format!("config_fields[{i}].pattern"),
                    BlueprintRule::Invalid("a regular expression"),
                ));
            }
        }
        request_check::check(&bp, &tree).map_err(|(path, rule)| err(path, rule))?;
        crate::map::check(&bp).map_err(|(path, rule)| err(path, rule))?;
        Ok(bp)
    }

    /// The blueprint with this key.
    pub fn get(key: &str) -> Option<&'static Blueprint> {
        catalog().iter().find(|b| b.key == key)
    }

    /// The index of a request (its position in `requests`).
    pub fn request_index(&self, name: &str) -> Option<usize> {
        self.requests.keys().position(|k| k == name)
    }

    /// A request's item, keys in file order.
    pub fn item(&self, name: &str) -> Option<Tpl> {
        self.items
            .get(name)
            .cloned()
            .or_else(|| self.requests.get(name).map(|r| Tpl::from(&r.item)))
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

    /// The environment variable that points a region elsewhere:
    /// `SIGNAL_<KEY>_BASE_URL_<REGION>`, uppercase.
    pub fn base_url_env(&self, region: &str) -> String {
        format!("SIGNAL_{}_BASE_URL_{}", self.key, region).to_uppercase()
    }

    /// The identify trait that links a user to an account, if the vendor has one.
    pub fn link_trait(&self) -> Option<&str> {
        self.identity_rules.link_trait.as_deref()
    }
}

#[cfg(test)]
mod tests;
