//! The service's grant and status answers, checked by the core before the worker relies on them.
//!
//! The worker reads the body of each HTTP answer as text and hands it here: the core checks
//! every field (naming the first one at fault), converts the times to UTC milliseconds, and adds
//! the `timing` that [`crate::predict::predict`] takes, so the countdown is computed from the
//! same numbers the server judges by.

use leasekit_core::wire::{Grant, LockStatus, MAX_DOCUMENT_BYTES};
use leasekit_core::{ErrorCode, LeaseTiming};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{text, to_js};
use crate::errors::lease_error;

#[wasm_bindgen(typescript_custom_section)]
const WIRE_TYPES: &str = r#"
/** The timing of a lease in server milliseconds: what `predict` needs. */
export interface LeaseTiming {
  heartbeat_at: number;
  interval_ms: number;
  stale_after_ms: number;
}

/** The previous holder named by a grant, and how its lease ended. */
export interface PreviousHolder {
  owner: string;
  session_id: string;
  fence: number;
  ended: EndReason;
}

/**
 * A grant as the service returns it from `POST .../lock` and `POST .../heartbeat`, with times
 * as UTC milliseconds. `lease_id` is the lease's secret token: keep it, never show or log it.
 */
export interface Grant {
  project_id: string;
  owner: string;
  session_id: string;
  lease_id: string;
  fence: number;
  acquired_at: number;
  heartbeat_at: number;
  expires_at: number;
  /** Seconds; fractional when the interval is not a whole number of seconds. */
  heartbeat_interval_s: number;
  stale_after_s: number;
  server_time: number;
  previous: PreviousHolder | null;
  timing: LeaseTiming;
}

/** The holder fields of a status view while the project is held. */
export interface HeldStatus {
  project_id: string;
  held: true;
  owner: string;
  session_id: string;
  fence: number;
  acquired_at: number;
  heartbeat_at: number;
  expires_at: number;
  heartbeat_interval_s: number;
  /** Derived from `expires_at - heartbeat_at` when the service does not state it. */
  stale_after_s: number;
  /** The server's judgement at `server_time`. */
  stale: boolean;
  server_time: number;
  timing: LeaseTiming;
}

/** A status view of a free project: no holder, `fence` is the last one handed out. */
export interface FreeStatus {
  project_id: string;
  held: false;
  owner: null;
  session_id: null;
  fence: number;
  acquired_at: null;
  heartbeat_at: null;
  expires_at: null;
  heartbeat_interval_s: null;
  stale_after_s: null;
  stale: false;
  server_time: number;
  timing: null;
}

/**
 * The public view from `GET .../lock` (or the `lock` of a 409 refusal), with times as UTC
 * milliseconds.
 */
export type LockStatus = HeldStatus | FreeStatus;
"#;

/// A parsed answer with the timing for `predict` beside its own fields.
#[derive(Serialize)]
struct WithTiming<'a, T> {
    #[serde(flatten)]
    answer: &'a T,
    timing: Option<LeaseTiming>,
}

fn document_arg(value: &JsValue) -> Result<String, JsValue> {
    text(
        value,
        "$",
        ErrorCode::InvalidDocument,
        MAX_DOCUMENT_BYTES as u32,
    )
}

/// Parses and checks the JSON body of a grant (`POST .../lock` or `.../heartbeat`, status 200).
///
/// ```ts
/// const sentAt = Date.now();
/// const response = await fetch(`${base}/v1/projects/apollo/lock`, { method: "POST", body });
/// const grant = parseGrant(await response.text());
/// skew.observe(sentAt, grant.server_time, Date.now());
/// const next = predict(grant.timing, skew.estimate(), Date.now(), 2_000);
/// ```
#[wasm_bindgen(js_name = parseGrant, unchecked_return_type = "Grant")]
pub fn parse_grant(
    #[wasm_bindgen(unchecked_param_type = "string")] json: &JsValue,
) -> Result<JsValue, JsValue> {
    let grant = Grant::parse(&document_arg(json)?).map_err(lease_error)?;

    let timing = Some(grant.timing());
    to_js(&WithTiming {
        answer: &grant,
        timing,
    })
}

/// Parses and checks the JSON body of a status view (`GET .../lock`, status 200).
///
/// ```ts
/// const status = parseStatus(await (await fetch(`${base}/v1/projects/apollo/lock`)).text());
/// if (status.held) {
///   const wait = predict(status.timing, skew.estimate(), Date.now(), 0).takeover_in_ms;
/// }
/// ```
#[wasm_bindgen(js_name = parseStatus, unchecked_return_type = "LockStatus")]
pub fn parse_status(
    #[wasm_bindgen(unchecked_param_type = "string")] json: &JsValue,
) -> Result<JsValue, JsValue> {
    let status = LockStatus::parse(&document_arg(json)?).map_err(lease_error)?;

    let timing = status.timing();
    to_js(&WithTiming {
        answer: &status,
        timing,
    })
}
