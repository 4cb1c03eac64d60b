//! The identity rules of a blueprint, compiled: the user's sources and anonymous mode (the
//! config's `mode_field` value, through `modes` when the field has its own names) and the
//! account's sources.

use super::directive::{Cx, fault};
use super::plan::{AccountPlan, AnonPlan, Fault, LinkKind, UserPlan};
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
            Some(AnonPlan {
                from,
                privacy,
                mode,
                prefix: a.prefix.as_str().into(),
                apart: a.apart.contains(&mode),
            })
        }
    };
    let user = UserPlan {
        from: cx.id_sources(
            "identity_rules.user.from",
            &rules.user.from,
            &[LinkKind::UserForAnonymous],
        )?,
        anonymous,
    };
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
