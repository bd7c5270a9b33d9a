//! The judge of the UI's Git `.lock` record, by the UI's own rules.
//!
//! Before leasekit, the deployer UI kept its editor lease as a `.lock` JSON file in the project's
//! Git branch, renewed every 60 s. Those files stay in use while the UI moves to the service, and
//! each tab used to judge them with its own copy of the rules. This module is the one copy: the
//! browser reaches it through the wasm module, Python through the binding, and both answer every
//! question the UI asks about a `.lock` file the same way.
//!
//! The rules are the UI's, not the service's: a fixed lease of [`LEASE_MS`] (180 s), expired
//! when `now >= heartbeat_at + 180 s` (inclusive, where the service's rule 1 is strict), and a
//! record stamped more than [`MAX_AHEAD_MS`] (30 s) in the future is invalid rather than taken
//! as `now`. Like the rest of the core, nothing here reads a clock or a file: the caller passes
//! the record's text (or `None` when there is no file) and `now`.
//!
//! ## The record
//!
//! | field | type | |
//! |-------|------|-|
//! | `editor_id` | string, 1 to 256 characters, no control character | required |
//! | `browser_instance_id` | string, same rule | required |
//! | `heartbeat_at` | RFC 3339 time, to the millisecond | required |
//! | `target` | string, up to 1024 characters | optional |
//! | `lease_id` | string, 1 to 256 characters (random per acquisition) | optional |
//! | `revision` | string, 1 to 256 characters (random per write) | optional |
//! | `released` | boolean: `true` makes the record a tombstone | optional |
//!
//! An optional field may be absent or `null`; a present field of the wrong type, a missing
//! required field, text that is not a JSON object, or a document beyond the limits of
//! [`crate::wire::parse_document`] makes the record **invalid**. Unknown fields are ignored. A
//! tombstone is judged released whatever its time; any other record is invalid when its
//! `heartbeat_at` lies more than 30 s after `now` (exactly 30 s is still valid).
//!
//! ## Who asks, and what for
//!
//! A [`LockQuestion`] names the caller (`editor_id`, `browser_instance_id`, and the `lease_id`
//! of its acquisition when it has one), its [`LockIntent`], and optionally `last_revision`, the
//! revision it last wrote. The record is **mine** when its editor and browser instance are the
//! caller's and, if the caller gives a lease id, its `lease_id` is that one. A record that is mine
//! but whose revision differs from `last_revision` has been **changed** by another writer since.
//!
//! ## The decision table
//!
//! Rows are the record as judged at `now`, checked top to bottom; columns are the intents. Each
//! cell is the [`LockAnswer`]; ✎ marks the cells where the intent may go ahead by writing the
//! record ([`LockJudgement::write`]): a lease record for acquire, take over and heartbeat, a
//! tombstone for release.
//!
//! | # | record at `now` | check | acquire | take over | heartbeat | release |
//! |---|-----------------|-------|---------|-----------|-----------|---------|
//! | 1 | absent | free | owner ✎ | owner ✎ | lost | free |
//! | 2 | released (tombstone) | free | owner ✎ | owner ✎ | lost | free |
//! | 3 | invalid | invalid | invalid | owner ✎ | invalid | invalid |
//! | 4 | mine, revision ≠ `last_revision` | changed | changed | changed | changed | changed |
//! | 5 | mine, live | owner | owner ✎ | owner ✎ | owner ✎ | owner ✎ |
//! | 6 | mine, expired | expired | expired | owner ✎ | expired | owner ✎ |
//! | 7 | another's, live | lost | busy | busy | lost | lost |
//! | 8 | another's, expired | expired | expired | owner ✎ | lost | lost |
//!
//! Why these cells:
//! - The ownership check answers `owner`, `free` or `lost` as the UI expects, and says `expired`
//!   or `invalid` when the record is neither held by someone else nor free: only an explicit
//!   take over may replace it.
//! - Taking over an expired or invalid record must be asked for explicitly (rows 3, 6, 8); asking
//!   on a live lease of someone else is refused as busy (row 7), even for the same editor in
//!   another browser ([`LockJudgement::same_editor`] tells the UI to say so).
//! - A heartbeat never revives an expired lease (row 6) and never recreates a missing one (rows
//!   1, 2): the holder must take over or acquire again.
//! - Releasing is allowed on one's own lease, live or expired (rows 5, 6), like the service's
//!   rule 9; there is nothing to release on a free record (rows 1, 2).
//! - `changed` comes before the time rules: the caller's view of its own record is out of date,
//!   so it must read again before deciding anything.
//!
//! `unavailable`, the UI's last conflict kind, means Git could not be read or written; it is the
//! caller's to report, since the judge does no I/O.
//!
//! ```
//! use leasekit_core::gitlock::{judge, LockAnswer, LockIntent, LockQuestion};
//! use leasekit_core::UnixMillis;
//!
//! let record = r#"{"editor_id": "alice", "browser_instance_id": "b-1",
//!                  "heartbeat_at": "2023-11-14T22:13:20.000Z", "lease_id": "l-1"}"#;
//! let written = UnixMillis::new(1_700_000_000_000).unwrap();
//! let bob = LockQuestion::new("bob", "b-2", LockIntent::Acquire);
//!
//! let busy = judge(Some(record), &bob, written.offset("now", 179_999)?)?;
//! assert_eq!((busy.answer, busy.write), (LockAnswer::Busy, false));
//!
//! let expired = judge(Some(record), &bob, written.offset("now", 180_000)?)?;
//! assert_eq!(expired.answer, LockAnswer::Expired);
//!
//! let take_over = LockQuestion::new("bob", "b-2", LockIntent::TakeOver);
//! let granted = judge(Some(record), &take_over, written.offset("now", 180_000)?)?;
//! assert_eq!((granted.answer, granted.write), (LockAnswer::Owner, true));
//! # Ok::<(), leasekit_core::LeaseError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::error::LeaseError;
use crate::time::UnixMillis;
use crate::wire::{kind_of, parse_document, Fields};

/// How long a `.lock` lease lasts after its last heartbeat: 180 s.
pub const LEASE_MS: i64 = 180_000;

/// How far in the future a record's `heartbeat_at` may lie and still be valid: 30 s.
pub const MAX_AHEAD_MS: i64 = 30_000;

/// Longest `editor_id`, `browser_instance_id`, `lease_id` or `revision`, in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Longest `target`, in characters.
pub const MAX_TARGET_CHARS: usize = 1024;

/// What the caller means to do with the `.lock` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockIntent {
    /// Ask whether the caller holds the lease; never writes.
    Check,
    /// Start editing: write a new lease record if nobody holds one.
    Acquire,
    /// Replace an expired or invalid record, explicitly asked for by the user.
    TakeOver,
    /// Renew the caller's own live lease.
    Heartbeat,
    /// Stop editing: write a tombstone over the caller's own lease.
    Release,
}

impl LockIntent {
    /// Every intent, in the order of the decision table.
    pub const ALL: [Self; 5] = [
        Self::Check,
        Self::Acquire,
        Self::TakeOver,
        Self::Heartbeat,
        Self::Release,
    ];

    /// The `snake_case` name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Acquire => "acquire",
            Self::TakeOver => "take_over",
            Self::Heartbeat => "heartbeat",
            Self::Release => "release",
        }
    }

    /// Parses the `snake_case` name, naming the field `intent` on error.
    pub fn parse(text: &str) -> Result<Self, LeaseError> {
        Self::ALL
            .into_iter()
            .find(|intent| intent.as_str() == text)
            .ok_or_else(|| {
                let rule = "must be check, acquire, take_over, heartbeat or release";
                LeaseError::document("intent", rule)
            })
    }
}

/// Who asks about the record, and what for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockQuestion {
    /// The caller's editor (the signed-in user).
    pub editor_id: String,
    /// The caller's browser instance.
    pub browser_instance_id: String,
    /// The lease id of the caller's acquisition, when it has one.
    pub lease_id: Option<String>,
    /// The revision the caller last wrote, to detect a write by someone else since.
    pub last_revision: Option<String>,
    /// What the caller means to do.
    pub intent: LockIntent,
}

impl LockQuestion {
    /// A question without a lease id or a last revision.
    #[must_use]
    pub fn new(editor_id: &str, browser_instance_id: &str, intent: LockIntent) -> Self {
        Self {
            editor_id: editor_id.to_owned(),
            browser_instance_id: browser_instance_id.to_owned(),
            lease_id: None,
            last_revision: None,
            intent,
        }
    }

    fn validate(&self) -> Result<(), LeaseError> {
        let check = |field: &str, value: &str| {
            id_rule(value, MAX_ID_CHARS).map_err(|rule| LeaseError::document(field, rule))
        };
        check("editor_id", &self.editor_id)?;
        check("browser_instance_id", &self.browser_instance_id)?;
        if let Some(lease_id) = &self.lease_id {
            check("lease_id", lease_id)?;
        }
        if let Some(revision) = &self.last_revision {
            check("last_revision", revision)?;
        }
        Ok(())
    }
}

/// The judge's verdict: the UI's ownership answers and conflict kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockAnswer {
    /// The caller holds the lease, or may write the record to hold it.
    Owner,
    /// Nobody holds the lease.
    Free,
    /// Someone else holds the lease: the caller has lost it, or never had it.
    Lost,
    /// Conflict: someone else's lease is live.
    Busy,
    /// Conflict: the lease is past its 180 s; only an explicit take over replaces it.
    Expired,
    /// Conflict: the record cannot be trusted (see [`LockJudgement::problem`]).
    Invalid,
    /// Conflict: the caller's record was rewritten since its last write.
    Changed,
}

/// The record as judged at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockRecordState {
    /// No `.lock` file.
    Absent,
    /// A tombstone: `released: true`.
    Released,
    /// A lease within its 180 s.
    Live,
    /// A lease at or past its 180 s.
    Expired,
    /// Unreadable, mistyped, or stamped too far in the future.
    Invalid,
}

/// The holder a valid record names, with its times as UTC milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The holder's editor.
    pub editor_id: String,
    /// The holder's browser instance.
    pub browser_instance_id: String,
    /// What the holder is editing, if the record says.
    pub target: Option<String>,
    /// The revision of the record, if it has one.
    pub revision: Option<String>,
    /// The last heartbeat.
    pub heartbeat_at: UnixMillis,
    /// The first instant at which the lease is expired: `heartbeat_at + 180 s`.
    pub expires_at: UnixMillis,
}

/// Why a record is invalid: the field at fault (`$` for the whole document) and its rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockProblem {
    /// The field at fault.
    pub field: String,
    /// The rule it breaks.
    pub rule: String,
}

/// The answer to a [`LockQuestion`] about one record at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockJudgement {
    /// The verdict.
    pub answer: LockAnswer,
    /// Whether the intent may go ahead by writing the record (always `false` for a check).
    pub write: bool,
    /// The record as judged at `now`.
    pub record: LockRecordState,
    /// Whether the record names the caller (editor, browser instance, and lease id if given).
    pub mine: bool,
    /// Whether the record names the caller's editor, in whichever browser.
    pub same_editor: bool,
    /// The holder the record names, for any valid record, tombstones included.
    pub holder: Option<LockHolder>,
    /// Milliseconds from `now` until the lease expires (0 once expired); `None` unless the
    /// record is live or expired.
    pub expires_in_ms: Option<i64>,
    /// Why the record is invalid; `None` otherwise.
    pub problem: Option<LockProblem>,
}

/// A `.lock` record whose fields are all of the right type.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LockRecord {
    holder: LockHolder,
    lease_id: Option<String>,
    released: bool,
}

/// The situation a record puts the caller in: the rows of the decision table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Situation {
    Free,
    Invalid,
    Changed,
    MineLive,
    MineExpired,
    OtherLive,
    OtherExpired,
}

/// Judges `record` (the `.lock` file's text, or `None` when there is none) for `question` at
/// `now`, by the decision table of this module.
///
/// An unreadable record is an answer ([`LockAnswer::Invalid`]); only a bad question is an error,
/// an [`LeaseError::InvalidDocument`] naming its field.
pub fn judge(
    record: Option<&str>,
    question: &LockQuestion,
    now: UnixMillis,
) -> Result<LockJudgement, LeaseError> {
    question.validate()?;

    let parsed = match record.map(LockRecord::parse) {
        None => {
            return Ok(verdict(
                Situation::Free,
                LockRecordState::Absent,
                question,
                None,
                now,
            ))
        }
        Some(Err(problem)) => return Ok(invalid(problem, question, None)),
        Some(Ok(parsed)) => parsed,
    };
    if parsed.released {
        let state = LockRecordState::Released;
        return Ok(verdict(Situation::Free, state, question, Some(parsed), now));
    }

    let ahead_ms = parsed.holder.heartbeat_at.as_millis() - now.as_millis();
    if ahead_ms > MAX_AHEAD_MS {
        let rule = format!("lies {ahead_ms} ms after now; at most {MAX_AHEAD_MS} ms is allowed");
        return Ok(invalid(
            problem("heartbeat_at", rule),
            question,
            Some(parsed),
        ));
    }

    let expired = now >= parsed.holder.expires_at;
    let situation = match (parsed.names(question), expired) {
        (true, _) if parsed.changed_for(question) => Situation::Changed,
        (true, false) => Situation::MineLive,
        (true, true) => Situation::MineExpired,
        (false, false) => Situation::OtherLive,
        (false, true) => Situation::OtherExpired,
    };
    let state = if expired {
        LockRecordState::Expired
    } else {
        LockRecordState::Live
    };
    Ok(verdict(situation, state, question, Some(parsed), now))
}

/// The answer and the write permission of one cell of the decision table, row by row.
const fn cell(situation: Situation, intent: LockIntent) -> (LockAnswer, bool) {
    use LockIntent::{Acquire, Check, Heartbeat, Release, TakeOver};

    const WRITE: (LockAnswer, bool) = (LockAnswer::Owner, true);
    const LOST: (LockAnswer, bool) = (LockAnswer::Lost, false);
    const EXPIRED: (LockAnswer, bool) = (LockAnswer::Expired, false);
    match situation {
        Situation::Free => match intent {
            Check | Release => (LockAnswer::Free, false),
            Acquire | TakeOver => WRITE,
            Heartbeat => LOST,
        },
        Situation::Invalid => match intent {
            TakeOver => WRITE,
            Check | Acquire | Heartbeat | Release => (LockAnswer::Invalid, false),
        },
        Situation::Changed => (LockAnswer::Changed, false),
        Situation::MineLive => match intent {
            Check => (LockAnswer::Owner, false),
            Acquire | TakeOver | Heartbeat | Release => WRITE,
        },
        Situation::MineExpired => match intent {
            TakeOver | Release => WRITE,
            Check | Acquire | Heartbeat => EXPIRED,
        },
        Situation::OtherLive => match intent {
            Acquire | TakeOver => (LockAnswer::Busy, false),
            Check | Heartbeat | Release => LOST,
        },
        Situation::OtherExpired => match intent {
            TakeOver => WRITE,
            Check | Acquire => EXPIRED,
            Heartbeat | Release => LOST,
        },
    }
}

fn verdict(
    situation: Situation,
    state: LockRecordState,
    question: &LockQuestion,
    record: Option<LockRecord>,
    now: UnixMillis,
) -> LockJudgement {
    let (answer, write) = cell(situation, question.intent);
    let timed = matches!(state, LockRecordState::Live | LockRecordState::Expired);
    let expires_in_ms = record
        .as_ref()
        .filter(|_| timed)
        .map(|record| (record.holder.expires_at.as_millis() - now.as_millis()).max(0));
    LockJudgement {
        answer,
        write,
        record: state,
        mine: record.as_ref().is_some_and(|record| record.names(question)),
        same_editor: record
            .as_ref()
            .is_some_and(|record| record.holder.editor_id == question.editor_id),
        holder: record.map(|record| record.holder),
        expires_in_ms,
        problem: None,
    }
}

/// The judgement of an invalid record. A record whose fields were readable (one stamped too far
/// ahead) still names its holder, so the UI can say whose record it is.
fn invalid(
    problem: LockProblem,
    question: &LockQuestion,
    readable: Option<LockRecord>,
) -> LockJudgement {
    let (answer, write) = cell(Situation::Invalid, question.intent);
    let same_editor = readable
        .as_ref()
        .is_some_and(|record| record.holder.editor_id == question.editor_id);
    LockJudgement {
        answer,
        write,
        record: LockRecordState::Invalid,
        mine: false,
        same_editor,
        holder: readable.map(|record| record.holder),
        expires_in_ms: None,
        problem: Some(problem),
    }
}

fn problem(field: &str, rule: impl Into<String>) -> LockProblem {
    LockProblem {
        field: field.to_owned(),
        rule: rule.into(),
    }
}

impl LockRecord {
    /// Reads the record's fields, or says which one is at fault.
    fn parse(text: &str) -> Result<Self, LockProblem> {
        Self::read(text).map_err(|err| match err {
            LeaseError::InvalidDocument { field, rule } => LockProblem { field, rule },
            other => problem("$", other.to_string()),
        })
    }

    fn read(text: &str) -> Result<Self, LeaseError> {
        let document = parse_document(text)?;
        let fields = Fields::of(&document, "$")?;
        let text_field = |name: &str, limit: usize| -> Result<String, LeaseError> {
            let value = fields.text(name)?;
            id_rule(value, limit).map_err(|rule| fields.error(name, rule))?;
            Ok(value.to_owned())
        };
        let optional_text = |name: &str, limit: usize| match fields.optional(name) {
            Some(_) => text_field(name, limit).map(Some),
            None => Ok(None),
        };

        let editor_id = text_field("editor_id", MAX_ID_CHARS)?;
        let browser_instance_id = text_field("browser_instance_id", MAX_ID_CHARS)?;
        let heartbeat_at = fields.instant("heartbeat_at")?;
        let target = optional_text("target", MAX_TARGET_CHARS)?;
        let lease_id = optional_text("lease_id", MAX_ID_CHARS)?;
        let revision = optional_text("revision", MAX_ID_CHARS)?;
        let released = match fields.optional("released") {
            Some(Value::Bool(flag)) => *flag,
            Some(other) => {
                let rule = format!("must be true or false, not {}", kind_of(other));
                return Err(fields.error("released", rule));
            }
            None => false,
        };

        let expires_at = heartbeat_at
            .offset("expires_at", LEASE_MS)
            .map_err(|_| fields.error("heartbeat_at", "must leave room for the 180 s lease"))?;
        let holder = LockHolder {
            editor_id,
            browser_instance_id,
            target,
            revision,
            heartbeat_at,
            expires_at,
        };
        Ok(Self {
            holder,
            lease_id,
            released,
        })
    }

    /// Whether this record names the caller: its editor, its browser instance, and its lease
    /// id when the caller gives one.
    fn names(&self, question: &LockQuestion) -> bool {
        let same_instance = self.holder.editor_id == question.editor_id
            && self.holder.browser_instance_id == question.browser_instance_id;
        let same_lease = match (&question.lease_id, &self.lease_id) {
            (None, _) => true,
            (Some(asked), Some(recorded)) => {
                bool::from(asked.as_bytes().ct_eq(recorded.as_bytes()))
            }
            (Some(_), None) => false,
        };
        same_instance && same_lease
    }

    /// Whether the caller's last write is no longer the record's revision.
    fn changed_for(&self, question: &LockQuestion) -> bool {
        match &question.last_revision {
            Some(written) => self.holder.revision.as_ref() != Some(written),
            None => false,
        }
    }
}

/// The rule of an id-like text: 1 to `limit` characters, none of them a control character.
fn id_rule(value: &str, limit: usize) -> Result<(), String> {
    let length = value.chars().count();
    if length == 0 || length > limit || value.chars().any(char::is_control) {
        return Err(format!(
            "must be 1 to {limit} characters without control characters"
        ));
    }
    Ok(())
}
