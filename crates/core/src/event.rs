//! The event model: a validated, borrowed view of one Segment-style event on the tape.
//!
//! Nothing here owns or copies the input: strings are `&'de str` into the (unescaped) body, and
//! objects such as `properties` stay on the tape as [`Obj`]s until the mapper writes them out.

use crate::error::{EventError, Rule};
use crate::limits::{MAX_EVENT_NAME_CHARS, MAX_ID_CHARS};
use crate::tape::{Obj, Val};
use crate::time::parse_iso8601;
use simd_json::StaticNode;

/// The kind of an event. Its number (`as u8`) is written in version 2 spool records
/// (`record.rs`): a type keeps its number for ever, and a new one takes the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventType {
    /// A user action (`event` names it).
    Track = 0,
    /// A page view.
    Page = 1,
    /// Who the user is, with traits.
    Identify = 2,
    /// Which account (group) the user belongs to, with the account's traits.
    Group = 3,
    /// A mobile screen view: accepted, not sent to Pendo.
    Screen = 4,
    /// An identity merge: accepted, not sent to Pendo.
    Alias = 5,
}

impl EventType {
    /// Every type, in the order of the spec, which is their numbers' (`ALL[n] as u8 == n`).
    pub const ALL: [EventType; 6] = [
        EventType::Track,
        EventType::Page,
        EventType::Identify,
        EventType::Group,
        EventType::Screen,
        EventType::Alias,
    ];

    /// The wire name (`track`, `page`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Track => "track",
            EventType::Page => "page",
            EventType::Identify => "identify",
            EventType::Group => "group",
            EventType::Screen => "screen",
            EventType::Alias => "alias",
        }
    }

    /// Reads a wire name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A user, anonymous or group id: a string from the input, or a number turned into one.
#[derive(Clone, Copy, Debug)]
pub enum Id<'de> {
    /// A string id, borrowed from the input.
    Str(&'de str),
    /// A numeric id, formatted as it would be in JSON.
    Num(NumId),
}

/// A number formatted as a string without allocating (the longest `f64` is 24 bytes).
#[derive(Clone, Copy, Debug)]
pub struct NumId {
    buf: [u8; 24],
    len: u8,
}

impl NumId {
    pub(crate) fn new(n: StaticNode) -> Option<Self> {
        let mut ints = itoa::Buffer::new();
        let mut floats = ryu::Buffer::new();
        let text = match n {
            StaticNode::I64(i) => ints.format(i),
            StaticNode::U64(u) => ints.format(u),
            StaticNode::F64(f) if f.is_finite() => floats.format_finite(f),
            _ => return None,
        };
        let mut buf = [0u8; 24];
        let len = text.len().min(24);
        buf[..len].copy_from_slice(&text.as_bytes()[..len]);
        Some(Self {
            buf,
            len: len as u8,
        })
    }

    /// The number's text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl<'de> Id<'de> {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        match self {
            Id::Str(s) => s,
            Id::Num(n) => n.as_str(),
        }
    }
}

impl PartialEq for Id<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

/// `context.page`: where a browser event happened.
#[derive(Clone, Copy, Debug, Default)]
pub struct Page<'de> {
    /// Full URL.
    pub url: Option<&'de str>,
    /// Path part of the URL.
    pub path: Option<&'de str>,
    /// The referring URL (may be empty, as browsers send it).
    pub referrer: Option<&'de str>,
    /// Document title.
    pub title: Option<&'de str>,
    /// Query string.
    pub search: Option<&'de str>,
}

/// What the user consented to, from `context.consent`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    /// The `analytics` category: `Some(false)` when either `context.consent.analytics` or
    /// `context.consent.canonical.analytics` is false, `Some(true)` when one is true and none
    /// false, `None` when neither is given.
    pub analytics: Option<bool>,
}

/// The event's `context` (merged over a batch's top-level `context`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'t, 'de> {
    /// Client IP address.
    pub ip: Option<&'de str>,
    /// Client user agent.
    pub user_agent: Option<&'de str>,
    /// Client locale (`en-US`).
    pub locale: Option<&'de str>,
    /// The page the event happened on.
    pub page: Page<'de>,
    /// User traits carried on a non-identify event.
    pub traits: Option<Obj<'t, 'de>>,
    /// The account (group) the event belongs to.
    pub group_id: Option<Id<'de>>,
    /// Consent categories.
    pub consent: Consent,
    /// The `context` objects as sent: the event's own first, then the batch's (read by the
    /// mapping's `context.*` paths that have no field here).
    pub raw: [Option<Obj<'t, 'de>>; 2],
}

/// One validated event.
#[derive(Clone, Copy, Debug)]
pub struct Event<'t, 'de> {
    /// The event's type.
    pub kind: EventType,
    /// The track event's name (required for track).
    pub event: Option<&'de str>,
    /// The page or screen name.
    pub name: Option<&'de str>,
    /// The known user.
    pub user_id: Option<Id<'de>>,
    /// The device or browser's anonymous id.
    pub anonymous_id: Option<Id<'de>>,
    /// The group (account), required for group.
    pub group_id: Option<Id<'de>>,
    /// Track and page properties.
    pub properties: Option<Obj<'t, 'de>>,
    /// Identify and group traits.
    pub traits: Option<Obj<'t, 'de>>,
    /// The context.
    pub context: Context<'t, 'de>,
    /// When it happened, epoch milliseconds (`timestamp`, else `originalTimestamp`).
    pub timestamp: Option<i64>,
    /// When the client sent it, epoch milliseconds.
    pub sent_at: Option<i64>,
    /// When the gateway received it, epoch milliseconds (stamped by the gateway).
    pub received_at: Option<i64>,
    /// The client's id of this message, for deduplication.
    pub message_id: Option<&'de str>,
    /// Segment's per-destination switches, `{"All": false, "Pendo": true}`.
    pub integrations: Option<Obj<'t, 'de>>,
    /// Whether the event named its own `type` (else the endpoint implied it).
    pub typed: bool,
    /// The event's own `sentAt` (not the batch's): what a spool record, which does not carry
    /// the batch's, gives delivery (`record.rs` writes it into a version 2 header).
    pub(crate) own_sent_at: Option<i64>,
}

#[path = "event/trusted.rs"]
mod trusted;
pub(crate) use trusted::Known;

impl<'t, 'de> Event<'t, 'de> {
    /// An event of `kind` in `context` with no field read yet: what `decode` and `trusted`
    /// fill in.
    fn bare(kind: EventType, context: Context<'t, 'de>) -> Self {
        Event {
            kind,
            event: None,
            name: None,
            user_id: None,
            anonymous_id: None,
            group_id: None,
            properties: None,
            traits: None,
            context,
            timestamp: None,
            sent_at: None,
            received_at: None,
            message_id: None,
            integrations: None,
            typed: false,
            own_sent_at: None,
        }
    }
}
use trusted::trusted_id;

// === decoding ===

/// The top-level fields this model reads; camelCase and snake_case name one field.
#[derive(Clone, Copy)]
enum Field {
    Type,
    Event,
    Name,
    UserId,
    AnonymousId,
    GroupId,
    Properties,
    Traits,
    Context,
    Timestamp,
    OriginalTimestamp,
    SentAt,
    ReceivedAt,
    MessageId,
    Integrations,
}

/// Which field a key names, and its other spelling (if it has one).
fn field_of(key: &str) -> Option<(Field, Option<&'static str>)> {
    Some(match key {
        "type" => (Field::Type, None),
        "event" => (Field::Event, None),
        "name" => (Field::Name, None),
        "userId" => (Field::UserId, Some("user_id")),
        "user_id" => (Field::UserId, Some("userId")),
        "anonymousId" => (Field::AnonymousId, Some("anonymous_id")),
        "anonymous_id" => (Field::AnonymousId, Some("anonymousId")),
        "groupId" => (Field::GroupId, Some("group_id")),
        "group_id" => (Field::GroupId, Some("groupId")),
        "properties" => (Field::Properties, None),
        "traits" => (Field::Traits, None),
        "context" => (Field::Context, None),
        "timestamp" => (Field::Timestamp, None),
        "originalTimestamp" => (Field::OriginalTimestamp, Some("original_timestamp")),
        "original_timestamp" => (Field::OriginalTimestamp, Some("originalTimestamp")),
        "sentAt" => (Field::SentAt, Some("sent_at")),
        "sent_at" => (Field::SentAt, Some("sentAt")),
        "receivedAt" => (Field::ReceivedAt, Some("received_at")),
        "received_at" => (Field::ReceivedAt, Some("receivedAt")),
        "messageId" => (Field::MessageId, Some("message_id")),
        "message_id" => (Field::MessageId, Some("messageId")),
        "integrations" => (Field::Integrations, None),
        _ => return None,
    })
}

/// Remembers which fields were given, to catch one field given in both spellings.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn mark(&mut self, f: Field, key: &str, other: Option<&'static str>) -> Result<(), EventError> {
        let bit = 1u32 << (f as u32);
        if self.0 & bit != 0 {
            // The same spelling twice is caught earlier as a duplicate key.
            let other = other.unwrap_or("?");
            return Err(EventError::new(key, Rule::BothSpellings { other }));
        }
        self.0 |= bit;
        Ok(())
    }
}

/// Treats JSON `null` as absent, as Segment's SDKs send `"userId": null` for anonymous users.
#[inline]
fn present<'t, 'de>(v: Val<'t, 'de>) -> Option<Val<'t, 'de>> {
    (!v.is_null()).then_some(v)
}

fn wrong(key: &str, expected: &'static str) -> EventError {
    EventError::new(key, Rule::WrongType { expected })
}

#[inline]
fn string<'de>(key: &str, v: Val<'_, 'de>) -> Result<&'de str, EventError> {
    v.as_str().ok_or_else(|| wrong(key, "a string"))
}

#[inline]
fn object<'t, 'de>(key: &str, v: Val<'t, 'de>) -> Result<Obj<'t, 'de>, EventError> {
    v.as_obj().ok_or_else(|| wrong(key, "an object"))
}

/// At most `max` characters; counts characters only when the byte length could exceed it.
#[inline]
fn check_chars(key: &str, s: &str, max: usize) -> Result<(), EventError> {
    if s.len() > max && s.chars().count() > max {
        return Err(EventError::new(key, Rule::TooLong { max }));
    }
    Ok(())
}

fn id<'de>(key: &str, v: Val<'_, 'de>) -> Result<Id<'de>, EventError> {
    if let Some(s) = v.as_str() {
        if s.is_empty() {
            return Err(EventError::new(key, Rule::Empty));
        }
        check_chars(key, s, MAX_ID_CHARS)?;
        return Ok(Id::Str(s));
    }
    v.as_static_number()
        .and_then(NumId::new)
        .map(Id::Num)
        .ok_or_else(|| wrong(key, "a string or a number"))
}

pub(crate) fn timestamp(key: &str, v: Val<'_, '_>) -> Result<i64, EventError> {
    let ms = match (v.as_str(), v.as_static_number()) {
        (Some(s), _) => parse_iso8601(s),
        (_, Some(StaticNode::U64(u))) => i64::try_from(u).ok(),
        (_, Some(StaticNode::I64(i))) if i >= 0 => Some(i),
        _ => None,
    };
    ms.ok_or_else(|| EventError::new(key, Rule::NotTimestamp))
}

fn opt_bool(key: &str, v: Val<'_, '_>) -> Result<Option<bool>, EventError> {
    match present(v) {
        None => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| wrong(key, "a boolean")),
    }
}

impl<'t, 'de> Context<'t, 'de> {
    /// Lays the keys of a `context` object over this one (a batch's context first, then the event's).
    pub(crate) fn overlay(&mut self, ctx: Obj<'t, 'de>) -> Result<(), EventError> {
        self.overlay_with::<true>(ctx)
    }

    /// [`overlay`](Self::overlay) of a context the gateway has validated (a version 2 spool
    /// record's): the same fields read, without the rules (one spelling of each key, ids not
    /// empty nor too long). A value of the wrong JSON type is still an error: the record is
    /// then not what the gateway wrote.
    pub(crate) fn overlay_trusted(&mut self, ctx: Obj<'t, 'de>) -> Result<(), EventError> {
        self.overlay_with::<false>(ctx)
    }

    fn overlay_with<const CHECK: bool>(&mut self, ctx: Obj<'t, 'de>) -> Result<(), EventError> {
        self.raw = [Some(ctx), self.raw[0]];
        let mut seen_ua = false;
        let mut seen_group = false;
        for (k, v) in ctx.iter() {
            let Some(v) = present(v) else { continue };
            match k {
                "ip" => self.ip = Some(string(k, v)?),
                "locale" => self.locale = Some(string(k, v)?),
                "userAgent" | "user_agent" => {
                    if std::mem::replace(&mut seen_ua, true) && CHECK {
                        let other = if k == "userAgent" {
                            "user_agent"
                        } else {
                            "userAgent"
                        };
                        return Err(EventError::new(k, Rule::BothSpellings { other }));
                    }
                    self.user_agent = Some(string(k, v)?);
                }
                "groupId" | "group_id" => {
                    if std::mem::replace(&mut seen_group, true) && CHECK {
                        let other = if k == "groupId" {
                            "group_id"
                        } else {
                            "groupId"
                        };
                        return Err(EventError::new(k, Rule::BothSpellings { other }));
                    }
                    self.group_id = Some(if CHECK { id(k, v)? } else { trusted_id(k, v)? });
                }
                "traits" => self.traits = Some(object(k, v)?),
                "page" => self
                    .overlay_page(object(k, v)?)
                    .map_err(|e| e.within("page"))?,
                "consent" => self
                    .overlay_consent(object(k, v)?)
                    .map_err(|e| e.within("consent"))?,
                _ => {}
            }
        }
        Ok(())
    }

    fn overlay_page(&mut self, page: Obj<'t, 'de>) -> Result<(), EventError> {
        for (k, v) in page.iter() {
            let slot = match k {
                "url" => &mut self.page.url,
                "path" => &mut self.page.path,
                "referrer" => &mut self.page.referrer,
                "title" => &mut self.page.title,
                "search" => &mut self.page.search,
                _ => continue,
            };
            if let Some(v) = present(v) {
                *slot = Some(string(k, v)?);
            }
        }
        Ok(())
    }

    fn overlay_consent(&mut self, consent: Obj<'t, 'de>) -> Result<(), EventError> {
        let mut given = [None, None];
        for (k, v) in consent.iter() {
            match k {
                "analytics" => given[0] = opt_bool(k, v)?,
                "canonical" => {
                    if let Some(v) = present(v) {
                        let canonical = object(k, v)?;
                        if let Some(a) = canonical.get("analytics") {
                            given[1] = opt_bool("analytics", a).map_err(|e| e.within(k))?;
                        }
                    }
                }
                _ => {}
            }
        }
        if given.contains(&Some(false)) {
            self.consent.analytics = Some(false);
        } else if given.contains(&Some(true)) {
            self.consent.analytics = Some(true);
        }
        Ok(())
    }
}

impl<'t, 'de> Event<'t, 'de> {
    /// Reads one of the fields that a full decode and a trusted read ([`Event::trusted`]) take
    /// alike into `self`: `CHECK` checks ids (not empty, not too long) and the context's
    /// rules. False for the type and the timestamps, which each read takes its own way.
    #[inline]
    fn read_shared<const CHECK: bool>(
        &mut self,
        field: Field,
        k: &str,
        v: Val<'t, 'de>,
    ) -> Result<bool, EventError> {
        let read_id = if CHECK { id } else { trusted_id };
        match field {
            Field::Event => self.event = Some(string(k, v)?),
            Field::Name => self.name = Some(string(k, v)?),
            Field::UserId => self.user_id = Some(read_id(k, v)?),
            Field::AnonymousId => self.anonymous_id = Some(read_id(k, v)?),
            Field::GroupId => self.group_id = Some(read_id(k, v)?),
            Field::Properties => self.properties = Some(object(k, v)?),
            Field::Traits => self.traits = Some(object(k, v)?),
            Field::Context => self
                .context
                .overlay_with::<CHECK>(object(k, v)?)
                .map_err(|e| e.within("context"))?,
            Field::MessageId => self.message_id = Some(string(k, v)?),
            Field::Integrations => self.integrations = Some(object(k, v)?),
            Field::Type
            | Field::Timestamp
            | Field::OriginalTimestamp
            | Field::SentAt
            | Field::ReceivedAt => return Ok(false),
        }
        Ok(true)
    }

    /// Decodes and validates one event object.
    ///
    /// `implied` is the type the endpoint implies (`/v1/t` implies track); `base` is the batch's
    /// top-level context, under the event's own; `stamps` the batch's `sentAt` and `receivedAt`.
    pub(crate) fn decode(
        v: Val<'t, 'de>,
        implied: Option<EventType>,
        base: Context<'t, 'de>,
        stamps: crate::parse::Stamps,
    ) -> Result<Self, EventError> {
        let obj = v.as_obj().ok_or_else(|| {
            EventError::new(
                "",
                Rule::WrongType {
                    expected: "an object",
                },
            )
        })?;
        crate::unique::check_unique_keys(v)?;
        let mut seen = Seen::default();
        let mut kind = None;
        let mut ev = Event {
            sent_at: stamps.sent_at,
            ..Event::bare(EventType::Track, base)
        };
        let mut original_ts = None;
        for (k, v) in obj.iter() {
            let Some((field, other)) = field_of(k) else {
                continue;
            };
            seen.mark(field, k, other)?;
            let Some(v) = present(v) else { continue };
            if ev.read_shared::<true>(field, k, v)? {
                continue;
            }
            match field {
                Field::Type => {
                    let t = string(k, v)?;
                    kind = Some(
                        EventType::from_name(t)
                            .ok_or_else(|| EventError::new(k, Rule::UnknownType))?,
                    );
                }
                Field::Timestamp => ev.timestamp = Some(timestamp(k, v)?),
                Field::OriginalTimestamp => original_ts = Some(timestamp(k, v)?),
                Field::SentAt => {
                    ev.own_sent_at = Some(timestamp(k, v)?);
                    ev.sent_at = ev.own_sent_at;
                }
                Field::ReceivedAt => ev.received_at = Some(timestamp(k, v)?),
                _ => {}
            }
        }
        ev.timestamp = ev.timestamp.or(original_ts);
        ev.received_at = stamps.received_at.or(ev.received_at);
        ev.typed = kind.is_some();
        ev.kind = match (kind, implied) {
            (Some(k), Some(i)) if k != i => {
                return Err(EventError::new(
                    "type",
                    Rule::TypeMismatch {
                        expected: i.as_str(),
                    },
                ));
            }
            (Some(k), _) | (None, Some(k)) => k,
            (None, None) => return Err(EventError::new("type", Rule::Required)),
        };
        if ev.user_id.is_none() && ev.anonymous_id.is_none() {
            return Err(EventError::new("userId", Rule::NoIdentity));
        }
        match ev.kind {
            EventType::Track => {
                let name = ev
                    .event
                    .ok_or_else(|| EventError::new("event", Rule::Required))?;
                if name.is_empty() {
                    return Err(EventError::new("event", Rule::Empty));
                }
                check_chars("event", name, MAX_EVENT_NAME_CHARS)?;
            }
            EventType::Group if ev.group_id.is_none() => {
                return Err(EventError::new("groupId", Rule::Required));
            }
            _ => {}
        }
        Ok(ev)
    }

    /// The user's id if known, else the anonymous id.
    pub fn any_id(&self) -> Option<&Id<'de>> {
        self.user_id.as_ref().or(self.anonymous_id.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_read_as_json_writes_them() {
        assert_eq!(
            NumId::new(StaticNode::U64(42)).map(|n| n.as_str().to_owned()),
            Some("42".into())
        );
        assert_eq!(
            NumId::new(StaticNode::I64(-7)).map(|n| n.as_str().to_owned()),
            Some("-7".into())
        );
        assert_eq!(
            NumId::new(StaticNode::F64(1.5)).map(|n| n.as_str().to_owned()),
            Some("1.5".into())
        );
        assert!(NumId::new(StaticNode::Bool(true)).is_none());
    }

    #[test]
    fn type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(EventType::from_name("Track"), None);
    }
}
