//! Mapping one event to one vendor request, following a blueprint and an integration's config.
//!
//! A [`Mapper`] belongs to one installed integration. It owns the buffers it writes into, so
//! mapping an event allocates nothing once they have grown (warnings that name renamed keys are
//! the exception, and rare). The decisions, in order:
//!
//! 1. `screen` and `alias` are not sent (`unsupported_type`);
//! 2. the event's `integrations` object can switch the vendor off (`integration_disabled`);
//! 3. consent (`consent`): analytics consent `false`, or absent when `require_consent` is set;
//! 4. track and page: the variant's mapping row and the config's `event_mapping` override
//!    (`null` drops, reason `event_mapping`);
//! 5. the visitor: `userId`, else the user an identify linked to the `anonymousId`, else the
//!    anonymous prefix or a drop (`anonymous`), per `anonymous_visitors`;
//! 6. the request: a Track body (`track.rs`) or a visitor or account metadata record
//!    (`metadata.rs`).

mod keys;
mod metadata;
mod track;

use crate::blueprint::{Blueprint, EventRule, Variant};
use crate::config::{AnonymousVisitors, ConfigErrors, IntegrationConfig};
use crate::event::{Event, EventType};
use crate::identity::IdentityLookup;
use crate::tape::Obj;
use std::fmt;
use std::ops::Range;

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
    },
    /// The event is older than the vendor shows.
    TimestampTooOld {
        /// The event's age in days.
        days: i64,
        /// The vendor's limit in days.
        limit: i64,
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
            Warning::PropertiesTooLarge { bytes, limit } => write!(
                f,
                "properties are {bytes} bytes, over {limit}: sent, but Pendo may not show them"
            ),
            Warning::TimestampTooOld { days, limit } => write!(
                f,
                "the event is {days} days old, over {limit}: sent, but Pendo may not show it"
            ),
        }
    }
}

/// Which metadata a record updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataKind {
    /// Visitor metadata, from identify.
    Visitor,
    /// Account metadata, from group.
    Account,
}

/// What one event becomes.
#[derive(Debug, Clone, Copy)]
pub enum Mapped<'m> {
    /// A Track request body, ready to send.
    Track {
        /// The vendor's event name.
        event: &'m str,
        /// The JSON body.
        body: &'m [u8],
    },
    /// One record of a metadata request (the request body is an array of them).
    Metadata(MetadataRecord<'m>),
    /// Not sent, and why.
    Dropped(DropReason),
}

/// One metadata record: `{"visitorId":"u-123","values":{"plan":"pro"}}`.
#[derive(Debug, Clone, Copy)]
pub struct MetadataRecord<'m> {
    /// Visitor or account.
    pub kind: MetadataKind,
    /// The visitorId or accountId.
    pub id: &'m str,
    /// The record's JSON.
    pub body: &'m [u8],
    fields: &'m [(Range<u32>, Range<u32>)],
}

impl<'m> MetadataRecord<'m> {
    /// The record's values as (key JSON, value JSON) pairs, for merging records of one id.
    pub fn fields(&self) -> impl Iterator<Item = (&'m [u8], &'m [u8])> + '_ {
        let body = self.body;
        self.fields.iter().map(move |(k, v)| {
            (
                &body[k.start as usize..k.end as usize],
                &body[v.start as usize..v.end as usize],
            )
        })
    }
}

/// The result of mapping one event.
#[derive(Debug, Clone, Copy)]
pub struct Mapping<'m> {
    /// The request, or the drop.
    pub outcome: Mapped<'m>,
    /// What was changed or missing, for the live event.
    pub warnings: &'m [Warning],
}

/// Maps events for one installed integration, reusing its buffers.
pub struct Mapper {
    bp: &'static Blueprint,
    variant: &'static Variant,
    config: IntegrationConfig,
    out: Vec<u8>,
    warnings: Vec<Warning>,
    fields: Vec<(Range<u32>, Range<u32>)>,
    /// The vendor event name of a track request.
    event_name: String,
    /// The resolved visitorId.
    visitor: String,
    /// The resolved userId (empty for an anonymous visitor).
    user: String,
    /// The resolved accountId, or a group's id.
    account: String,
    /// Keys written so far, kept only while an object has renamed keys (to find collisions).
    taken: Vec<Range<u32>>,
    /// A reused buffer for renamed keys.
    scratch: String,
}

impl Mapper {
    /// A mapper for an integration of `bp`'s `variant` with `config`.
    pub fn new(
        bp: &'static Blueprint,
        variant: &'static Variant,
        config: IntegrationConfig,
    ) -> Self {
        Self {
            bp,
            variant,
            config,
            out: Vec::with_capacity(2048),
            warnings: Vec::new(),
            fields: Vec::new(),
            event_name: String::with_capacity(64),
            visitor: String::with_capacity(64),
            user: String::with_capacity(64),
            account: String::with_capacity(64),
            taken: Vec::new(),
            scratch: String::new(),
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
        self.out.clear();
        self.warnings.clear();
        self.fields.clear();
        let outcome = match self.decide(ev, ids, now_ms) {
            Ok(Built::Track) => Mapped::Track {
                event: &self.event_name,
                body: &self.out,
            },
            Ok(Built::Metadata(kind)) => Mapped::Metadata(MetadataRecord {
                kind,
                id: match kind {
                    MetadataKind::Visitor => &self.visitor,
                    MetadataKind::Account => &self.account,
                },
                body: &self.out,
                fields: &self.fields,
            }),
            Err(reason) => Mapped::Dropped(reason),
        };
        Mapping {
            outcome,
            warnings: &self.warnings,
        }
    }

    fn decide(
        &mut self,
        ev: &Event<'_, '_>,
        ids: &dyn IdentityLookup,
        now_ms: i64,
    ) -> Result<Built, DropReason> {
        if matches!(ev.kind, EventType::Screen | EventType::Alias) {
            return Err(DropReason::UnsupportedType);
        }
        if !enabled_by(ev.integrations, &self.bp.integrations_key) {
            return Err(DropReason::IntegrationDisabled);
        }
        match ev.context.consent.analytics {
            Some(false) => return Err(DropReason::Consent),
            None if self.config.require_consent => return Err(DropReason::Consent),
            _ => {}
        }
        match ev.kind {
            EventType::Track | EventType::Page => {
                let (rule, name) = self.rule_for(ev)?;
                self.resolve_visitor(ev, ids)?;
                self.event_name.clear();
                self.event_name.push_str(name.as_str());
                track::write(self, ev, ids, rule, now_ms);
                Ok(Built::Track)
            }
            EventType::Identify => {
                self.resolve_visitor(ev, ids)?;
                metadata::write_visitor(self, ev)?;
                Ok(Built::Metadata(MetadataKind::Visitor))
            }
            EventType::Group => {
                metadata::write_account(self, ev)?;
                Ok(Built::Metadata(MetadataKind::Account))
            }
            EventType::Screen | EventType::Alias => Err(DropReason::UnsupportedType),
        }
    }

    /// The mapping row for a track or page event, and the vendor event name.
    fn rule_for<'e>(
        &self,
        ev: &Event<'_, 'e>,
    ) -> Result<(&'static EventRule, EventName<'e>), DropReason> {
        let (kind, source) = match ev.kind {
            EventType::Page => ("page", "page"),
            _ => ("track", ev.event.unwrap_or_default()),
        };
        let rows = &self.variant.event_mapping;
        let rule = rows
            .iter()
            .filter(|r| r.kind == kind)
            .find(|r| r.source == source || r.aliases.iter().any(|a| a == source))
            .or_else(|| rows.iter().find(|r| r.kind == kind && r.source == "*"))
            .ok_or(DropReason::EventMapping)?;
        if !self.config.event_mapping.is_empty()
            && let Some(target) = self.config.event_mapping.get(source)
        {
            return match target {
                Some(t) => Ok((rule, EventName::Override(t.clone()))),
                None => Err(DropReason::EventMapping),
            };
        }
        Ok(if rule.target == "*" {
            (rule, EventName::Source(source))
        } else {
            (rule, EventName::Rule(&rule.target))
        })
    }

    /// Fills `self.visitor` and `self.user`.
    fn resolve_visitor(
        &mut self,
        ev: &Event<'_, '_>,
        ids: &dyn IdentityLookup,
    ) -> Result<(), DropReason> {
        self.visitor.clear();
        self.user.clear();
        if let Some(user) = &ev.user_id {
            self.visitor.push_str(user.as_str());
            self.user.push_str(user.as_str());
            return Ok(());
        }
        let anon = ev
            .anonymous_id
            .as_ref()
            .map(|a| a.as_str())
            .unwrap_or_default();
        if ids.user_for_anonymous(anon, &mut self.user) {
            self.visitor.push_str(&self.user);
            return Ok(());
        }
        self.user.clear();
        match self.config.anonymous_visitors {
            AnonymousVisitors::Drop => Err(DropReason::Anonymous),
            AnonymousVisitors::Prefix => {
                self.visitor.push_str(&self.bp.anonymous_prefix);
                self.visitor.push_str(anon);
                Ok(())
            }
        }
    }
}

/// What `decide` wrote into the buffer.
enum Built {
    Track,
    Metadata(MetadataKind),
}

/// The vendor event name, wherever it comes from.
enum EventName<'e> {
    Source(&'e str),
    Rule(&'static str),
    Override(String),
}

impl EventName<'_> {
    fn as_str(&self) -> &str {
        match self {
            EventName::Source(s) => s,
            EventName::Rule(s) => s,
            EventName::Override(s) => s,
        }
    }
}

/// Segment's `integrations` semantics: the vendor's own key wins (`false` switches it off; `true`
/// or an options object on); otherwise `"All": false` switches every vendor off.
fn enabled_by(integrations: Option<Obj<'_, '_>>, name: &str) -> bool {
    let Some(obj) = integrations else { return true };
    if let Some(v) = obj.get(name) {
        return v.as_bool() != Some(false);
    }
    obj.get("All").and_then(|v| v.as_bool()) != Some(false)
}

#[cfg(test)]
mod tests;
