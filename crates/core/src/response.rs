//! What a vendor's answer means, as data: a blueprint's named response policies (`responses`),
//! each an ordered list of rules (first match wins), and the [`Decision`] one answer comes to.
//!
//! Pure: the delivery engine (`signal-forward`) acts on the decision (sends again, splits,
//! holds, pauses, dead-letters); nothing here does I/O.

use serde::{Deserialize, Serialize};

mod decide;

pub use decide::{decide, decide_rule, default_decision};

/// One rule: when the answer matches `status` (and `body`, if given), do `outcome`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseRule {
    /// Statuses matched: numbers (`429`) or classes (`"2xx"`, `"4xx"`, `"5xx"`).
    pub status: Vec<StatusMatch>,
    /// A test of the body, when the status alone does not decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyMatch>,
    /// What to do.
    pub outcome: RuleOutcome,
    /// The troubleshooting row (its `code`) a live event links to; for `pause`, the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    /// For `partial`: selectors of the indexes (into the request's items) to dead-letter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_indexes: Vec<String>,
    /// For `partial`: selectors of the indexes to send again after a delay (and hold by id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_indexes: Option<DelayIndexes>,
    /// For `delivered`: a warning when a number in the body passes a bound (Pendo's
    /// `{"failed": 2}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warn_if: Vec<WarnIf>,
}

/// A status or a class of statuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusMatch {
    /// One status.
    Code(u16),
    /// `"2xx"`, `"4xx"`, `"5xx"`.
    Class(String),
}

/// A test of the answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BodyMatch {
    /// The body's text contains this.
    Contains(String),
    /// The body is JSON and has this dotted path (any value but null).
    Has(String),
}

/// What a matched rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    /// Delivered.
    Delivered,
    /// Retry the whole request with backoff (`Retry-After` honoured).
    Retry,
    /// Retry, and slow the integration down (a 429 that is not per id).
    Throttle,
    /// Pause the integration (events held) with the rule's `diagnosis` as the reason.
    Pause,
    /// Dead-letter every item with the answer.
    DeadLetter,
    /// Halve the batch and send both halves; a single item dead-letters.
    Split,
    /// Not sent and not kept: acknowledged as dropped with the rule's `diagnosis` as reason.
    Drop,
    /// Some items named by the body are dead-lettered (`drop_indexes`) or delayed
    /// (`delay_indexes`); the rest are sent again at once.
    Partial,
}

/// Items to send again later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayIndexes {
    /// Selectors of the indexes.
    pub from: Vec<String>,
    /// How long they (and later items of the same hold id) wait.
    pub seconds: u64,
}

/// A warning read from a delivered answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarnIf {
    /// A dotted path to a number in the body.
    pub path: String,
    /// Warn when the number is greater than this.
    pub gt: u64,
    /// The warning's code (`metadata_failed`).
    pub warning: String,
    /// The warning's words; `{n}` is the number.
    pub message: String,
}

/// What one answer to one request comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delivered, with warnings read from the body (`metadata_failed: ...`).
    Delivered {
        /// `code: words` per warning.
        warnings: Vec<String>,
    },
    /// Retry the whole request; `throttled` slows the integration.
    Retry {
        /// A 429 that is not per id.
        throttled: bool,
    },
    /// Pause the integration with this troubleshooting code.
    Pause {
        /// The troubleshooting row's code.
        code: String,
    },
    /// Dead-letter every item.
    DeadLetter {
        /// The troubleshooting row's code, when the rule names one.
        diagnosis: Option<String>,
    },
    /// Halve the batch.
    Split,
    /// Drop every item, with this reason.
    Drop {
        /// The reason code.
        reason: String,
    },
    /// Dead-letter `dead`, hold `delayed` for `delay_s`, send the rest again.
    Partial {
        /// Indexes (into the request's items) to dead-letter.
        dead: Vec<usize>,
        /// Indexes to send again after the delay.
        delayed: Vec<usize>,
        /// The delay in seconds.
        delay_s: u64,
        /// The troubleshooting row's code, when the rule names one.
        diagnosis: Option<String>,
    },
}
