//! The core's judge of the UI's Git `.lock` record.
//!
//! The UI reads the `.lock` file from its Git branch and asks what it may do; the core answers
//! by the UI's own rules (see `leasekit_core::gitlock` for the decision table), so no tab keeps
//! its own copy of them. An unreadable record is an answer (`invalid`), not an error; only a
//! malformed question throws.

use leasekit_core::gitlock::{self, LockIntent, LockQuestion};
use leasekit_core::ErrorCode;
use wasm_bindgen::prelude::*;

use crate::convert::{instant, optional_text, to_js, Options};
use crate::errors::lease_error;

/// Longest id accepted before the core's own rule (256 characters) applies.
const MAX_ID_UNITS: u32 = 1024;

#[wasm_bindgen(typescript_custom_section)]
const GITLOCK_TYPES: &str = r#"
/** What the caller means to do with the `.lock` record. */
export type LockIntent = "check" | "acquire" | "take_over" | "heartbeat" | "release";

/** Who asks about the `.lock` record, and what for. */
export interface LockQuestion {
  editor_id: string;
  browser_instance_id: string;
  /** The lease id of the caller's acquisition, when it has one. */
  lease_id?: string | null;
  /** The revision the caller last wrote, to detect a write by someone else since. */
  last_revision?: string | null;
  intent: LockIntent;
}

/** The UI's ownership answers and conflict kinds. */
export type LockAnswer = "owner" | "free" | "lost" | "busy" | "expired" | "invalid" | "changed";

/** The `.lock` record as judged at `now`. */
export type LockRecordState = "absent" | "released" | "live" | "expired" | "invalid";

/** The holder a valid record names; times are UTC milliseconds. */
export interface LockHolder {
  editor_id: string;
  browser_instance_id: string;
  target: string | null;
  revision: string | null;
  heartbeat_at: number;
  /** The first instant the lease is expired: `heartbeat_at + 180 s`. */
  expires_at: number;
}

/** The answer of `judgeLock`. */
export interface LockJudgement {
  answer: LockAnswer;
  /** Whether the intent may go ahead by writing the record (never for `check`). */
  write: boolean;
  record: LockRecordState;
  /** Whether the record names the caller (editor, browser instance, lease id if given). */
  mine: boolean;
  /** Whether the record names the caller's editor, in whichever browser. */
  same_editor: boolean;
  holder: LockHolder | null;
  /** Until the lease expires (0 once expired); `null` unless live or expired. */
  expires_in_ms: number | null;
  /** Why the record is invalid: the field (`$` for the whole text) and its rule. */
  problem: { field: string; rule: string } | null;
}
"#;

fn question_arg(value: &JsValue) -> Result<LockQuestion, JsValue> {
    let allowed = [
        "editor_id",
        "browser_instance_id",
        "lease_id",
        "last_revision",
        "intent",
    ];
    let options = Options::read(value, "question", &allowed)?;
    let id = |field| options.text(field, ErrorCode::InvalidDocument, MAX_ID_UNITS);
    let optional_id =
        |field| options.optional_text(field, ErrorCode::InvalidDocument, MAX_ID_UNITS);

    let intent = id("intent")?;
    Ok(LockQuestion {
        editor_id: id("editor_id")?,
        browser_instance_id: id("browser_instance_id")?,
        lease_id: optional_id("lease_id")?,
        last_revision: optional_id("last_revision")?,
        intent: LockIntent::parse(&intent).map_err(lease_error)?,
    })
}

/// Judges the `.lock` record's text (`null` when there is no file) for `question` at `now`
/// (UTC milliseconds), by the UI's rules: 180 s lease, expired when `now >= heartbeat_at +
/// 180 s`, invalid when stamped more than 30 s ahead or when a field is missing or mistyped.
///
/// ```ts
/// const text = await readLockFileFromGit(); // string | null
/// const verdict = judgeLock(text, {
///   editor_id: "alice", browser_instance_id: instanceId, lease_id: myLeaseId,
///   last_revision: myRevision, intent: "heartbeat",
/// }, Date.now());
/// if (verdict.write) await writeLockFile({ ...record, heartbeat_at: new Date().toISOString() });
/// else showConflict(verdict.answer, verdict.holder);
/// ```
#[wasm_bindgen(js_name = judgeLock, unchecked_return_type = "LockJudgement")]
pub fn judge_lock(
    #[wasm_bindgen(unchecked_param_type = "string | null")] record: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "LockQuestion")] question: &JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] now: &JsValue,
) -> Result<JsValue, JsValue> {
    let now = instant(now, "now")?;
    let question = question_arg(question)?;
    // The record's size is the core's to judge: an oversized file is an `invalid` answer.
    let record = optional_text(record, "record", ErrorCode::InvalidDocument, u32::MAX)?;

    let judgement = gitlock::judge(record.as_deref(), &question, now).map_err(lease_error)?;
    to_js(&judgement)
}
