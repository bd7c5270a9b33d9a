//! The core's prediction: what the server will say about a lease, computed offline.
//!
//! Between two answers of the service (and while it cannot be reached) the worker still owes its
//! tabs a countdown. [`predict`] gives it from the last grant or status, the clock skew and the
//! local clock, by the core's rules: conservative for the holder, certain for a waiter.

use leasekit_core::wire::lease_timing;
use leasekit_core::{ErrorCode, LeaseTiming, SkewEstimate, UnixMillis};
use wasm_bindgen::prelude::*;

use crate::convert::{instant, to_js, whole, Options};
use crate::errors::lease_error;

#[wasm_bindgen(typescript_custom_section)]
const PREDICT_TYPES: &str = r#"
/** The server clock minus the local clock, within `± uncertainty_ms`. */
export interface SkewEstimate {
  offset_ms: number;
  uncertainty_ms: number;
  /** The local instant of the sample the estimate comes from. */
  observed_at: number;
}

/**
 * `held`: live, no heartbeat due yet. `due`: live, heartbeat now. `in_doubt`: the server may
 * already judge it stale. `expired`: the server certainly does.
 */
export type PredictedState = "held" | "due" | "in_doubt" | "expired";

/** A prediction at one local instant; durations are local milliseconds from that instant. */
export interface Prediction {
  state: PredictedState;
  /** The best estimate of the server's clock now. */
  server_now: number;
  /** Until the holder must consider itself stale (0 once `in_doubt` or `expired`). */
  holder_stale_in_ms: number;
  /** Until a waiter may try to take over (0 once `expired`). */
  takeover_in_ms: number;
  /** Until the next heartbeat is due (0 once due). */
  heartbeat_due_in_ms: number;
  /** The latest local instant at which the server may still judge the lease live. */
  latest_live_local: number;
}
"#;

fn timing_arg(value: &JsValue) -> Result<LeaseTiming, JsValue> {
    let allowed = ["heartbeat_at", "interval_ms", "stale_after_ms"];
    let options = Options::read(value, "timing", &allowed)?;

    let heartbeat_at = options.instant("heartbeat_at")?;
    let interval_ms = options.whole("interval_ms", ErrorCode::InvalidInterval)?;
    let stale_after_ms = options.whole("stale_after_ms", ErrorCode::InvalidDocument)?;
    lease_timing(heartbeat_at, interval_ms, stale_after_ms).map_err(lease_error)
}

/// The skew argument: an estimate (as `SkewEstimator.estimate()` returns it), or `null` and
/// `undefined` for a client that shares the server's clock.
fn skew_arg(value: &JsValue) -> Result<SkewEstimate, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(SkewEstimate::exact());
    }

    let allowed = ["offset_ms", "uncertainty_ms", "observed_at"];
    let options = Options::read(value, "skew", &allowed)?;
    // The core holds both spans to ±(2^53 - 1) and refuses the rest as `time_out_of_range`.
    let span = |field| options.whole(field, ErrorCode::TimeOutOfRange);
    let observed_at = match options.get("observed_at")? {
        absent if absent.is_undefined() => UnixMillis::EPOCH,
        _ => options.instant("observed_at")?,
    };
    Ok(SkewEstimate {
        offset_ms: span("offset_ms")?,
        uncertainty_ms: span("uncertainty_ms")?,
        observed_at,
    })
}

/// Predicts the server's judgement of a lease at the local instant `localNow`.
///
/// `timing` comes from `parseGrant` or `parseStatus`; `skew` from `SkewEstimator.estimate()`
/// (`null`: same clock as the server); `marginMs` (0 to 24 h) widens the holder's doubt to cover
/// the time a heartbeat takes to reach the server.
///
/// ```ts
/// const p = predict(grant.timing, skew.estimate(), Date.now(), 2_000);
/// if (p.state === "due") sendHeartbeat();
/// showCountdown(p.holder_stale_in_ms);
/// ```
#[wasm_bindgen(unchecked_return_type = "Prediction")]
pub fn predict(
    #[wasm_bindgen(unchecked_param_type = "LeaseTiming")] timing: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "SkewEstimate | null")] skew: &JsValue,
    #[wasm_bindgen(js_name = localNow, unchecked_param_type = "number")] local_now: &JsValue,
    #[wasm_bindgen(js_name = marginMs, unchecked_param_type = "number")] margin_ms: &JsValue,
) -> Result<JsValue, JsValue> {
    let timing = timing_arg(timing)?;
    let skew = skew_arg(skew)?;
    let local_now = instant(local_now, "local_now")?;
    let margin_ms = whole(margin_ms, "margin_ms", ErrorCode::InvalidMargin)?;

    let prediction =
        leasekit_core::predict(&timing, &skew, local_now, margin_ms).map_err(lease_error)?;
    to_js(&prediction)
}
