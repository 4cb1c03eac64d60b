//! The vendor's key rules: which property and metadata keys are valid as they are, and the new
//! name of one that is not. Renames are never silent: the mapper turns each into a warning.

use crate::blueprint::KeyRules;

impl KeyRules {
    /// True when `key` can be sent as it is.
    #[inline]
    pub fn is_valid(&self, key: &str) -> bool {
        let b = key.as_bytes();
        let Some(&first) = b.first() else {
            return false;
        };
        self.max_key_chars.is_none_or(|max| b.len() <= max)
            && b.iter().all(|&c| KEY_CHAR[usize::from(c)])
            && !(self.forbid_leading_digit && first.is_ascii_digit())
            && !(self.forbid_dunder_wrap && is_dunder_wrapped(key))
            && !self.is_reserved(key)
    }

    /// True when the vendor keeps `key` for itself.
    #[inline]
    pub fn is_reserved(&self, key: &str) -> bool {
        // Length and first byte first: most keys differ there, without a call to compare.
        let b = key.as_bytes();
        self.reserved.iter().any(|r| {
            let r = r.as_bytes();
            r.len() == b.len() && r.first() == b.first() && r == b
        })
    }

    /// The valid name for `key`: invalid characters become `_`, a leading digit gets a `_` in
    /// front, the name is cut to the longest allowed, and a reserved or `__wrapped__` name takes
    /// the blueprint's rename pattern (`custom_{key}`).
    pub fn rename(&self, key: &str) -> String {
        let mut name = String::new();
        self.rename_into(key, &mut name);
        name
    }

    /// [`rename`](Self::rename) into a reused buffer.
    pub fn rename_into(&self, key: &str, name: &mut String) {
        name.clear();
        if self.forbid_leading_digit && key.starts_with(|c: char| c.is_ascii_digit()) {
            name.push('_');
        }
        if key.is_ascii() {
            name.extend(key.bytes().map(|c| {
                if KEY_CHAR[usize::from(c)] {
                    char::from(c)
                } else {
                    '_'
                }
            }));
        } else {
            name.extend(key.chars().map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            }));
        }
        self.cut(name);
        if name.is_empty()
            || self.is_reserved(name)
            || (self.forbid_dunder_wrap && is_dunder_wrapped(name))
        {
            let (before, after) = split_key(&self.rename);
            name.insert_str(0, before);
            name.push_str(after);
            self.cut(name);
        }
    }

    fn cut(&self, name: &mut String) {
        if let Some(max) = self.max_key_chars {
            // Only ASCII remains after the character rule, so a byte cut is a character cut.
            name.truncate(max);
        }
    }
}

/// The bytes a valid key is made of: ASCII letters, digits and `_` (one load per byte).
static KEY_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_';
        c += 1;
    }
    t
};

/// A rename pattern around its `{key}` (the whole pattern before, when it has none): found
/// by its `{`, cheaper than a substring search for each renamed key.
fn split_key(pattern: &str) -> (&str, &str) {
    let mut from = 0;
    while let Some(i) = pattern[from..].find('{') {
        let at = from + i;
        if let Some(after) = pattern[at..].strip_prefix("{key}") {
            return (&pattern[..at], after);
        }
        from = at + 1;
    }
    (pattern, "")
}

fn is_dunder_wrapped(key: &str) -> bool {
    key.starts_with("__") && key.ends_with("__")
}

#[cfg(test)]
mod tests {
    use crate::blueprint::Blueprint;
    use proptest::prelude::*;

    fn track_rules() -> &'static crate::blueprint::KeyRules {
        &Blueprint::get("pendo").expect("embedded").key_rules["properties"]
    }

    #[test]
    fn a_rename_pattern_splits_at_its_key_placeholder() {
        assert_eq!(super::split_key("custom_{key}"), ("custom_", ""));
        assert_eq!(super::split_key("{key}_custom"), ("", "_custom"));
        assert_eq!(super::split_key("a{b}{key}!"), ("a{b}", "!"));
        assert_eq!(super::split_key("no_placeholder"), ("no_placeholder", ""));
    }

    #[test]
    fn pendos_property_rules() {
        let r = track_rules();
        for ok in [
            "plan",
            "Plan_2",
            "_x",
            "a".repeat(32).as_str(),
            "__x",
            "x__",
        ] {
            assert!(r.is_valid(ok), "{ok}");
        }
        assert_eq!(r.rename("page-url"), "page_url");
        assert_eq!(r.rename("2fa enabled"), "_2fa_enabled");
        assert_eq!(r.rename(&"k".repeat(40)), "k".repeat(32));
        assert_eq!(r.rename("__secret__"), "custom___secret__");
        assert_eq!(r.rename("visitorId"), "custom_visitorId");
        assert_eq!(r.rename("type"), "custom_type");
        assert_eq!(r.rename("id"), "custom_id");
        assert_eq!(r.rename("café"), "caf_");
        assert_eq!(r.rename(""), "custom_");
    }

    #[test]
    fn metadata_rules_use_their_own_reserved_names() {
        let bp = Blueprint::get("pendo").expect("embedded");
        let account = &bp.key_rules["account_values"];
        assert_eq!(account.rename("name"), "name_custom");
        assert!(account.is_valid("industry"));
        let visitor = &bp.key_rules["visitor_values"];
        assert_eq!(visitor.rename("email"), "email_custom");
        assert!(visitor.is_valid(&"long".repeat(20)));
    }

    proptest! {
        #[test]
        fn a_renamed_key_always_follows_the_rules(key in "\\PC{0,50}") {
            let r = track_rules();
            let new = r.rename(&key);
            prop_assert!(r.is_valid(&new), "{key:?} -> {new:?}");
        }
    }
}
