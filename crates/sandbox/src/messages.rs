//! Check failure texts: which one a failure uses, and the defaults a fixture's `messages`
//! override (Pendo's wording).

use crate::fixture::Messages;

/// The kinds of failure, each with its text.
#[derive(Clone, Copy)]
pub(crate) enum Which {
    Required,
    Type,
    Null,
    Equals,
    Length,
    NotIn,
    AnyOf,
    NotJson,
    Shape,
}

pub(crate) fn pick(m: &Messages, w: Which) -> Option<&String> {
    match w {
        Which::Required => m.required.as_ref(),
        Which::Type => m.wrong_type.as_ref(),
        Which::Null => m.null.as_ref(),
        Which::Equals => m.equals.as_ref(),
        Which::Length => m.length.as_ref(),
        Which::NotIn => m.not_in.as_ref(),
        Which::AnyOf => m.any_of.as_ref(),
        Which::NotJson => m.not_json.as_ref(),
        Which::Shape => m.shape.as_ref(),
    }
}

pub(crate) fn default_message(w: Which) -> &'static str {
    match w {
        Which::Required => "${path} is required (${a_type})",
        Which::Type => "${path} must be ${a_type}",
        Which::Null => "${path} must not be null",
        Which::Equals => "${path} must be ${value}",
        Which::Length => "${path} must be ${min} to ${max} characters",
        Which::NotIn => "${path} must not be ${value}",
        Which::AnyOf => "one of ${fields} is required",
        Which::NotJson => "body is not JSON: ${error}",
        Which::Shape => "body must be a JSON ${shape}",
    }
}
