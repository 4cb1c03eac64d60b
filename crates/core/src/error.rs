//! Typed errors for bad input: every error names where (`batch[3].userId`) and which rule.
//!
//! The [`Display`](std::fmt::Display) text is meant for people (`batch[3].timestamp: not an ISO 8601
//! date or epoch milliseconds`); programs ask the predicates and [`EventError::code`].

use std::fmt;

/// Why a body or one of its events was refused.
///
/// Errors are built only on the cold path, so the location is an owned string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    path: String,
    rule: Rule,
}

/// The rule an input broke. The text of each variant is what users read after the field's path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// The bytes are not JSON; carries simd-json's description.
    NotJson(String),
    /// Objects and arrays nested deeper than the limit.
    TooDeep {
        /// The limit, in levels.
        max: usize,
    },
    /// A body, batch or event over its size limit.
    TooLarge {
        /// What was too large (`body`, `event`, `batch`).
        what: &'static str,
        /// The limit (bytes, or events for a batch).
        limit: usize,
        /// The unit of `limit`.
        unit: &'static str,
    },
    /// A required field is missing.
    Required,
    /// Neither `userId` nor `anonymousId` is present.
    NoIdentity,
    /// The value has the wrong JSON type.
    WrongType {
        /// What the field must be, in words (`a string`, `an object`).
        expected: &'static str,
    },
    /// A string that must not be empty is.
    Empty,
    /// A string over its length limit.
    TooLong {
        /// The limit in characters.
        max: usize,
    },
    /// The camelCase and the snake_case spelling of one field in one event.
    BothSpellings {
        /// The other spelling.
        other: &'static str,
    },
    /// The same key twice in one object.
    DuplicateKey,
    /// A timestamp that is neither ISO 8601 with a zone nor epoch milliseconds.
    NotTimestamp,
    /// A `type` that is not one of the known event types.
    UnknownType,
    /// A `type` that disagrees with the endpoint it was posted to.
    TypeMismatch {
        /// The type the endpoint implies.
        expected: &'static str,
    },
    /// A batch body without a `batch` array.
    NotBatch,
}

impl EventError {
    pub(crate) fn new(path: impl Into<String>, rule: Rule) -> Self {
        Self {
            path: path.into(),
            rule,
        }
    }

    /// Prefixes the location with an outer segment: `userId` becomes `batch[3].userId`.
    pub(crate) fn within(mut self, outer: &str) -> Self {
        if self.path.is_empty() {
            self.path = outer.to_owned();
        } else if self.path.starts_with('[') {
            self.path.insert_str(0, outer);
        } else {
            self.path.insert(0, '.');
            self.path.insert_str(0, outer);
        }
        self
    }

    /// Where in the body: a path such as `batch[3].context.page.url`, or `body` for the whole body.
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "body"
        } else {
            &self.path
        }
    }

    /// The rule that was broken.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The API's error code: `INVALID_JSON`, `TOO_LARGE` or `INVALID_EVENT`.
    pub fn code(&self) -> &'static str {
        match self.rule {
            Rule::NotJson(_) | Rule::TooDeep { .. } => "INVALID_JSON",
            Rule::TooLarge { .. } => "TOO_LARGE",
            _ => "INVALID_EVENT",
        }
    }

    /// True when the body is not JSON at all (or too deeply nested to read).
    pub fn is_invalid_json(&self) -> bool {
        self.code() == "INVALID_JSON"
    }

    /// True when a size limit was exceeded (the gateway answers 413).
    pub fn is_too_large(&self) -> bool {
        matches!(self.rule, Rule::TooLarge { .. })
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.rule)
    }
}

impl std::error::Error for EventError {}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::NotJson(why) => write!(f, "not valid JSON ({why})"),
            Rule::TooDeep { max } => write!(f, "nested deeper than {max} levels"),
            Rule::TooLarge { what, limit, unit } => {
                write!(f, "{what} is over the limit of {limit} {unit}")
            }
            Rule::Required => f.write_str("is required"),
            Rule::NoIdentity => f.write_str("needs a userId or an anonymousId"),
            Rule::WrongType { expected } => write!(f, "must be {expected}"),
            Rule::Empty => f.write_str("must not be empty"),
            Rule::TooLong { max } => write!(f, "must be at most {max} characters"),
            Rule::BothSpellings { other } => {
                write!(f, "given twice, also as `{other}`: send one spelling")
            }
            Rule::DuplicateKey => f.write_str("duplicate key"),
            Rule::NotTimestamp => f.write_str("not an ISO 8601 date or epoch milliseconds"),
            Rule::UnknownType => {
                f.write_str("must be one of track, page, identify, group, screen, alias")
            }
            Rule::TypeMismatch { expected } => {
                write!(
                    f,
                    "disagrees with the endpoint, which takes `{expected}` events"
                )
            }
            Rule::NotBatch => f.write_str("must be an object with a `batch` array"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_is_built_outward() {
        let e = EventError::new("timestamp", Rule::NotTimestamp).within("batch[3]");
        assert_eq!(
            e.to_string(),
            "batch[3].timestamp: not an ISO 8601 date or epoch milliseconds"
        );
        let e = EventError::new("[2].sku", Rule::DuplicateKey).within("items");
        assert_eq!(e.path(), "items[2].sku");
        assert_eq!(EventError::new("", Rule::Required).path(), "body");
    }

    #[test]
    fn codes_and_predicates() {
        let big = EventError::new(
            "",
            Rule::TooLarge {
                what: "body",
                limit: 1,
                unit: "bytes",
            },
        );
        assert!(big.is_too_large());
        assert_eq!(big.code(), "TOO_LARGE");
        assert!(EventError::new("", Rule::NotJson("x".into())).is_invalid_json());
        assert_eq!(EventError::new("a", Rule::Empty).code(), "INVALID_EVENT");
    }
}
