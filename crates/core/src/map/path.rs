//! Event paths, resolved once to accessors: a typed field of [`Event`] (`context.ip`,
//! `timestamp`), or a key path under one of the event's objects on the tape
//! (`properties.plan`, `traits.address.city`).

use crate::event::{Event, Id};
use crate::tape::Val;

/// A typed field of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Type,
    Event,
    Name,
    UserId,
    AnonymousId,
    GroupId,
    MessageId,
    Timestamp,
    SentAt,
    ReceivedAt,
    Ip,
    UserAgent,
    Locale,
    CtxGroupId,
    PageUrl,
    PagePath,
    PageReferrer,
    PageTitle,
    PageSearch,
    Properties,
    Traits,
    CtxTraits,
    Integrations,
    /// Any other `context.*` path, read from the event's `context` objects.
    Context,
}

/// A compiled path: the field, and keys below it for the object fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path {
    pub field: Field,
    pub keys: Box<[Box<str>]>,
}

/// What a path reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Got<'t, 'de> {
    /// A string of the event.
    Str(&'de str),
    /// An id (string, or a number read as its text).
    Id(Id<'de>),
    /// A time, epoch milliseconds.
    Time(i64),
    /// A value on the tape (never null).
    Tape(Val<'t, 'de>),
}

const OBJECTS: &[(&str, Field)] = &[
    ("properties", Field::Properties),
    ("traits", Field::Traits),
    ("context.traits", Field::CtxTraits),
    ("integrations", Field::Integrations),
];

/// Resolves a dotted path; `None` when the engine cannot read it.
pub(crate) fn compile(path: &str) -> Option<Path> {
    let field = match path {
        "type" => Field::Type,
        "event" => Field::Event,
        "name" => Field::Name,
        "userId" => Field::UserId,
        "anonymousId" => Field::AnonymousId,
        "groupId" => Field::GroupId,
        "messageId" => Field::MessageId,
        "timestamp" => Field::Timestamp,
        "sentAt" => Field::SentAt,
        "receivedAt" => Field::ReceivedAt,
        "context.ip" => Field::Ip,
        "context.userAgent" => Field::UserAgent,
        "context.locale" => Field::Locale,
        "context.groupId" => Field::CtxGroupId,
        "context.page.url" => Field::PageUrl,
        "context.page.path" => Field::PagePath,
        "context.page.referrer" => Field::PageReferrer,
        "context.page.title" => Field::PageTitle,
        "context.page.search" => Field::PageSearch,
        _ => {
            for (root, field) in OBJECTS {
                if path == *root {
                    return Some(Path {
                        field: *field,
                        keys: Box::new([]),
                    });
                }
                if let Some(rest) = path.strip_prefix(root).and_then(|r| r.strip_prefix('.')) {
                    let keys: Vec<Box<str>> = rest.split('.').map(Box::from).collect();
                    if keys.iter().any(|k| k.is_empty()) {
                        return None;
                    }
                    return Some(Path {
                        field: *field,
                        keys: keys.into(),
                    });
                }
            }
            if let Some(rest) = path.strip_prefix("context.") {
                let keys: Vec<Box<str>> = rest.split('.').map(Box::from).collect();
                if keys.iter().any(|k| k.is_empty()) {
                    return None;
                }
                return Some(Path {
                    field: Field::Context,
                    keys: keys.into(),
                });
            }
            return None;
        }
    };
    Some(Path {
        field,
        keys: Box::new([]),
    })
}

impl Path {
    /// Reads the path; absent (and `null`) is `None`.
    #[inline]
    pub(crate) fn read<'t, 'de>(&self, ev: &Event<'t, 'de>) -> Option<Got<'t, 'de>> {
        let c = &ev.context;
        let s = |v: Option<&'de str>| v.map(Got::Str);
        let obj = match self.field {
            Field::Type => return Some(Got::Str(ev.kind.as_str())),
            Field::Event => return s(ev.event),
            Field::Name => return s(ev.name),
            Field::UserId => return ev.user_id.map(Got::Id),
            Field::AnonymousId => return ev.anonymous_id.map(Got::Id),
            Field::GroupId => return ev.group_id.map(Got::Id),
            Field::MessageId => return s(ev.message_id),
            Field::Timestamp => return ev.timestamp.map(Got::Time),
            Field::SentAt => return ev.sent_at.map(Got::Time),
            Field::ReceivedAt => return ev.received_at.map(Got::Time),
            Field::Ip => return s(c.ip),
            Field::UserAgent => return s(c.user_agent),
            Field::Locale => return s(c.locale),
            Field::CtxGroupId => return c.group_id.map(Got::Id),
            Field::PageUrl => return s(c.page.url),
            Field::PagePath => return s(c.page.path),
            Field::PageReferrer => return s(c.page.referrer),
            Field::PageTitle => return s(c.page.title),
            Field::PageSearch => return s(c.page.search),
            Field::Properties => ev.properties,
            Field::Traits => ev.traits,
            Field::CtxTraits => c.traits,
            Field::Integrations => ev.integrations,
            Field::Context => return self.read_context(ev),
        }?;
        let mut v = obj.as_val();
        for k in &self.keys {
            v = v.as_obj()?.get(k)?;
        }
        (!v.is_null()).then_some(Got::Tape(v))
    }

    /// A `context.*` path: the event's own context, else the batch's.
    #[inline(never)]
    fn read_context<'t, 'de>(&self, ev: &Event<'t, 'de>) -> Option<Got<'t, 'de>> {
        ev.context.raw.iter().flatten().find_map(|obj| {
            let mut v = obj.as_val();
            for k in &self.keys {
                v = v.as_obj()?.get(k)?;
            }
            (!v.is_null()).then_some(Got::Tape(v))
        })
    }

    /// When this path is `parent` plus one key, that key.
    pub(crate) fn child_of(&self, parent: &Path) -> Option<&str> {
        (self.field == parent.field
            && self.keys.len() == parent.keys.len() + 1
            && self.keys.starts_with(&parent.keys))
        .then(|| self.keys.last().map(|k| &**k))
        .flatten()
    }
}
