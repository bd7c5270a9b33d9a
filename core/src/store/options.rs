//! How a store opens its file: durability, lock waiting, sweep batches and its clock.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::store::clock::{Clock, SystemClock};

/// The longest busy timeout `SQLite` accepts: `i32::MAX` milliseconds, about 24.8 days.
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// How long a connection waits for another's write lock by default: five seconds.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows a sweep or a prune handles per write transaction by default.
pub const DEFAULT_BATCH_SIZE: NonZeroU32 = match NonZeroU32::new(500) {
    Some(size) => size,
    None => unreachable!(),
};

/// When `SQLite` makes a commit durable (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// Commits survive a crash of the process; a power loss may undo the last few.
    #[default]
    Normal,
    /// Every commit is synced to disk before it returns; slower, survives a power loss.
    Full,
}

impl Synchronous {
    /// The pragma's value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

/// Settings for [`crate::store::SqliteStore::open_with`]; start from the defaults.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use leasekit_core::store::{ManualClock, StoreOptions, Synchronous};
/// use leasekit_core::UnixMillis;
///
/// let options = StoreOptions {
///     synchronous: Synchronous::Full,
///     busy_timeout: Duration::from_secs(10),
///     clock: Arc::new(ManualClock::new(UnixMillis::EPOCH)),
///     ..StoreOptions::default()
/// };
/// assert_eq!(options.batch_size.get(), 500);
/// ```
#[derive(Clone)]
pub struct StoreOptions {
    /// How long to wait for another connection's lock before failing with `storage_failure`
    /// (default 5 s). Values beyond [`MAX_BUSY_TIMEOUT`], `SQLite`'s limit, count as that limit.
    pub busy_timeout: Duration,
    /// Durability of each commit (default [`Synchronous::Normal`]).
    pub synchronous: Synchronous,
    /// Rows a sweep or a prune handles per write transaction (default 500). Smaller batches
    /// hold the write lock for less time; larger ones finish a big sweep in fewer commits.
    pub batch_size: NonZeroU32,
    /// The clock every operation reads `now` from (default [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            synchronous: Synchronous::Normal,
            batch_size: DEFAULT_BATCH_SIZE,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("busy_timeout", &self.busy_timeout)
            .field("synchronous", &self.synchronous)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_backend_pragmas() {
        let options = StoreOptions::default();
        assert_eq!(options.busy_timeout, Duration::from_secs(5));
        assert_eq!(options.synchronous, Synchronous::Normal);
        assert_eq!(options.synchronous.as_str(), "NORMAL");
    }
}
