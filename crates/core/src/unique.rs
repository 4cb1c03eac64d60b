//! Duplicate keys are rejected everywhere in an event: `{"plan":"free","plan":"pro"}` has no one
//! meaning, and vendors disagree on which value wins.
//!
//! simd-json's tape keeps every key, so this walk checks each object once. Objects are small in
//! practice; up to 24 keys a pairwise comparison beats hashing, beyond that the keys are sorted.

use crate::error::{EventError, Rule};
use crate::tape::Val;
use simd_json::Node;

/// Checks that no object inside `v` (at any depth) has the same key twice.
pub(crate) fn check_unique_keys(v: Val<'_, '_>) -> Result<(), EventError> {
    match v.node() {
        Node::Object { len, .. } => {
            let Some(obj) = v.as_obj() else { return Ok(()) };
            if *len > 1 {
                check_object_keys(obj.iter().map(|(k, _)| k), *len)?;
            }
            for (k, child) in obj.iter() {
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

fn check_object_keys<'a>(
    keys: impl Iterator<Item = &'a str> + Clone,
    len: usize,
) -> Result<(), EventError> {
    let dup = if len <= 24 {
        keys.clone()
            .enumerate()
            .find(|&(i, k)| keys.clone().take(i).any(|earlier| earlier == k))
            .map(|(_, k)| k)
    } else {
        let mut sorted: Vec<&str> = keys.collect();
        sorted.sort_unstable();
        sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
    };
    match dup {
        Some(k) => Err(EventError::new(k, Rule::DuplicateKey)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
