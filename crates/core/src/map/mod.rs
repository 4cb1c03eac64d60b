//! Mapping one event to the vendor's request items, following a blueprint's compiled write plan
//! and an integration's config.
//!
//! A [`Mapper`] belongs to one installed integration: [`Mapper::new`] compiles the blueprint
//! (`plan.rs`) with the integration's config and privacy rules, once. [`Mapper::map`] then
//! interprets the plan for each event (`write.rs`) into buffers the mapper owns, so mapping an
//! event allocates nothing once they have grown (warnings that name renamed keys are the
//! exception, and rare). The decisions, in order: the first matching event row (a drop row
//! drops with its reason); the event's `integrations` object (`integration_disabled`); consent
//! (`consent`); the config's `event_mapping` override (`null` drops, `event_mapping`); then each
//! item the row sends, with identity resolved when an item first needs it (`anonymous`), and
//! `@required` values (`no_traits`).

mod copy;
mod directive;
mod eval;
mod identity_plan;
mod keys;
mod path;
mod plan;
mod privacy;
mod resolve;
mod style;
mod value;
mod write;

use crate::blueprint::{Blueprint, BlueprintRule, Variant};
use crate::config::{ConfigErrors, IntegrationConfig};
use crate::event::Event;
use crate::identity::IdentityLookup;
use std::fmt;
use std::ops::Range;

pub(crate) use privacy::Rules as PrivacyRules;

/// Why an event is not sent to the vendor. The live event's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// `screen` and `alias` have no vendor request.
    UnsupportedType,
    /// The event's `integrations` object switched this vendor off.
    IntegrationDisabled,
    /// No analytics consent.
    Consent,
    /// The config's `event_mapping` maps the event to `null`.
    EventMapping,
    /// No userId, no identify link, and `anonymous_visitors` is `drop`.
    Anonymous,
    /// An identify or group call with no traits to send.
    NoTraits,
    /// A blueprint row's or `@required` value's reason.
    Rule(&'static str),
}

impl DropReason {
    /// The reason's code, as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnsupportedType => "unsupported_type",
            DropReason::IntegrationDisabled => "integration_disabled",
            DropReason::Consent => "consent",
            DropReason::EventMapping => "event_mapping",
            DropReason::Anonymous => "anonymous",
            DropReason::NoTraits => "no_traits",
            DropReason::Rule(code) => code,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the mapper changed or could not do, sent along with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// No accountId could be found for the event.
    AccountNotLinked,
    /// A key broke the vendor's rules or clashed with a reserved name and was renamed.
    PropertyRenamed {
        /// The key as sent by the client.
        from: String,
        /// The key as sent to the vendor.
        to: String,
        /// True when the key was reserved, false when it broke a character or length rule.
        reserved: bool,
    },
    /// A renamed key collided with a key already written; the first was kept.
    PropertyCollision {
        /// The key as sent by the client.
        from: String,
        /// The name it would have had, already taken.
        to: String,
    },
    /// The properties are larger than the vendor shows.
    PropertiesTooLarge {
        /// Size of the properties' JSON.
        bytes: usize,
        /// The vendor's limit.
        limit: usize,
        /// The vendor's name (`Pendo`).
        vendor: &'static str,
    },
    /// The event is older than the vendor shows.
    TimestampTooOld {
        /// The event's age in days.
        days: i64,
        /// The vendor's limit in days.
        limit: i64,
        /// The vendor's name (`Pendo`).
        vendor: &'static str,
    },
}

impl Warning {
    /// The warning's code, as the API shows it.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::AccountNotLinked => "account_not_linked",
            Warning::PropertyRenamed { .. } | Warning::PropertyCollision { .. } => {
                "reserved_property"
            }
            Warning::PropertiesTooLarge { .. } => "properties_too_large",
            Warning::TimestampTooOld { .. } => "timestamp_too_old",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::AccountNotLinked => f.write_str(
                "no accountId: include accountId as a trait in identify to link visitors to accounts",
            ),
            Warning::PropertyRenamed {
                from,
                to,
                reserved: true,
            } => write!(f, "`{from}` is a reserved name, sent as `{to}`"),
            Warning::PropertyRenamed { from, to, .. } => write!(
                f,
                "`{from}` breaks the key rules (letters, digits, _; no leading digit; length), sent as `{to}`"
            ),
            Warning::PropertyCollision { from, to } if from == to => write!(
                f,
                "`{from}` is already taken by a renamed key: not sent"
            ),
            Warning::PropertyCollision { from, to } => write!(
                f,
                "`{from}` would be renamed `{to}`, which is already taken: not sent"
            ),
            Warning::PropertiesTooLarge {
                bytes,
                limit,
                vendor,
            } => write!(
                f,
                "properties are {bytes} bytes, over {limit}: sent, but {vendor} may not show them"
            ),
            Warning::TimestampTooOld {
                days,
                limit,
                vendor,
            } => write!(
                f,
                "the event is {days} days old, over {limit}: sent, but {vendor} may not show it"
            ),
        }
    }
}

/// What one event becomes.
#[derive(Debug, Clone, Copy)]
pub enum Mapped<'m> {
    /// Items to send: usually one, two when an event feeds two requests.
    Send(Items<'m>),
    /// Not sent, and why.
    Dropped(DropReason),
}

/// The items one event made.
#[derive(Debug, Clone, Copy)]
pub struct Items<'m> {
    out: &'m [u8],
    spans: &'m [write::Span],
    fields: &'m [(Range<u32>, Range<u32>)],
    ids: &'m str,
}

impl<'m> Items<'m> {
    /// How many.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are none (never, for a `Send`).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The item at `i`.
    pub fn get(&self, i: usize) -> Option<Item<'m>> {
        let s = self.spans.get(i)?;
        let text = |r: &Range<u32>| self.ids.get(r.start as usize..r.end as usize).unwrap_or("");
        Some(Item {
            request: s.request,
            body: &self.out[s.body.start as usize..s.body.end as usize],
            merge: s.merge.as_ref().map(|(id, f)| Merge {
                id: text(id),
                out: self.out,
                fields: &self.fields[f.start as usize..f.end as usize],
            }),
            hold: s.hold.as_ref().map(text),
        })
    }

    /// The items in order.
    pub fn iter(&self) -> impl Iterator<Item = Item<'m>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// One item: the JSON of one event for one request.
#[derive(Debug, Clone, Copy)]
pub struct Item<'m> {
    /// Index into the blueprint's `requests` (and the integration's targets).
    pub request: usize,
    /// The item's JSON.
    pub body: &'m [u8],
    /// When the request's batch has `merge_by`: the id and the fields that merge.
    pub merge: Option<Merge<'m>>,
    /// The item's value at the request's `batch.hold_by`.
    pub hold: Option<&'m str>,
}

/// What merges: `{"<merge_by>": id, "<merge_into>": {fields}}`.
#[derive(Debug, Clone, Copy)]
pub struct Merge<'m> {
    /// The id (unescaped).
    pub id: &'m str,
    out: &'m [u8],
    fields: &'m [(Range<u32>, Range<u32>)],
}

impl<'m> Merge<'m> {
    /// The `merge_into` object's members as (key JSON, value JSON) pairs.
    pub fn fields(&self) -> impl Iterator<Item = (&'m [u8], &'m [u8])> + '_ {
        let out = self.out;
        self.fields.iter().map(move |(k, v)| {
            (
                &out[k.start as usize..k.end as usize],
                &out[v.start as usize..v.end as usize],
            )
        })
    }
}

/// The result of mapping one event.
#[derive(Debug, Clone, Copy)]
pub struct Mapping<'m> {
    /// The items, or the drop.
    pub outcome: Mapped<'m>,
    /// The vendor event name, when the event's row names one.
    pub event_name: Option<&'m str>,
    /// What was changed or missing, for the live event.
    pub warnings: &'m [Warning],
}

/// Maps events for one installed integration, reusing its buffers.
pub struct Mapper {
    bp: &'static Blueprint,
    variant: &'static Variant,
    config: IntegrationConfig,
    plan: plan::Plan<'static>,
    bufs: write::Bufs,
}

impl std::fmt::Debug for Mapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapper")
            .field("blueprint", &self.bp.key)
            .finish_non_exhaustive()
    }
}

/// Checks a blueprint by compiling its plan without a config (at load).
pub(crate) fn check(bp: &Blueprint) -> Result<(), (String, BlueprintRule)> {
    plan::compile(bp, None, PrivacyRules::default(), Default::default(), false).map(|_| ())
}

impl Mapper {
    /// A mapper for an integration of `bp`'s `variant` with `config`: the write plan is compiled
    /// here, once.
    ///
    /// # Panics
    ///
    /// Never for a blueprint that loaded (loading compiles the same plan).
    pub fn new(
        bp: &'static Blueprint,
        variant: &'static Variant,
        config: IntegrationConfig,
    ) -> Self {
        let plan = match plan::compile(
            bp,
            Some(&config.values),
            config.privacy.clone(),
            config.event_mapping.clone(),
            config.require_consent,
        ) {
            Ok(p) => p,
            Err((path, rule)) => panic!("blueprint {}: {path}: {rule}", bp.key),
        };
        let mut bufs = write::Bufs::default();
        bufs.out.reserve(2048);
        Self {
            bp,
            variant,
            config,
            plan,
            bufs,
        }
    }

    /// A mapper for blueprint `key` with `config` validated against it (default variant).
    ///
    /// # Errors
    ///
    /// An unknown blueprint (field `blueprint`), or the config's field errors.
    pub fn from_config(key: &str, config: &serde_json::Value) -> Result<Self, ConfigErrors> {
        let Some(bp) = Blueprint::get(key) else {
            let mut errors = ConfigErrors::default();
            errors
                .fields
                .insert("blueprint".into(), format!("no blueprint `{key}`"));
            return Err(errors);
        };
        let (config, variant) = IntegrationConfig::validate_install(bp, None, None, config)?;
        Ok(Self::new(bp, variant, config))
    }

    /// The blueprint.
    pub fn blueprint(&self) -> &'static Blueprint {
        self.bp
    }

    /// The variant.
    pub fn variant(&self) -> &'static Variant {
        self.variant
    }

    /// The integration's configuration.
    pub fn config(&self) -> &IntegrationConfig {
        &self.config
    }

    /// Maps one event. `now_ms` is the current time (for events without a timestamp and the
    /// age warning); `ids` answers identity lookups.
    pub fn map(
        &mut self,
        ev: &Event<'_, '_>,
        ids: &dyn IdentityLookup,
        now_ms: i64,
    ) -> Mapping<'_> {
        let result = write::map_event(&self.plan, &mut self.bufs, ev, ids, now_ms);
        let b = &self.bufs;
        let outcome = match result {
            Ok(()) => Mapped::Send(Items {
                out: &b.out,
                spans: &b.spans,
                fields: &b.fields,
                ids: &b.ids,
            }),
            Err(reason) => Mapped::Dropped(reason),
        };
        Mapping {
            outcome,
            event_name: b.st.has_name.then_some(b.st.name.as_str()),
            warnings: &b.warnings,
        }
    }
}

#[cfg(test)]
mod tests;
