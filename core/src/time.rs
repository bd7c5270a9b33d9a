//! UTC instants as integer milliseconds that cross into JavaScript exactly.
//!
//! Every runtime of leasekit must compute the same expiry to the millisecond. JavaScript numbers
//! hold integers exactly only up to 2^53 - 1, and a date library only covers so many years, so
//! [`UnixMillis`] refuses anything outside both ranges at construction. Arithmetic on it is
//! checked and ends in the same refusal, never in a wrapped or rounded value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::LeaseError;

/// The largest integer a JavaScript number holds exactly: 2^53 - 1.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A UTC instant in milliseconds since the Unix epoch, within the safe range.
///
/// ```
/// use leasekit_core::UnixMillis;
///
/// let noon = UnixMillis::new(1_700_000_000_000).unwrap();
/// assert_eq!(noon.to_rfc3339(), "2023-11-14T22:13:20.000Z");
/// assert!(UnixMillis::new(1 << 60).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct UnixMillis(i64);

impl UnixMillis {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// Checks that `ms` lies within ±(2^53 - 1) and that a UTC date can hold it.
    pub fn new(ms: i64) -> Result<Self, LeaseError> {
        Self::for_field("now", ms)
    }

    /// Like [`UnixMillis::new`], naming `field` in the error.
    pub fn for_field(field: &'static str, ms: i64) -> Result<Self, LeaseError> {
        let representable = DateTime::<Utc>::from_timestamp_millis(ms).is_some();
        if ms.unsigned_abs() > MAX_SAFE_INTEGER as u64 || !representable {
            return Err(out_of_range(field, ms));
        }
        Ok(Self(ms))
    }

    /// Converts a chrono instant, refusing one outside the safe range.
    pub fn from_datetime(instant: DateTime<Utc>) -> Result<Self, LeaseError> {
        Self::new(instant.timestamp_millis())
    }

    /// Converts a JavaScript-style number, refusing NaN, infinities, fractions and huge values.
    pub fn from_f64(field: &'static str, ms: f64) -> Result<Self, LeaseError> {
        let whole = ms.is_finite() && ms.fract() == 0.0 && ms.abs() <= MAX_SAFE_INTEGER as f64;
        if !whole {
            return Err(LeaseError::TimeOutOfRange {
                field,
                value: format!("{ms}"),
            });
        }
        Self::for_field(field, ms as i64)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The same instant as a chrono value.
    ///
    /// # Panics
    ///
    /// Never: the constructors only admit instants that a chrono date can hold.
    #[must_use]
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(self.0)
            .expect("the constructor only admits representable instants")
    }

    /// ISO 8601 in UTC with milliseconds and `Z`, as the HTTP API writes times.
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// This instant moved by `delta_ms`, naming `field` if the result leaves the range.
    pub fn offset(self, field: &'static str, delta_ms: i64) -> Result<Self, LeaseError> {
        match self.0.checked_add(delta_ms) {
            Some(ms) => Self::for_field(field, ms),
            None => Err(LeaseError::TimeOutOfRange {
                field,
                value: format!("{} + {delta_ms}", self.0),
            }),
        }
    }

    /// Milliseconds from `earlier` to `self`, never negative: an instant in the future of
    /// `self` counts as `self`.
    #[must_use]
    pub const fn elapsed_since(self, earlier: Self) -> i64 {
        // Both lie within ±(2^53 - 1), so the difference cannot overflow an i64.
        let elapsed = self.0 - earlier.0;
        if elapsed < 0 {
            0
        } else {
            elapsed
        }
    }
}

impl TryFrom<i64> for UnixMillis {
    type Error = LeaseError;

    fn try_from(ms: i64) -> Result<Self, LeaseError> {
        Self::new(ms)
    }
}

impl From<UnixMillis> for i64 {
    fn from(instant: UnixMillis) -> Self {
        instant.0
    }
}

fn out_of_range(field: &'static str, ms: i64) -> LeaseError {
    LeaseError::TimeOutOfRange {
        field,
        value: ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_range_bounds_are_enforced() {
        assert!(
            UnixMillis::new(MAX_SAFE_INTEGER).is_err(),
            "beyond chrono's last year"
        );
        assert!(UnixMillis::new(8_000_000_000_000_000).is_ok());
        assert!(UnixMillis::new(-8_000_000_000_000_000).is_ok());
        assert!(UnixMillis::new(i64::MIN).is_err());
        assert!(UnixMillis::new(i64::MAX).is_err());
    }

    #[test]
    fn offset_refuses_overflow_instead_of_wrapping() {
        let late = UnixMillis::new(8_000_000_000_000_000).unwrap();
        let err = late.offset("expires_at", 900_000_000_000_000).unwrap_err();
        assert_eq!(err.code().as_str(), "time_out_of_range");
        assert!(err.to_string().starts_with("expires_at"), "{err}");
        let max = UnixMillis(MAX_SAFE_INTEGER);
        assert!(max.offset("expires_at", i64::MAX).is_err());
    }

    #[test]
    fn elapsed_time_is_never_negative() {
        let earlier = UnixMillis::new(1_000).unwrap();
        let later = UnixMillis::new(5_000).unwrap();
        assert_eq!(later.elapsed_since(earlier), 4_000);
        assert_eq!(earlier.elapsed_since(later), 0);
    }

    #[test]
    fn float_input_must_be_a_whole_safe_number() {
        for bad in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1.5, 1e300] {
            assert!(UnixMillis::from_f64("now", bad).is_err(), "{bad}");
        }
        assert_eq!(UnixMillis::from_f64("now", 42.0).unwrap().as_millis(), 42);
    }
}
