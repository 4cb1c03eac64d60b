//! Duplicate keys are rejected everywhere in an event: `{"plan":"free","plan":"pro"}` has no one
//! meaning, and vendors disagree on which value wins.
//!
//! simd-json's tape keeps every key, so this walk checks each object once. Objects are small in
//! practice: a 128-bit Bloom filter per object lets most keys pass without comparing them to
//! the earlier ones, and only a set bit compares strings; objects of more than 24 keys sort
//! their keys instead.

use crate::error::{EventError, Rule};
use crate::tape::Val;
use simd_json::Node;

/// Checks that no object inside `v` (at any depth) has the same key twice, in document order.
///
/// (A flat scan of the tape with an explicit stack of open containers was tried and measured
/// slower than this recursion: see BENCHMARKS.md.)
pub(crate) fn check_unique_keys(v: Val<'_, '_>) -> Result<(), EventError> {
    match *v.node() {
        Node::Object { len, .. } => {
            let Some(obj) = v.as_obj() else { return Ok(()) };
            let large = len > LARGE;
            if large {
                check_large_object(obj)?;
            }
            let mut seen = 0u128;
            for (i, (k, child)) in obj.iter().enumerate() {
                if !large {
                    let bit = bloom_bit(k);
                    if seen & bit != 0 && obj.iter().take(i).any(|(earlier, _)| earlier == k) {
                        return Err(EventError::new(k, Rule::DuplicateKey));
                    }
                    seen |= bit;
                }
                if matches!(child.node(), Node::Object { .. } | Node::Array { .. }) {
                    check_unique_keys(child).map_err(|e| e.within(k))?;
                }
            }
            Ok(())
        }
        Node::Array { .. } => {
            let Some(arr) = v.as_arr() else { return Ok(()) };
            for (i, child) in arr.iter().enumerate() {
                if matches!(child.node(), Node::Object { .. } | Node::Array { .. }) {
                    check_unique_keys(child).map_err(|e| e.within(&format!("[{i}]")))?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Objects with more keys than this sort their keys instead.
const LARGE: usize = 24;

/// One bit of a 128-bit Bloom filter, from the key's length and first and last bytes: equal keys
/// always share it, so a clear bit proves a key new without comparing it to the earlier ones.
#[inline]
fn bloom_bit(k: &str) -> u128 {
    let b = k.as_bytes();
    let h = (b.len() as u32)
        .wrapping_mul(31)
        .wrapping_add(u32::from(b.first().copied().unwrap_or(0)))
        .wrapping_mul(31)
        .wrapping_add(u32::from(b.last().copied().unwrap_or(0)));
    1u128 << (h.wrapping_mul(0x9e37_79b9) >> 25)
}

fn check_large_object(obj: crate::tape::Obj<'_, '_>) -> Result<(), EventError> {
    let mut keys: Vec<(&str, usize)> = obj.iter().enumerate().map(|(i, (k, _))| (k, i)).collect();
    keys.sort_unstable();
    // Of all repeated keys, report the one whose repeat comes first in the input.
    let first_repeat = keys
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .min_by_key(|w| w[1].1)
        .map(|w| w[1].0);
    match first_repeat {
        Some(k) => Err(EventError::new(k, Rule::DuplicateKey)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious check, on a plain tree in document order, to hold the tape check to. (A large
    /// object reports its first repeated key before looking inside its values.)
    fn reference(v: &Tree) -> Option<String> {
        match v {
            Tree::Leaf => None,
            Tree::Arr(items) => items.iter().enumerate().find_map(|(i, t)| {
                reference(t).map(|p| {
                    if p.starts_with('[') {
                        format!("[{i}]{p}")
                    } else {
                        format!("[{i}].{p}")
                    }
                })
            }),
            Tree::Obj(pairs) => {
                let repeat = |i: usize| pairs[..i].iter().any(|(e, _)| *e == pairs[i].0);
                if pairs.len() > LARGE
                    && let Some(i) = (0..pairs.len()).find(|&i| repeat(i))
                {
                    return Some(pairs[i].0.clone());
                }
                for (i, (k, t)) in pairs.iter().enumerate() {
                    if repeat(i) {
                        return Some(k.clone());
                    }
                    if let Some(p) = reference(t) {
                        return Some(if p.starts_with('[') {
                            format!("{k}{p}")
                        } else {
                            format!("{k}.{p}")
                        });
                    }
                }
                None
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Tree {
        Leaf,
        Arr(Vec<Tree>),
        Obj(Vec<(String, Tree)>),
    }

    fn render(t: &Tree, out: &mut String) {
        match t {
            Tree::Leaf => out.push('1'),
            Tree::Arr(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    render(x, out);
                }
                out.push(']');
            }
            Tree::Obj(pairs) => {
                out.push('{');
                for (i, (k, x)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("\"{k}\":"));
                    render(x, out);
                }
                out.push('}');
            }
        }
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = Just(Tree::Leaf);
        leaf.prop_recursive(5, 64, 30, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::Arr),
                prop::collection::vec(("[a-c]{1,2}", inner), 0..30).prop_map(Tree::Obj),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_check_agrees_with_the_obvious_recursion(t in tree()) {
            let mut src = String::new();
            render(&t, &mut src);
            let expected = reference(&t).map(|p| format!("{p}: duplicate key"));
            prop_assert_eq!(check(&src).err(), expected);
        }
    }

    fn check(src: &str) -> Result<(), String> {
        let mut buf = src.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut buf).map_err(|e| e.to_string())?;
        check_unique_keys(Val(&tape.0)).map_err(|e| e.to_string())
    }

    #[test]
    fn finds_duplicates_at_any_depth_and_names_them() {
        assert_eq!(check(r#"{"a":1,"b":2}"#), Ok(()));
        assert_eq!(check(r#"{"a":1,"a":2}"#), Err("a: duplicate key".into()));
        assert_eq!(
            check(r#"{"properties":{"items":[{"sku":1},{"sku":2,"sku":3}]}}"#),
            Err("properties.items[1].sku: duplicate key".into())
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert_eq!(check(&format!("{{{}}}", many.join(","))), Ok(()));
        assert_eq!(
            check(&format!("{{{},\"k7\":0}}", many.join(","))),
            Err("k7: duplicate key".into())
        );
    }
}
