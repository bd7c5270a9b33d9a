//! Errors for bad input, and the stable codes every binding exposes.
//!
//! A lease refusal (busy, lost, expired, already released) is an expected answer and is returned
//! as a value by [`crate::rules`]. [`LeaseError`] is only for input that breaks a rule of the
//! model: an id with a forbidden character, an interval out of range, a time that cannot cross
//! into JavaScript exactly. Each kind has a `snake_case` [`ErrorCode`] that never changes, so
//! Python exceptions and JavaScript `Error` objects can carry the same code as the core.

use std::fmt;

/// Longest excerpt of an offending value quoted in an error message.
const QUOTE_LIMIT: usize = 64;

/// Every stable code, in declaration order: input errors, refusals, then storage failures.
///
/// The bindings test that their own lists equal this one.
pub const ALL_CODES: &[ErrorCode] = &[
    ErrorCode::InvalidScope,
    ErrorCode::InvalidResourceId,
    ErrorCode::InvalidOwner,
    ErrorCode::InvalidSessionId,
    ErrorCode::InvalidToken,
    ErrorCode::InvalidDigest,
    ErrorCode::InvalidInterval,
    ErrorCode::InvalidBeats,
    ErrorCode::InvalidMargin,
    ErrorCode::InvalidSample,
    ErrorCode::TimeOutOfRange,
    ErrorCode::FenceOutOfRange,
    ErrorCode::InvalidRecord,
    ErrorCode::InvalidDocument,
    ErrorCode::LeaseHeld,
    ErrorCode::LeaseLost,
    ErrorCode::LeaseExpired,
    ErrorCode::AlreadyReleased,
    ErrorCode::StorageFailure,
    ErrorCode::SchemaTooNew,
];

/// A stable, machine-readable name for one kind of error or refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A scope is not a lowercase word.
    InvalidScope,
    /// A resource id does not match `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`.
    InvalidResourceId,
    /// An owner is empty, too long, or holds a control character.
    InvalidOwner,
    /// A session id is empty, too long, or holds a forbidden character.
    InvalidSessionId,
    /// A lease token is empty, too long, or not visible ASCII.
    InvalidToken,
    /// A stored token digest is not 64 hexadecimal digits.
    InvalidDigest,
    /// A heartbeat interval lies outside 1 s to 24 h.
    InvalidInterval,
    /// A stale threshold in beats lies outside 2 to 10.
    InvalidBeats,
    /// A prediction safety margin lies outside 0 to 24 h.
    InvalidMargin,
    /// A clock-skew sample is not ordered (received before sent).
    InvalidSample,
    /// A time, or a time computed from it, does not fit the safe millisecond range.
    TimeOutOfRange,
    /// A fence would leave the range that JavaScript numbers hold exactly.
    FenceOutOfRange,
    /// A stored or supplied lease record breaks an invariant of the model.
    InvalidRecord,
    /// A JSON document is malformed, or one of its fields is missing or mistyped.
    InvalidDocument,
    /// Refusal: another live lease holds the resource.
    LeaseHeld,
    /// Refusal: the token is not the resource's current lease.
    LeaseLost,
    /// Refusal: the token's lease went stale and is not revived.
    LeaseExpired,
    /// Refusal: the token's lease has already ended.
    AlreadyReleased,
    /// The storage engine failed (I/O, corruption, lock timeout).
    StorageFailure,
    /// The storage file was written by a newer leasekit.
    SchemaTooNew,
}

impl ErrorCode {
    /// The `snake_case` text of this code, as every binding spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidScope => "invalid_scope",
            Self::InvalidResourceId => "invalid_resource_id",
            Self::InvalidOwner => "invalid_owner",
            Self::InvalidSessionId => "invalid_session_id",
            Self::InvalidToken => "invalid_token",
            Self::InvalidDigest => "invalid_digest",
            Self::InvalidInterval => "invalid_interval",
            Self::InvalidBeats => "invalid_beats",
            Self::InvalidMargin => "invalid_margin",
            Self::InvalidSample => "invalid_sample",
            Self::TimeOutOfRange => "time_out_of_range",
            Self::FenceOutOfRange => "fence_out_of_range",
            Self::InvalidRecord => "invalid_record",
            Self::InvalidDocument => "invalid_document",
            Self::LeaseHeld => "lease_held",
            Self::LeaseLost => "lease_lost",
            Self::LeaseExpired => "lease_expired",
            Self::AlreadyReleased => "already_released",
            Self::StorageFailure => "storage_failure",
            Self::SchemaTooNew => "schema_too_new",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Input that breaks a rule of the lease model. Messages name the field and the rule.
///
/// Token values never appear in a message; other values are quoted, cut to 64 characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// See [`ErrorCode::InvalidScope`].
    #[error(
        "scope {value}: must be a lowercase word of 1 to 32 characters of [a-z0-9_], \
         starting with a letter"
    )]
    InvalidScope {
        /// The offending value, quoted and cut.
        value: String,
    },
    /// See [`ErrorCode::InvalidResourceId`].
    #[error("{field} {value}: must match ^[A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}$")]
    InvalidResourceId {
        /// The field that held the id (`id`, `project_id`, `deployment_id`).
        field: &'static str,
        /// The offending value, quoted and cut.
        value: String,
    },
    /// See [`ErrorCode::InvalidOwner`].
    #[error("owner {value}: must be 1 to 128 printable characters")]
    InvalidOwner {
        /// The offending value, quoted and cut.
        value: String,
    },
    /// See [`ErrorCode::InvalidSessionId`].
    #[error("session_id {value}: must be 1 to 128 characters of [A-Za-z0-9_.:-]")]
    InvalidSessionId {
        /// The offending value, quoted and cut.
        value: String,
    },
    /// See [`ErrorCode::InvalidToken`]. The token itself is never quoted.
    #[error("lease token: must be 1 to 256 visible ASCII characters")]
    InvalidToken,
    /// See [`ErrorCode::InvalidDigest`].
    #[error("token_digest: must be 64 hexadecimal digits")]
    InvalidDigest,
    /// See [`ErrorCode::InvalidInterval`].
    #[error("heartbeat interval {value_ms} ms: must be from 1000 ms (1 s) to 86400000 ms (24 h)")]
    InvalidInterval {
        /// The offending interval in milliseconds.
        value_ms: i64,
    },
    /// See [`ErrorCode::InvalidBeats`].
    #[error("beats {value}: must be from 2 to 10 missed heartbeats")]
    InvalidBeats {
        /// The offending number of beats.
        value: i64,
    },
    /// See [`ErrorCode::InvalidMargin`].
    #[error("safety margin {value_ms} ms: must be from 0 to 86400000 ms")]
    InvalidMargin {
        /// The offending margin in milliseconds.
        value_ms: i64,
    },
    /// See [`ErrorCode::InvalidSample`].
    #[error("skew sample: received_at {received_at} is before sent_at {sent_at}")]
    InvalidSample {
        /// Local send time of the sample.
        sent_at: i64,
        /// Local receive time of the sample.
        received_at: i64,
    },
    /// See [`ErrorCode::TimeOutOfRange`].
    #[error(
        "{field} {value}: must be a UTC millisecond timestamp within ±(2^53 - 1) \
         that a date can hold"
    )]
    TimeOutOfRange {
        /// The field, given or computed, that left the range.
        field: &'static str,
        /// The value as text (it may not fit an integer).
        value: String,
    },
    /// See [`ErrorCode::FenceOutOfRange`].
    #[error("fence {value}: must be at most 2^53 - 1")]
    FenceOutOfRange {
        /// The offending fence, as text.
        value: String,
    },
    /// See [`ErrorCode::InvalidRecord`].
    #[error("lease record: {rule}")]
    InvalidRecord {
        /// The invariant the record breaks.
        rule: String,
    },
    /// See [`ErrorCode::InvalidDocument`].
    #[error("{field}: {rule}")]
    InvalidDocument {
        /// The JSON path of the field at fault (`$` for the whole document).
        field: String,
        /// The rule it breaks.
        rule: String,
    },
}

impl LeaseError {
    /// The stable code of this error.
    #[must_use]
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidScope { .. } => ErrorCode::InvalidScope,
            Self::InvalidResourceId { .. } => ErrorCode::InvalidResourceId,
            Self::InvalidOwner { .. } => ErrorCode::InvalidOwner,
            Self::InvalidSessionId { .. } => ErrorCode::InvalidSessionId,
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::InvalidDigest => ErrorCode::InvalidDigest,
            Self::InvalidInterval { .. } => ErrorCode::InvalidInterval,
            Self::InvalidBeats { .. } => ErrorCode::InvalidBeats,
            Self::InvalidMargin { .. } => ErrorCode::InvalidMargin,
            Self::InvalidSample { .. } => ErrorCode::InvalidSample,
            Self::TimeOutOfRange { .. } => ErrorCode::TimeOutOfRange,
            Self::FenceOutOfRange { .. } => ErrorCode::FenceOutOfRange,
            Self::InvalidRecord { .. } => ErrorCode::InvalidRecord,
            Self::InvalidDocument { .. } => ErrorCode::InvalidDocument,
        }
    }

    /// A [`LeaseError::InvalidDocument`] for `field` breaking `rule`.
    pub fn document(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidDocument {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// A [`LeaseError::InvalidRecord`] breaking `rule`.
    pub fn record(rule: impl Into<String>) -> Self {
        Self::InvalidRecord { rule: rule.into() }
    }
}

/// Quotes `value` for an error message, cut to a readable length.
pub(crate) fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_LIMIT {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(QUOTE_LIMIT).collect();
    format!("{head:?}... ({} characters)", value.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ALL_CODES {
            let text = code.as_str();
            assert!(seen.insert(text), "duplicate code {text}");
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let quoted = quote(&"x".repeat(1000));
        assert!(quoted.len() < 100, "{quoted}");
        assert!(quoted.ends_with("(1000 characters)"));
    }
}
