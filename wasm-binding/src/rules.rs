//! The core's pure lease transitions over the flat record JSON.
//!
//! A browser never stores leases itself; these exports exist so that JavaScript can replay the
//! conformance vectors through the very rules the service runs, and so a page can show what an
//! operation would answer. Records cross as the flat JSON text that stores write (see
//! `core/vectors/README.md`); `null` stands for a resource never leased. Tokens are passed in
//! plain and digested inside with SHA-256, as the core requires; no answer contains one.

use leasekit_core::rules::{self, AcquireRequest, Decision, LeaseEvent};
use leasekit_core::terms::DEFAULT_BEATS;
use leasekit_core::wire::{record_from_json, record_to_json, MAX_DOCUMENT_BYTES};
use leasekit_core::{ErrorCode, Holder, LeaseRecord, LeaseTerms, TokenDigest};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{instant, optional_text, text, to_js, Options};
use crate::errors::lease_error;

/// Longest owner, session id or token accepted before the core's own, tighter rules apply.
const MAX_ARGUMENT_CHARS: u32 = 1024;

#[wasm_bindgen(typescript_custom_section)]
const RULE_TYPES: &str = r#"
/** A lease record in the flat JSON form that stores write (`core/vectors/README.md`). */
export type RecordJson = string;

/** What `acquire` asks for. `beats` defaults to 3, `takeover` and `force` to false. */
export interface AcquireRequest {
  owner: string;
  session_id: string;
  interval_ms: number;
  beats?: number;
  takeover?: boolean;
  force?: boolean;
  /** The new lease's token, in plain; only its SHA-256 digest is kept. */
  token: string;
}

/** How a lease ended. */
export type EndReason = "released" | "expired" | "taken_over" | "forced";

/** The public view of a held lease: everything but the token. Times are UTC milliseconds. */
export interface HolderView {
  owner: string;
  session_id: string;
  fence: number;
  acquired_at: number;
  heartbeat_at: number;
  expires_at: number;
  interval_ms: number;
  stale_after_ms: number;
  stale: boolean;
}

/** The public view of a lease that ended. */
export interface EndedView {
  owner: string;
  session_id: string;
  fence: number;
  reason: EndReason;
  ended_at: number;
}

/** What anyone may see of a resource. */
export interface LeaseView {
  fence: number;
  current: HolderView | null;
  last_ended: EndedView | null;
}

/** The lease a grant replaced, and how it ended. */
export interface PreviousLease {
  owner: string;
  session_id: string;
  fence: number;
  ended: EndReason;
}

export type AcquireOutcome =
  | { kind: "granted"; lease: HolderView; previous: PreviousLease | null }
  | { kind: "renewed"; lease: HolderView }
  | { kind: "busy"; holder: HolderView; same_owner: boolean };

export type HeartbeatOutcome =
  | { kind: "renewed"; lease: HolderView }
  | { kind: "expired"; lease: HolderView }
  | { kind: "lost"; current: HolderView | null };

export type ReleaseOutcome =
  | { kind: "released"; lease: HolderView }
  | { kind: "already_released"; fence: number; reason: EndReason }
  | { kind: "lost"; current: HolderView | null };

export type SweepOutcome = { kind: "expired"; lease: HolderView } | { kind: "untouched" };

export type EventKind =
  | "acquired"
  | "renewed"
  | "taken_over"
  | "forced"
  | "released"
  | "expired";

/** One transition for the audit log; `actor` is `null` for the sweeper. */
export interface LeaseEvent {
  kind: EventKind;
  at: number;
  owner: string;
  session_id: string;
  fence: number;
  actor: string | null;
}

/**
 * The result of one transition. A refusal (`refused` is its code) changes nothing: `next` is
 * `null` and `events` is empty.
 */
export interface Decision<Outcome> {
  outcome: Outcome;
  refused: "lease_held" | "lease_lost" | "lease_expired" | "already_released" | null;
  /** The record to store, or `null` when nothing changed. */
  next: RecordJson | null;
  events: LeaseEvent[];
}
"#;

/// A decision as JavaScript sees it: the next record as flat JSON text.
#[derive(Serialize)]
struct DecisionDoc<T> {
    outcome: T,
    refused: Option<&'static str>,
    next: Option<String>,
    events: Vec<LeaseEvent>,
}

impl<T> DecisionDoc<T> {
    fn of(decision: Decision<T>, refused: Option<ErrorCode>) -> Self {
        Self {
            outcome: decision.outcome,
            refused: refused.map(ErrorCode::as_str),
            next: decision.next.as_ref().map(record_to_json),
            events: decision.events,
        }
    }
}

/// The record argument: flat JSON text, or `null`/`undefined` for a resource never leased.
fn record_arg(value: &JsValue) -> Result<LeaseRecord, JsValue> {
    let limit = MAX_DOCUMENT_BYTES as u32;
    match optional_text(value, "record", ErrorCode::InvalidRecord, limit)? {
        Some(json) => record_from_json(&json).map_err(lease_error),
        None => Ok(LeaseRecord::vacant()),
    }
}

fn token_arg(value: &JsValue) -> Result<TokenDigest, JsValue> {
    let token = text(value, "token", ErrorCode::InvalidToken, MAX_ARGUMENT_CHARS)?;
    TokenDigest::of_token(&token).map_err(lease_error)
}

fn acquire_request(value: &JsValue) -> Result<AcquireRequest, JsValue> {
    let allowed = [
        "owner",
        "session_id",
        "interval_ms",
        "beats",
        "takeover",
        "force",
        "token",
    ];
    let options = Options::read(value, "request", &allowed)?;

    let limit = MAX_ARGUMENT_CHARS;
    let owner = options.text("owner", ErrorCode::InvalidOwner, limit)?;
    let session_id = options.text("session_id", ErrorCode::InvalidSessionId, limit)?;
    let holder = Holder::new(&owner, &session_id).map_err(lease_error)?;

    let interval_ms = options.whole("interval_ms", ErrorCode::InvalidInterval)?;
    let beats = options.whole_or("beats", ErrorCode::InvalidBeats, DEFAULT_BEATS)?;
    let terms = LeaseTerms::new(interval_ms, beats).map_err(lease_error)?;

    Ok(AcquireRequest {
        holder,
        terms,
        takeover: options.flag("takeover")?,
        force: options.flag("force")?,
        token_digest: token_arg(&options.get("token")?)?,
    })
}

/// Acquire (rules 2 to 5): grants a free, released or stale resource, renews the caller's own
/// live lease, and refuses anyone else's live lease as busy unless `takeover` (same owner) or
/// `force` (another owner) says otherwise.
///
/// ```ts
/// const first = acquire(null, {
///   owner: "alice", session_id: "tab-1", interval_ms: 30_000, token: "tok-alice-1",
/// }, Date.now());
/// if (first.outcome.kind === "granted") console.log(first.outcome.lease.fence); // 1
/// const record = first.next!; // store it; pass it to the next call
/// ```
#[wasm_bindgen(unchecked_return_type = "Decision<AcquireOutcome>")]
pub fn acquire(
    #[wasm_bindgen(unchecked_param_type = "RecordJson | null")] record: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "AcquireRequest")] request: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] now: &JsValue,
) -> Result<JsValue, JsValue> {
    let now = instant(now, "now")?;
    let request = acquire_request(request)?;
    let record = record_arg(record)?;

    let decision = rules::acquire(&record, &request, now).map_err(lease_error)?;
    let refused = decision.outcome.refusal();
    to_js(&DecisionDoc::of(decision, refused))
}

/// Heartbeat (rules 6 to 8): only the current token of a live lease moves `heartbeat_at` to
/// `now`; a stale lease answers `expired` and is not revived; any other token is `lost`.
///
/// ```ts
/// const beat = heartbeat(record, "tok-alice-1", Date.now());
/// if (beat.outcome.kind === "lost") console.log("held by", beat.outcome.current?.owner);
/// ```
#[wasm_bindgen(unchecked_return_type = "Decision<HeartbeatOutcome>")]
pub fn heartbeat(
    #[wasm_bindgen(unchecked_param_type = "RecordJson | null")] record: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] token: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] now: &JsValue,
) -> Result<JsValue, JsValue> {
    let now = instant(now, "now")?;
    let token = token_arg(token)?;
    let record = record_arg(record)?;

    let decision = rules::heartbeat(&record, &token, now).map_err(lease_error)?;
    let refused = decision.outcome.refusal();
    to_js(&DecisionDoc::of(decision, refused))
}

/// Release (rules 8 and 9): the current token, live or stale, releases; a token whose lease
/// already ended answers `already_released`; any other token is `lost`.
///
/// ```ts
/// const done = release(record, "tok-alice-1", Date.now());
/// console.log(done.outcome.kind); // "released"
/// ```
#[wasm_bindgen(unchecked_return_type = "Decision<ReleaseOutcome>")]
pub fn release(
    #[wasm_bindgen(unchecked_param_type = "RecordJson | null")] record: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] token: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] now: &JsValue,
) -> Result<JsValue, JsValue> {
    let now = instant(now, "now")?;
    let token = token_arg(token)?;
    let record = record_arg(record)?;

    let decision = rules::release(&record, &token, now).map_err(lease_error)?;
    let refused = decision.outcome.refusal();
    to_js(&DecisionDoc::of(decision, refused))
}

/// Sweep (rule 10): ends the lease as expired if, and only if, it is stale at `now`.
///
/// ```ts
/// const swept = sweep(record, Date.now());
/// if (swept.outcome.kind === "expired") save(swept.next!);
/// ```
#[wasm_bindgen(unchecked_return_type = "Decision<SweepOutcome>")]
pub fn sweep(
    #[wasm_bindgen(unchecked_param_type = "RecordJson | null")] record: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] now: &JsValue,
) -> Result<JsValue, JsValue> {
    let now = instant(now, "now")?;
    let record = record_arg(record)?;

    let decision = rules::sweep(&record, now).map_err(lease_error)?;
    to_js(&DecisionDoc::of(decision, None))
}

/// What anyone may see of the resource at `now`: its last fence, its holder (live or stale,
/// `stale` judged at `now`) and its last ended lease.
///
/// ```ts
/// const seen = view(record, Date.now());
/// console.log(seen.current?.owner ?? "free", seen.fence);
/// ```
#[wasm_bindgen(unchecked_return_type = "LeaseView")]
pub fn view(
    #[wasm_bindgen(unchecked_param_type = "RecordJson | null")] record: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] now: &JsValue,
) -> Result<JsValue, JsValue> {
    let now = instant(now, "now")?;
    let record = record_arg(record)?;

    to_js(&record.view(now))
}

/// Reads a flat record through the core's validating path and writes it back, as a store
/// does: the answer is the canonical text of the same record.
///
/// ```ts
/// loadRecord('{"state": "vacant", "fence": 2}'); // '{"fence":2,"state":"vacant"}'
/// ```
#[wasm_bindgen(js_name = loadRecord, unchecked_return_type = "RecordJson")]
pub fn load_record(
    #[wasm_bindgen(unchecked_param_type = "RecordJson")] record: &JsValue,
) -> Result<String, JsValue> {
    let limit = MAX_DOCUMENT_BYTES as u32;
    let json = text(record, "record", ErrorCode::InvalidRecord, limit)?;

    let parsed = record_from_json(&json).map_err(lease_error)?;
    Ok(record_to_json(&parsed))
}

/// The SHA-256 digest of a lease token as 64 lowercase hexadecimal digits: what a record's
/// `token_digest` holds. The token must be 1 to 256 visible ASCII characters.
///
/// ```ts
/// tokenDigest("abc"); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// ```
#[wasm_bindgen(js_name = tokenDigest)]
pub fn token_digest(
    #[wasm_bindgen(unchecked_param_type = "string")] token: &JsValue,
) -> Result<String, JsValue> {
    token_arg(token).map(|digest| digest.to_hex())
}
