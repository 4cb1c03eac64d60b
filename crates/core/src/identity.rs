//! Identity resolution: the links identify and group calls make, and how later events use them.
//!
//! An identify with a `userId` and an `anonymousId` links the anonymous visitor to the user, so
//! that their later anonymous events reach Pendo under the user's visitorId (backend-resolved
//! identity). An `accountId` trait links the user to an account; a group call records the user's
//! latest group. The store behind [`IdentityLookup`] keeps these links durably; this module only
//! says what they are and reads them.

use crate::event::{Event, EventType, Id};
use std::collections::HashMap;

/// Reads the links earlier identify and group calls made.
///
/// Answers are written into `out` (cleared first) so a lookup on the hot path allocates nothing.
pub trait IdentityLookup {
    /// The userId an identify linked to this anonymousId.
    fn user_for_anonymous(&self, anonymous_id: &str, out: &mut String) -> bool;
    /// The `accountId` trait an identify stored for this user.
    fn account_for_user(&self, user_id: &str, out: &mut String) -> bool;
    /// The groupId of this user's latest group call.
    fn group_for_user(&self, user_id: &str, out: &mut String) -> bool;
}

/// A link an event makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link<'a> {
    /// identify: this anonymous visitor is this user.
    AnonymousToUser {
        /// The anonymousId.
        anonymous_id: &'a str,
        /// The userId.
        user_id: &'a str,
    },
    /// identify with an `accountId` trait: this user belongs to this account.
    UserToAccount {
        /// The userId.
        user_id: &'a str,
        /// The accountId trait.
        account_id: &'a str,
    },
    /// group: this user's latest group.
    UserToGroup {
        /// The userId.
        user_id: &'a str,
        /// The groupId.
        group_id: &'a str,
    },
}

/// The links `ev` makes: up to three, for identify and group calls with a userId.
///
/// `link_trait` is the blueprint's account link trait (`accountId`).
pub fn links_of<'a>(ev: &'a Event<'_, '_>, link_trait: &str) -> Vec<Link<'a>> {
    let mut links = Vec::new();
    let Some(user) = ev.user_id.as_ref().map(Id::as_str) else {
        return links;
    };
    match ev.kind {
        EventType::Identify => {
            if let Some(anon) = &ev.anonymous_id {
                links.push(Link::AnonymousToUser {
                    anonymous_id: anon.as_str(),
                    user_id: user,
                });
            }
            let account = ev
                .traits
                .or(ev.context.traits)
                .and_then(|t| t.get(link_trait))
                .and_then(|v| v.as_str());
            if let Some(account) = account.filter(|a| !a.is_empty()) {
                links.push(Link::UserToAccount {
                    user_id: user,
                    account_id: account,
                });
            }
        }
        EventType::Group => {
            if let Some(group) = &ev.group_id {
                links.push(Link::UserToGroup {
                    user_id: user,
                    group_id: group.as_str(),
                });
            }
        }
        _ => {}
    }
    links
}

/// Links kept in memory: for tests, benchmarks and the demo's first seconds.
#[derive(Debug, Default, Clone)]
pub struct MemoryIdentity {
    users: HashMap<String, String>,
    accounts: HashMap<String, String>,
    groups: HashMap<String, String>,
}

impl MemoryIdentity {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a link; a later link of the same kind for the same id replaces the earlier.
    pub fn record(&mut self, link: &Link<'_>) {
        let (map, k, v) = match *link {
            Link::AnonymousToUser {
                anonymous_id,
                user_id,
            } => (&mut self.users, anonymous_id, user_id),
            Link::UserToAccount {
                user_id,
                account_id,
            } => (&mut self.accounts, user_id, account_id),
            Link::UserToGroup { user_id, group_id } => (&mut self.groups, user_id, group_id),
        };
        map.insert(k.to_owned(), v.to_owned());
    }
}

fn answer(map: &HashMap<String, String>, key: &str, out: &mut String) -> bool {
    out.clear();
    map.get(key).is_some_and(|v| {
        out.push_str(v);
        true
    })
}

impl IdentityLookup for MemoryIdentity {
    fn user_for_anonymous(&self, anonymous_id: &str, out: &mut String) -> bool {
        answer(&self.users, anonymous_id, out)
    }
    fn account_for_user(&self, user_id: &str, out: &mut String) -> bool {
        answer(&self.accounts, user_id, out)
    }
    fn group_for_user(&self, user_id: &str, out: &mut String) -> bool {
        answer(&self.groups, user_id, out)
    }
}

/// A lookup that knows no links.
impl IdentityLookup for () {
    fn user_for_anonymous(&self, _: &str, _: &mut String) -> bool {
        false
    }
    fn account_for_user(&self, _: &str, _: &mut String) -> bool {
        false
    }
    fn group_for_user(&self, _: &str, _: &mut String) -> bool {
        false
    }
}
