//! How often a holder must heartbeat, and how many missed beats make a lease stale.

use serde::{Deserialize, Serialize};

use crate::error::LeaseError;

/// Shortest heartbeat interval: one second.
pub const MIN_INTERVAL_MS: i64 = 1_000;
/// Longest heartbeat interval: one day.
pub const MAX_INTERVAL_MS: i64 = 86_400_000;
/// Fewest missed beats before a lease is stale.
pub const MIN_BEATS: i64 = 2;
/// Most missed beats before a lease is stale.
pub const MAX_BEATS: i64 = 10;
/// The backend's rule: stale after three intervals without a heartbeat.
pub const DEFAULT_BEATS: i64 = 3;

/// The heartbeat interval and the stale threshold (`beats × interval`) of one lease.
///
/// ```
/// use leasekit_core::LeaseTerms;
///
/// let terms = LeaseTerms::new(30_000, 3).unwrap();
/// assert_eq!(terms.stale_after_ms(), 90_000);
/// assert!(LeaseTerms::new(0, 3).is_err());
/// assert!(LeaseTerms::new(30 * 86_400_000, 3).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TermsDoc", into = "TermsDoc")]
pub struct LeaseTerms {
    interval_ms: i64,
    beats: i64,
}

impl LeaseTerms {
    /// Checks the interval (1 s to 24 h) and the beats (2 to 10).
    pub fn new(interval_ms: i64, beats: i64) -> Result<Self, LeaseError> {
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&interval_ms) {
            return Err(LeaseError::InvalidInterval {
                value_ms: interval_ms,
            });
        }
        if !(MIN_BEATS..=MAX_BEATS).contains(&beats) {
            return Err(LeaseError::InvalidBeats { value: beats });
        }
        Ok(Self { interval_ms, beats })
    }

    /// Terms with the default of three beats.
    pub fn with_interval(interval_ms: i64) -> Result<Self, LeaseError> {
        Self::new(interval_ms, DEFAULT_BEATS)
    }

    /// The heartbeat interval in milliseconds.
    #[must_use]
    pub const fn interval_ms(self) -> i64 {
        self.interval_ms
    }

    /// How many intervals may pass without a heartbeat.
    #[must_use]
    pub const fn beats(self) -> i64 {
        self.beats
    }

    /// The stale threshold: `beats × interval`, at most ten days, so it never overflows.
    #[must_use]
    pub const fn stale_after_ms(self) -> i64 {
        self.beats * self.interval_ms
    }
}

/// The serialised form of [`LeaseTerms`], validated on the way in.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TermsDoc {
    interval_ms: i64,
    beats: i64,
}

impl TryFrom<TermsDoc> for LeaseTerms {
    type Error = LeaseError;

    fn try_from(doc: TermsDoc) -> Result<Self, LeaseError> {
        Self::new(doc.interval_ms, doc.beats)
    }
}

impl From<LeaseTerms> for TermsDoc {
    fn from(terms: LeaseTerms) -> Self {
        Self {
            interval_ms: terms.interval_ms,
            beats: terms.beats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_bounds_are_inclusive() {
        assert!(LeaseTerms::new(MIN_INTERVAL_MS, 3).is_ok());
        assert!(LeaseTerms::new(MAX_INTERVAL_MS, 10).is_ok());
        for bad in [
            0,
            -1,
            MIN_INTERVAL_MS - 1,
            MAX_INTERVAL_MS + 1,
            2_592_000_000,
            i64::MIN,
        ] {
            let err = LeaseTerms::new(bad, 3).unwrap_err();
            assert_eq!(err.code().as_str(), "invalid_interval");
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
        }
    }

    #[test]
    fn beats_bounds_are_inclusive() {
        assert_eq!(LeaseTerms::new(1_000, 2).unwrap().stale_after_ms(), 2_000);
        assert_eq!(LeaseTerms::new(1_000, 10).unwrap().stale_after_ms(), 10_000);
        for bad in [1, 11, 0, -3] {
            assert_eq!(
                LeaseTerms::new(1_000, bad).unwrap_err().code().as_str(),
                "invalid_beats"
            );
        }
    }
}
