//! `SkewEstimator`: the core's clock-skew estimate, kept across the worker's round trips.
//!
//! A browser's clock is not the server's. Each answer of the service carries `server_time`; with
//! the local send and receive times around it, the estimator keeps the most certain recent
//! offset between the two clocks, which `predict` needs to judge a lease offline.

use leasekit_core::predict::DEFAULT_SAMPLE_MAX_AGE_MS;
use leasekit_core::{ErrorCode, SkewSample};
use wasm_bindgen::prelude::*;

use crate::convert::{instant, to_js, whole};
use crate::errors::lease_error;

/// Keeps the most certain recent estimate of the server clock minus the local clock.
///
/// ```ts
/// const skew = new SkewEstimator(); // prefers its best sample for up to 5 minutes
/// const sentAt = Date.now();
/// const grant = parseGrant(await (await fetch(url, init)).text());
/// skew.observe(sentAt, grant.server_time, Date.now());
/// predict(grant.timing, skew.estimate(), Date.now(), 2_000);
/// ```
#[wasm_bindgen]
pub struct SkewEstimator {
    inner: leasekit_core::SkewEstimator,
}

#[wasm_bindgen]
impl SkewEstimator {
    /// An estimator that prefers its most certain sample for up to `maxAgeMs` (default five
    /// minutes), then whichever sample is newer.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = maxAgeMs, unchecked_optional_param_type = "number")]
        max_age_ms: &JsValue,
    ) -> Result<SkewEstimator, JsValue> {
        let max_age_ms = if max_age_ms.is_undefined() {
            DEFAULT_SAMPLE_MAX_AGE_MS
        } else {
            whole(max_age_ms, "max_age_ms", ErrorCode::TimeOutOfRange)?
        };
        Ok(Self {
            inner: leasekit_core::SkewEstimator::new(max_age_ms),
        })
    }

    /// Adds one round trip (local send time, the server's clock, local receive time, all UTC
    /// milliseconds) and returns the estimate now preferred.
    #[wasm_bindgen(unchecked_return_type = "SkewEstimate")]
    pub fn observe(
        &mut self,
        #[wasm_bindgen(js_name = sentAt, unchecked_param_type = "number")] sent_at: &JsValue,
        #[wasm_bindgen(js_name = serverTime, unchecked_param_type = "number")]
        server_time: &JsValue,
        #[wasm_bindgen(js_name = receivedAt, unchecked_param_type = "number")]
        received_at: &JsValue,
    ) -> Result<JsValue, JsValue> {
        let sample = SkewSample {
            sent_at: instant(sent_at, "sent_at")?,
            server_time: instant(server_time, "server_time")?,
            received_at: instant(received_at, "received_at")?,
        };

        let estimate = self.inner.observe(sample).map_err(lease_error)?;
        to_js(&estimate)
    }

    /// The preferred estimate, or `null` before the first sample.
    #[wasm_bindgen(unchecked_return_type = "SkewEstimate | null")]
    pub fn estimate(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.estimate())
    }
}
