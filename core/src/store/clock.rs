//! Where a store's `now` comes from.
//!
//! The rules take `now` as an argument; a store reads it from a [`Clock`] inside its write
//! transaction, so callers never pass a time and cannot lie about it. Tests and the Python
//! binding inject a [`ManualClock`] to make time a controlled input.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::LeaseError;
use crate::time::UnixMillis;

/// A source of the current UTC instant.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> UnixMillis;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// # Panics
    ///
    /// Only if the system clock reads more than 200,000 years away from 1970.
    fn now(&self) -> UnixMillis {
        let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        };
        UnixMillis::new(ms).expect("the system clock reads a time within 200,000 years of 1970")
    }
}

/// A clock that moves only when told to; share it through an [`Arc`].
///
/// ```
/// use std::sync::Arc;
/// use leasekit_core::store::{Clock, ManualClock};
/// use leasekit_core::UnixMillis;
///
/// let clock = Arc::new(ManualClock::new(UnixMillis::new(1_000).unwrap()));
/// clock.advance(500).unwrap();
/// assert_eq!(clock.now().as_millis(), 1_500);
/// clock.set(UnixMillis::new(200).unwrap()); // stepping back is allowed, as real clocks do
/// assert_eq!(clock.now().as_millis(), 200);
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<UnixMillis>,
}

impl ManualClock {
    /// A clock standing at `start`.
    #[must_use]
    pub const fn new(start: UnixMillis) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `instant`, forwards or backwards.
    pub fn set(&self, instant: UnixMillis) {
        *self.lock() = instant;
    }

    /// Moves the clock by `delta_ms` (negative steps back) and returns the new instant; refuses
    /// a move out of the safe range and leaves the clock where it was.
    pub fn advance(&self, delta_ms: i64) -> Result<UnixMillis, LeaseError> {
        let mut now = self.lock();
        *now = now.offset("now", delta_ms)?;
        Ok(*now)
    }

    fn lock(&self) -> MutexGuard<'_, UnixMillis> {
        // A panic while holding the lock cannot leave a half-written instant behind.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        *self.lock()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> UnixMillis {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_refuses_to_leave_the_safe_range_and_stays_put() {
        let far = UnixMillis::new(8_000_000_000_000_000).unwrap();
        let clock = ManualClock::new(far);
        let err = clock.advance(900_000_000_000_000).unwrap_err();
        assert_eq!(err.code().as_str(), "time_out_of_range");
        assert_eq!(clock.now(), far);
    }

    #[test]
    fn manual_clock_is_shared_through_an_arc() {
        let clock = Arc::new(ManualClock::new(UnixMillis::EPOCH));
        let shared: Arc<dyn Clock> = clock.clone();
        clock.advance(42).unwrap();
        assert_eq!(shared.now().as_millis(), 42);
    }

    #[test]
    fn system_clock_reads_a_time_after_this_code_was_written() {
        let written = UnixMillis::new(1_700_000_000_000).unwrap();
        assert!(SystemClock.now() > written);
    }
}
