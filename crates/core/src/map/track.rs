//! The Track request body (pendo.md section 5):
//!
//! ```json
//! {"type":"track","event":"page_view","visitorId":"u-123","accountId":"acme-corp",
//!  "timestamp":1732608000000,"properties":{...},"context":{"ip":...,"userAgent":...,
//!  "url":...,"title":...,"locale":...,"anonymousId":...}}
//! ```
//!
//! Keys absent from the event are left out, never sent as `null` or `""`.

use super::keys::{KeyWriter, Source};
use super::{Mapper, Warning};
use crate::blueprint::EventRule;
use crate::event::{Event, NumId, Page};
use crate::identity::IdentityLookup;
use crate::json::{write_i64, write_str};
use crate::tape::Val;

const DAY_MS: i64 = 86_400_000;

/// Where the accountId came from, in order of precedence (pendo.md section 2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum AccountFrom {
    ContextGroupId,
    Properties,
    ContextTraits,
    IdentifyTrait,
    LatestGroup,
}

/// Writes the Track body for `ev` into `m.out`; `m.visitor` and `m.event_name` are set.
pub(super) fn write(
    m: &mut Mapper,
    ev: &Event<'_, '_>,
    ids: &dyn IdentityLookup,
    rule: &EventRule,
    now_ms: i64,
) {
    let Mapper {
        bp,
        out,
        warnings,
        taken,
        scratch,
        event_name,
        visitor,
        user,
        account,
        ..
    } = m;
    let spec = &bp.track;
    let link = bp.metadata.link_trait.as_str();
    let account_from = resolve_account(ev, ids, link, user, account);

    out.extend_from_slice(b"{\"type\":\"track\",\"event\":");
    write_str(out, event_name);
    out.extend_from_slice(b",\"visitorId\":");
    write_str(out, visitor);
    if account_from.is_some() {
        out.extend_from_slice(b",\"accountId\":");
        write_str(out, account);
    } else {
        warnings.push(Warning::AccountNotLinked);
    }
    let ts = ev.timestamp.or(ev.received_at).unwrap_or(now_ms);
    out.extend_from_slice(b",\"timestamp\":");
    write_i64(out, ts);
    let age_days = (now_ms - ts) / DAY_MS;
    if now_ms - ts > spec.max_age_days * DAY_MS {
        warnings.push(Warning::TimestampTooOld {
            days: age_days,
            limit: spec.max_age_days,
        });
    }

    // properties: the input's (under the key rules), then what the mapping row adds.
    let mark = out.len();
    out.extend_from_slice(b",\"properties\":");
    let start = out.len();
    let props = ev.properties;
    let has = |k: &str| props.is_some_and(|p| p.get(k).is_some());
    let plan = &rule.properties;
    let skip_account = account_from == Some(AccountFrom::Properties);
    let mut w = KeyWriter::begin(out, warnings, taken, scratch, &spec.properties, None, props);
    if let Some(p) = props {
        for (k, v) in p.iter() {
            if skip_account && k == link {
                continue;
            }
            let moved = plan.moves.iter().find(|mv| {
                !has(&mv.key) && mv.from.iter().find(|f| has(f)).is_some_and(|f| f == k)
            });
            match moved {
                Some(mv) => w.added(&mv.key, Source::Tape(v)),
                None => w.input(k, Source::Tape(v)),
            }
        }
    }
    for fill in &plan.fill {
        if !has(&fill.key)
            && let Some(v) = fill.from.iter().find_map(|f| props.and_then(|p| p.get(f)))
        {
            w.added(&fill.key, Source::Tape(v));
        }
    }
    for key in &plan.from_page {
        if !has(key)
            && let Some(s) = page_field(&ev.context.page, key)
        {
            w.added(key, Source::Str(s));
        }
    }
    if let Some(key) = &plan.name_as
        && !has(key)
        && let Some(name) = ev.name
    {
        w.added(key, Source::Str(name));
    }
    if w.end() == 0 {
        out.truncate(mark);
    } else if out.len() - start > spec.max_properties_bytes {
        warnings.push(Warning::PropertiesTooLarge {
            bytes: out.len() - start,
            limit: spec.max_properties_bytes,
        });
    }

    // context: identity and page fields the event has.
    let mark = out.len();
    out.extend_from_slice(b",\"context\":{");
    let mut first = true;
    let c = &ev.context;
    let anon = ev.anonymous_id.as_ref().map(|a| a.as_str());
    for (key, value) in [
        ("ip", c.ip),
        ("userAgent", c.user_agent),
        ("url", c.page.url),
        ("title", c.page.title),
        ("locale", c.locale),
        ("anonymousId", anon),
    ] {
        let Some(value) = value else { continue };
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, key);
        out.push(b':');
        write_str(out, value);
    }
    if first {
        out.truncate(mark);
    } else {
        out.push(b'}');
    }
    out.push(b'}');
}

fn page_field<'de>(page: &Page<'de>, key: &str) -> Option<&'de str> {
    match key {
        "url" => page.url,
        "title" => page.title,
        "referrer" => page.referrer,
        "path" => page.path,
        "search" => page.search,
        _ => None,
    }
}

/// Finds the accountId (first found wins) and writes it into `out`.
pub(super) fn resolve_account(
    ev: &Event<'_, '_>,
    ids: &dyn IdentityLookup,
    link: &str,
    user: &str,
    out: &mut String,
) -> Option<AccountFrom> {
    out.clear();
    if let Some(g) = &ev.context.group_id {
        out.push_str(g.as_str());
        return Some(AccountFrom::ContextGroupId);
    }
    if ev
        .properties
        .and_then(|p| p.get(link))
        .is_some_and(|v| push_id(v, out))
    {
        return Some(AccountFrom::Properties);
    }
    if ev
        .context
        .traits
        .and_then(|t| t.get(link))
        .is_some_and(|v| push_id(v, out))
    {
        return Some(AccountFrom::ContextTraits);
    }
    if !user.is_empty() {
        if ids.account_for_user(user, out) {
            return Some(AccountFrom::IdentifyTrait);
        }
        if ids.group_for_user(user, out) {
            return Some(AccountFrom::LatestGroup);
        }
    }
    out.clear();
    None
}

/// Writes an id-like value (a non-empty string, or a number) into `out`.
fn push_id(v: Val<'_, '_>, out: &mut String) -> bool {
    if let Some(s) = v.as_str() {
        out.push_str(s);
        return !s.is_empty();
    }
    match v.as_static_number().and_then(NumId::new) {
        Some(n) => {
            out.push_str(n.as_str());
            true
        }
        None => false,
    }
}
