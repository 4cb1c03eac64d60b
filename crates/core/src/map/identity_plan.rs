//! The identity rules of a blueprint, compiled: the user's sources and anonymous mode (the
//! config's `mode_field` value, through `modes` when the field has its own names) and the
//! account's sources.

use super::directive::{Cx, fault};
use super::plan::{AccountPlan, AnonPlan, Fault, IdSource, LinkKind, UserPlan};
use super::privacy::Act;
use crate::blueprint::{AnonymousMode, BlueprintRule};

/// The identity rules.
pub(super) fn identity(cx: &Cx<'_, '_>) -> Result<(UserPlan, Option<AccountPlan>), Fault> {
    let rules = &cx.bp.identity_rules;
    let anonymous = match &rules.user.anonymous {
        None => None,
        Some(a) => {
            let at = "identity_rules.user.anonymous";
            let (from, privacy) = cx.path(&format!("{at}.from"), &a.from)?;
            let mut mode = a.mode;
            let named = |v: &str| {
                if a.modes.is_empty() {
                    AnonymousMode::from_name(v)
                } else {
                    a.modes.get(v).copied()
                }
            };
            if let Some(f) = &a.mode_field {
                let here = format!("{at}.mode_field");
                if let Some(v) = cx.config_value(&here, f)?
                    && let Some(m) = v.as_str().and_then(named)
                {
                    mode = m;
                }
                let allowed = cx.bp.field(f).and_then(|f| f.allowed.as_deref());
                if let Some(v) = allowed
                    .unwrap_or_default()
                    .iter()
                    .find(|v| named(v).is_none())
                {
                    return Err(fault(
                        &format!("{at}.modes"),
                        BlueprintRule::UnknownAnonymousMode(v.clone()),
                    ));
                }
            }
            if privacy.act == Some(Act::Remove) {
                // A removed anonymous id is absent: it cannot stand for the user.
                mode = AnonymousMode::Drop;
            }
            Some(AnonPlan {
                from,
                privacy,
                mode,
                prefix: a.prefix.as_str().into(),
                apart: a.apart.contains(&mode),
            })
        }
    };
    let mut from = cx.id_sources(
        "identity_rules.user.from",
        &rules.user.from,
        &[LinkKind::UserForAnonymous],
    )?;
    if anonymous
        .as_ref()
        .is_some_and(|a| a.privacy.act == Some(Act::Remove))
    {
        // Nor is it looked up: the user it was linked to is not this event's to name.
        from.retain(|s| !matches!(s, IdSource::Link(LinkKind::UserForAnonymous)));
    }
    let user = UserPlan { from, anonymous };
    let account = match &rules.account {
        None => None,
        Some(a) => Some(AccountPlan {
            from: cx.id_sources(
                "identity_rules.account.from",
                &a.from,
                &[LinkKind::AccountForUser, LinkKind::GroupForUser],
            )?,
            warn: a.missing_warning,
        }),
    };
    Ok((user, account))
}
