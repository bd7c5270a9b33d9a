//! Client-side prediction: how a holder or a waiter judges a lease without asking the server.
//!
//! A browser's clock is not the server's. The [`SkewEstimator`] turns timed round trips into an
//! estimate of the offset between the two clocks with a known uncertainty. [`predict`] then says
//! what the server will decide about a lease at a local instant. For the holder it is
//! conservative: it reports `in_doubt` as soon as the server *might* judge the lease stale. For a
//! waiter it reports `expired` only once the server *certainly* does.

use serde::{Deserialize, Serialize};

use crate::error::LeaseError;
use crate::record::HolderView;
use crate::terms::MAX_INTERVAL_MS;
use crate::time::{UnixMillis, MAX_SAFE_INTEGER};

/// How long a skew estimate stays preferred over a newer, less certain one: five minutes.
pub const DEFAULT_SAMPLE_MAX_AGE_MS: i64 = 300_000;

/// One timed exchange with the server: local send time, the server's clock, local receive time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkewSample {
    /// Local clock when the request left.
    pub sent_at: UnixMillis,
    /// The server's clock as reported in the response.
    pub server_time: UnixMillis,
    /// Local clock when the response arrived.
    pub received_at: UnixMillis,
}

/// The server clock minus the local clock, within `± uncertainty_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkewEstimate {
    /// Add this to a local instant to estimate the server's clock.
    pub offset_ms: i64,
    /// Half the round trip of the sample: the true offset lies within `offset ± uncertainty`.
    pub uncertainty_ms: i64,
    /// Local instant of the sample, to judge how recent it is.
    pub observed_at: UnixMillis,
}

impl SkewEstimate {
    /// The estimate from one sample: offset = server − midpoint, uncertainty = half the round
    /// trip, rounded up so the true offset is never outside the bound.
    pub fn from_sample(sample: SkewSample) -> Result<Self, LeaseError> {
        let (sent, received) = (sample.sent_at.as_millis(), sample.received_at.as_millis());
        if received < sent {
            return Err(LeaseError::InvalidSample {
                sent_at: sent,
                received_at: received,
            });
        }
        let round_trip = received - sent;
        let midpoint = sent + round_trip / 2;
        Ok(Self {
            offset_ms: sample.server_time.as_millis() - midpoint,
            uncertainty_ms: round_trip - round_trip / 2,
            observed_at: sample.received_at,
        })
    }

    /// No skew and no uncertainty: for a client that shares the server's clock.
    #[must_use]
    pub const fn exact() -> Self {
        Self {
            offset_ms: 0,
            uncertainty_ms: 0,
            observed_at: UnixMillis::EPOCH,
        }
    }
}

/// Keeps the most certain recent estimate of the clock offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkewEstimator {
    best: Option<SkewEstimate>,
    max_age_ms: i64,
}

impl SkewEstimator {
    /// An estimator that prefers its best sample for up to `max_age_ms`, then any newer one.
    #[must_use]
    pub fn new(max_age_ms: i64) -> Self {
        Self {
            best: None,
            max_age_ms: max_age_ms.clamp(0, MAX_SAFE_INTEGER),
        }
    }

    /// Adds a sample and returns the estimate now preferred.
    ///
    /// ```
    /// use leasekit_core::{SkewEstimator, SkewSample, UnixMillis};
    ///
    /// let at = |ms| UnixMillis::new(ms).unwrap();
    /// let sample = |sent, server, received| SkewSample {
    ///     sent_at: at(sent),
    ///     server_time: at(server),
    ///     received_at: at(received),
    /// };
    /// let mut skew = SkewEstimator::new(300_000);
    /// let first = skew.observe(sample(0, 5_050, 100)).unwrap();
    /// assert_eq!((first.offset_ms, first.uncertainty_ms), (5_000, 50));
    /// let slower = skew.observe(sample(1_000, 6_400, 1_800)).unwrap();
    /// assert_eq!(slower, first, "a slower round trip does not replace a recent better one");
    /// ```
    pub fn observe(&mut self, sample: SkewSample) -> Result<SkewEstimate, LeaseError> {
        let fresh = SkewEstimate::from_sample(sample)?;
        let keep_best = self.best.filter(|best| {
            let age = fresh.observed_at.as_millis() - best.observed_at.as_millis();
            best.uncertainty_ms < fresh.uncertainty_ms && age <= self.max_age_ms
        });
        let chosen = keep_best.unwrap_or(fresh);
        self.best = Some(chosen);
        Ok(chosen)
    }

    /// The preferred estimate, if any sample was observed.
    #[must_use]
    pub const fn estimate(&self) -> Option<SkewEstimate> {
        self.best
    }
}

impl Default for SkewEstimator {
    fn default() -> Self {
        Self::new(DEFAULT_SAMPLE_MAX_AGE_MS)
    }
}

/// What the server will say about a lease, as far as a client can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictedState {
    /// Live, and no heartbeat is due yet.
    Held,
    /// Live, and the next heartbeat is due.
    Due,
    /// The server may already judge it stale (within the uncertainty and the safety margin).
    InDoubt,
    /// The server certainly judges it stale.
    Expired,
}

/// The timing of a lease as the server reported it, in server milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseTiming {
    /// The last heartbeat, server clock.
    pub heartbeat_at: UnixMillis,
    /// The heartbeat interval.
    pub interval_ms: i64,
    /// The stale threshold.
    pub stale_after_ms: i64,
}

impl From<&HolderView> for LeaseTiming {
    fn from(view: &HolderView) -> Self {
        Self {
            heartbeat_at: view.heartbeat_at,
            interval_ms: view.interval_ms,
            stale_after_ms: view.stale_after_ms,
        }
    }
}

/// A prediction at one local instant. Durations are local milliseconds from that instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// The predicted state.
    pub state: PredictedState,
    /// The best estimate of the server's clock now.
    pub server_now: i64,
    /// Until the holder must consider itself stale (0 once `in_doubt` or `expired`).
    pub holder_stale_in_ms: i64,
    /// Until a waiter may try to take over (0 once `expired`).
    pub takeover_in_ms: i64,
    /// Until the next heartbeat is due (0 once due).
    pub heartbeat_due_in_ms: i64,
    /// The latest local instant at which the server may still judge the lease live.
    pub latest_live_local: i64,
}

/// Predicts the server's judgement of `lease` at local instant `local_now`.
///
/// `margin_ms` (0 to 24 h) widens the holder's doubt beyond the skew uncertainty, to cover the
/// time a heartbeat takes to reach the server.
pub fn predict(
    lease: &LeaseTiming,
    skew: &SkewEstimate,
    local_now: UnixMillis,
    margin_ms: i64,
) -> Result<Prediction, LeaseError> {
    if !(0..=MAX_INTERVAL_MS).contains(&margin_ms) {
        return Err(LeaseError::InvalidMargin {
            value_ms: margin_ms,
        });
    }
    let offset = checked_span("offset_ms", skew.offset_ms)?;
    let uncertainty = checked_span("uncertainty_ms", skew.uncertainty_ms.max(0))?;
    let expires_at = lease
        .heartbeat_at
        .offset("expires_at", lease.stale_after_ms)?;
    let due_at = lease
        .heartbeat_at
        .offset("heartbeat_due_at", lease.interval_ms)?;

    // Every term lies within ±(2^53 - 1), so these sums cannot overflow an i64.
    let expires = expires_at.as_millis();
    let server_now = local_now.as_millis() + offset;
    let earliest_server_now = server_now - uncertainty;
    let latest_server_now = server_now + uncertainty;
    let doubt_from = latest_server_now + margin_ms;

    let state = if earliest_server_now > expires {
        PredictedState::Expired
    } else if doubt_from >= expires {
        PredictedState::InDoubt
    } else if latest_server_now >= due_at.as_millis() {
        PredictedState::Due
    } else {
        PredictedState::Held
    };
    let latest_live_local =
        UnixMillis::for_field("latest_live_local", expires - offset + uncertainty)?;

    Ok(Prediction {
        state,
        server_now: UnixMillis::for_field("server_now", server_now)?.as_millis(),
        holder_stale_in_ms: (expires - doubt_from).max(0),
        takeover_in_ms: (expires + 1 - earliest_server_now).max(0),
        heartbeat_due_in_ms: (due_at.as_millis() - latest_server_now).max(0),
        latest_live_local: latest_live_local.as_millis(),
    })
}

fn checked_span(field: &'static str, value: i64) -> Result<i64, LeaseError> {
    if value.unsigned_abs() > MAX_SAFE_INTEGER as u64 {
        return Err(LeaseError::TimeOutOfRange {
            field,
            value: value.to_string(),
        });
    }
    Ok(value)
}
