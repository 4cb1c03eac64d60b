//! The identify traits that link a user to an account in the node's identity store.
//!
//! The identity store is the node's, shared by every integration, while each blueprint names
//! its own link trait (`identity_rules.link_trait`, Pendo's, Amplitude's and Heap's all
//! `accountId`). The gateway records links by the union of the catalog's traits, in catalog
//! order, computed once when first asked (the catalog is fixed by then: it is loaded once, with
//! `SIGNAL_BLUEPRINT_DIR`'s files, before the node serves), so that an integration of any
//! installed vendor finds the account its users were linked to, and no request looks a
//! blueprint up.

use signal_core::{Blueprint, Event, Link, catalog, links_of};
use std::sync::OnceLock;

/// The catalog's link traits, each once, in catalog order.
pub(crate) fn link_traits() -> &'static [&'static str] {
    static TRAITS: OnceLock<Vec<&'static str>> = OnceLock::new();
    TRAITS.get_or_init(|| {
        let mut traits: Vec<&'static str> = Vec::new();
        for t in catalog().iter().filter_map(Blueprint::link_trait) {
            if !traits.contains(&t) {
                traits.push(t);
            }
        }
        traits
    })
}

/// The links `ev` makes, its account taken from the first of `traits` it carries (none when
/// `traits` is empty: the anonymous-to-user and group links are still made).
pub(crate) fn links<'a>(ev: &'a Event<'_, '_>, traits: &[&str]) -> Vec<Link<'a>> {
    let is_account = |l: &Link<'_>| matches!(l, Link::UserToAccount { .. });
    let Some((first, rest)) = traits.split_first() else {
        let mut links = links_of(ev, "");
        links.retain(|l| !is_account(l));
        return links;
    };
    let mut links = links_of(ev, first);
    if !links.iter().any(is_account) {
        let other = rest
            .iter()
            .find_map(|t| links_of(ev, t).into_iter().find(is_account));
        links.extend(other);
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_core::{Parser, Shape};

    /// The links of one identify call with these traits.
    fn account_of(traits: serde_json::Value, link_traits: &[&str]) -> (usize, Option<String>) {
        let src = serde_json::json!({"type": "identify", "userId": "u1", "anonymousId": "a1",
                                     "traits": traits});
        let mut buf = src.to_string().into_bytes();
        let mut parser = Parser::new();
        let doc = parser.parse(&mut buf, Shape::Event(None)).unwrap();
        let ev = doc.event(0).unwrap();
        let found = links(&ev, link_traits);
        let account = found.iter().find_map(|l| match l {
            Link::UserToAccount { account_id, .. } => Some((*account_id).to_owned()),
            _ => None,
        });
        (found.len(), account)
    }

    #[test]
    fn every_vendor_in_the_catalog_links_by_accountid_once() {
        assert_eq!(link_traits(), &["accountId"]);
    }

    #[test]
    fn the_account_comes_from_the_first_trait_the_identify_call_carries() {
        let both = &["accountId", "company"];
        assert_eq!(
            account_of(serde_json::json!({"company": "c9"}), both),
            (2, Some("c9".into()))
        );
        assert_eq!(
            account_of(
                serde_json::json!({"company": "c9", "accountId": "a7"}),
                both
            ),
            (2, Some("a7".into()))
        );
        assert_eq!(
            account_of(serde_json::json!({"plan": "pro"}), both),
            (1, None)
        );
    }

    #[test]
    fn with_no_link_trait_no_account_is_linked_but_the_user_still_is() {
        assert_eq!(account_of(serde_json::json!({"": "x"}), &[]), (1, None));
    }
}
