//! The lease service's JSON answers, read and checked before a client relies on them.
//!
//! A browser worker or a script learns its lease from the service's grant (`POST .../lock`,
//! `POST .../heartbeat`) and anyone's lease from the status view (`GET .../lock`). Between the
//! two sit proxies, caches and servers of other versions, so a client must not trust the shape
//! of what arrives: this module checks every field it uses and names the first one at fault in a
//! [`LeaseError::InvalidDocument`]. It also turns the answers into the [`LeaseTiming`] that
//! [`crate::predict()`] needs, so the countdown a client shows follows the same numbers the
//! server judges by.
//!
//! Text is bounded before it is parsed ([`MAX_DOCUMENT_BYTES`], [`MAX_DEPTH`]): a hostile answer
//! costs at most a fixed amount of memory and stack. Fields the service may add later are
//! ignored, so an older client keeps working against a newer server.
//!
//! Times are ISO 8601 / RFC 3339 text (the service writes UTC with milliseconds and `Z`); any
//! offset is accepted and converted, digits beyond the millisecond are dropped.

use std::fmt;

use chrono::DateTime;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::LeaseError;
use crate::ident::{Owner, ResourceId, SessionId};
use crate::predict::LeaseTiming;
use crate::record::{EndReason, LeaseRecord};
use crate::rules::PreviousLease;
use crate::terms::LeaseTerms;
use crate::time::{UnixMillis, MAX_SAFE_INTEGER};
use crate::token::TokenDigest;

/// Largest JSON document accepted, in bytes: the service's own request limit, 64 KiB.
pub const MAX_DOCUMENT_BYTES: usize = 65_536;

/// Deepest nesting of arrays and objects accepted in a JSON document.
pub const MAX_DEPTH: usize = 16;

/// Parses JSON text after checking its size and nesting depth.
///
/// ```
/// use leasekit_core::wire::parse_document;
///
/// assert!(parse_document(r#"{"held": false}"#).is_ok());
/// let deep = "[".repeat(100) + &"]".repeat(100);
/// let err = parse_document(&deep).unwrap_err();
/// assert_eq!(err.code().as_str(), "invalid_document");
/// ```
pub fn parse_document(text: &str) -> Result<Value, LeaseError> {
    check_limits(text)?;
    serde_json::from_str(text)
        .map_err(|err| LeaseError::document("$", format!("must be valid JSON ({err})")))
}

/// Refuses text beyond [`MAX_DOCUMENT_BYTES`] or nested deeper than [`MAX_DEPTH`].
fn check_limits(text: &str) -> Result<(), LeaseError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        let rule = format!(
            "must be at most {MAX_DOCUMENT_BYTES} bytes of JSON, not {} bytes",
            text.len()
        );
        return Err(LeaseError::document("$", rule));
    }
    check_depth(text)
}

/// Refuses text whose arrays and objects nest deeper than [`MAX_DEPTH`], before a parser
/// recurses into it. Brackets inside strings do not count.
fn check_depth(text: &str) -> Result<(), LeaseError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let rule = format!("must nest arrays and objects at most {MAX_DEPTH} deep");
                    return Err(LeaseError::document("$", rule));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Reads a lease record in the flat JSON form (see `core/vectors/README.md`), bounded like any
/// document; a record that breaks the model is an [`LeaseError::InvalidRecord`].
///
/// ```
/// use leasekit_core::wire::{record_from_json, record_to_json};
///
/// let record = record_from_json(r#"{"fence": 4, "state": "vacant"}"#).unwrap();
/// assert_eq!(record.fence(), 4);
/// assert_eq!(record_to_json(&record), r#"{"fence":4,"state":"vacant"}"#);
/// ```
pub fn record_from_json(text: &str) -> Result<LeaseRecord, LeaseError> {
    check_limits(text).map_err(|err| LeaseError::record(err.to_string()))?;
    serde_json::from_str(text).map_err(|err| LeaseError::record(err.to_string()))
}

/// Writes a lease record in the flat JSON form, as a store keeps it.
#[must_use]
pub fn record_to_json(record: &LeaseRecord) -> String {
    // A record serialises to an object of strings and integers: this cannot fail.
    serde_json::to_string(record).unwrap_or_default()
}

/// Checks the timing of a lease as a client may hold it: an interval the core accepts and a
/// stale threshold of 2 to 10 intervals.
pub fn lease_timing(
    heartbeat_at: UnixMillis,
    interval_ms: i64,
    stale_after_ms: i64,
) -> Result<LeaseTiming, LeaseError> {
    let terms = terms_from(interval_ms, stale_after_ms, "stale_after_ms")?;
    Ok(LeaseTiming {
        heartbeat_at,
        interval_ms: terms.interval_ms(),
        stale_after_ms: terms.stale_after_ms(),
    })
}

/// The terms whose interval is `interval_ms` and whose threshold is `stale_after_ms`, or an
/// error naming `stale_field` when the threshold is not 2 to 10 whole intervals.
fn terms_from(
    interval_ms: i64,
    stale_after_ms: i64,
    stale_field: &str,
) -> Result<LeaseTerms, LeaseError> {
    LeaseTerms::with_interval(interval_ms)?;

    let whole = stale_after_ms % interval_ms == 0;
    match LeaseTerms::new(interval_ms, stale_after_ms / interval_ms) {
        Ok(terms) if whole => Ok(terms),
        _ => Err(LeaseError::document(
            stale_field,
            format!("must be 2 to 10 whole heartbeat intervals of {interval_ms} ms"),
        )),
    }
}

/// A grant: the service's answer to a successful acquire or heartbeat.
///
/// `lease_id` is the lease's secret token; it is shown to no one but the holder and is left out
/// of this type's `Debug` output. It serialises in the service's shape, with times as UTC
/// milliseconds and the terms in seconds (fractional when they are not whole seconds).
///
/// ```
/// use leasekit_core::wire::Grant;
///
/// let grant = Grant::parse(r#"{
///     "project_id": "apollo", "owner": "alice", "session_id": "tab-1",
///     "lease_id": "s3cret-token", "fence": 7,
///     "acquired_at": "2023-11-14T22:13:20.000Z", "heartbeat_at": "2023-11-14T22:13:20.000Z",
///     "expires_at": "2023-11-14T22:16:20.000Z",
///     "heartbeat_interval_s": 60, "stale_after_s": 180,
///     "server_time": "2023-11-14T22:13:20.015Z", "previous": null
/// }"#).unwrap();
/// assert_eq!(grant.fence, 7);
/// assert_eq!(grant.timing().stale_after_ms, 180_000);
/// assert!(!format!("{grant:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The project leased.
    pub project_id: ResourceId,
    /// The holder: the authenticated caller.
    pub owner: Owner,
    /// The holder's session.
    pub session_id: SessionId,
    /// The lease token: the secret that heartbeat and unlock require.
    pub lease_id: String,
    /// The lease's fence.
    pub fence: u64,
    /// When this holder was granted the lease (server clock).
    pub acquired_at: UnixMillis,
    /// The last heartbeat (server clock).
    pub heartbeat_at: UnixMillis,
    /// The last instant the lease is live: `heartbeat_at + stale_after_s`.
    pub expires_at: UnixMillis,
    /// How often the holder must heartbeat, and after how long it goes stale.
    #[serde(flatten, serialize_with = "terms_in_seconds")]
    pub terms: LeaseTerms,
    /// The server's clock when it answered.
    pub server_time: UnixMillis,
    /// The lease this grant replaced, if any, and how it ended.
    pub previous: Option<PreviousLease>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("project_id", &self.project_id)
            .field("owner", &self.owner)
            .field("session_id", &self.session_id)
            .field("lease_id", &"<secret>")
            .field("fence", &self.fence)
            .field("acquired_at", &self.acquired_at)
            .field("heartbeat_at", &self.heartbeat_at)
            .field("expires_at", &self.expires_at)
            .field("terms", &self.terms)
            .field("server_time", &self.server_time)
            .field("previous", &self.previous)
            .finish()
    }
}

impl Grant {
    /// Parses and checks a grant document.
    pub fn parse(text: &str) -> Result<Self, LeaseError> {
        Self::from_value(&parse_document(text)?)
    }

    /// Checks a grant already parsed as JSON, field by field in the order the service writes
    /// them.
    pub fn from_value(document: &Value) -> Result<Self, LeaseError> {
        let fields = Fields::of(document, "$")?;
        let project_id = fields.project_id()?;
        let owner = fields.owner("owner")?;
        let session_id = fields.session_id("session_id")?;
        let lease_id = fields.text("lease_id")?;
        TokenDigest::of_token(lease_id)
            .map_err(|_| fields.error("lease_id", "must be 1 to 256 visible ASCII characters"))?;

        let fence = fields.fence("fence", 1)?;
        let acquired_at = fields.instant("acquired_at")?;
        let heartbeat_at = fields.instant("heartbeat_at")?;
        let expires_at = fields.instant("expires_at")?;
        let interval_ms = fields.seconds_as_ms("heartbeat_interval_s")?;
        let stale = Threshold {
            ms: fields.seconds_as_ms("stale_after_s")?,
            field: "stale_after_s",
        };
        let terms = checked_terms(&fields, interval_ms, &stale, heartbeat_at, expires_at)?;
        Ok(Self {
            project_id,
            owner,
            session_id,
            lease_id: lease_id.to_owned(),
            fence,
            acquired_at,
            heartbeat_at,
            expires_at,
            terms,
            server_time: fields.instant("server_time")?,
            previous: fields.previous()?,
        })
    }

    /// The timing of this lease, for [`crate::predict()`].
    #[must_use]
    pub fn timing(&self) -> LeaseTiming {
        LeaseTiming {
            heartbeat_at: self.heartbeat_at,
            interval_ms: self.terms.interval_ms(),
            stale_after_ms: self.terms.stale_after_ms(),
        }
    }
}

/// The holder part of a status view, present when the project is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusHolder {
    /// The holder's principal.
    pub owner: Owner,
    /// The holder's session.
    pub session_id: SessionId,
    /// When this holder was granted the lease.
    pub acquired_at: UnixMillis,
    /// The last heartbeat.
    pub heartbeat_at: UnixMillis,
    /// The last instant the lease is live.
    pub expires_at: UnixMillis,
    /// The interval, and the threshold: `expires_at - heartbeat_at` unless the view states it.
    pub terms: LeaseTerms,
    /// Whether the server judged the lease stale at `server_time`.
    pub stale: bool,
}

/// The public view of a project's lock, as `GET .../lock` returns it (and as the `lock` of a
/// 409 refusal holds it). It never holds a token.
///
/// ```
/// use leasekit_core::wire::LockStatus;
///
/// let free = LockStatus::parse(r#"{
///     "project_id": "apollo", "held": false, "owner": null, "session_id": null, "fence": 3,
///     "acquired_at": null, "heartbeat_at": null, "expires_at": null,
///     "heartbeat_interval_s": null, "stale": false, "server_time": "2023-11-14T22:13:20.000Z"
/// }"#).unwrap();
/// assert!(free.holder.is_none());
/// assert_eq!(free.fence, 3);
/// assert!(free.timing().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "StatusDoc")]
pub struct LockStatus {
    /// The project.
    pub project_id: ResourceId,
    /// The last fence handed out, 0 if never locked.
    pub fence: u64,
    /// The current holder, live or stale, or `None` when free.
    pub holder: Option<StatusHolder>,
    /// The server's clock when it answered.
    pub server_time: UnixMillis,
}

/// The fields that a status view holds only while the project is held.
const HOLDER_FIELDS: &[&str] = &[
    "owner",
    "session_id",
    "acquired_at",
    "heartbeat_at",
    "expires_at",
    "heartbeat_interval_s",
    "stale_after_s",
];

impl LockStatus {
    /// Parses and checks a status document.
    pub fn parse(text: &str) -> Result<Self, LeaseError> {
        Self::from_value(&parse_document(text)?)
    }

    /// Checks a status view already parsed as JSON.
    pub fn from_value(document: &Value) -> Result<Self, LeaseError> {
        let fields = Fields::of(document, "$")?;
        let project_id = fields.project_id()?;
        let held = fields.flag("held")?;
        let holder = if held {
            Some(Self::holder(&fields)?)
        } else {
            Self::check_free(&fields)?;
            None
        };

        let minimum_fence = u64::from(held);
        Ok(Self {
            project_id,
            fence: fields.fence("fence", minimum_fence)?,
            holder,
            server_time: fields.instant("server_time")?,
        })
    }

    /// A free view names no holder; its `stale` is `false` (as the service writes it) or null.
    fn check_free(fields: &Fields<'_>) -> Result<(), LeaseError> {
        let present = HOLDER_FIELDS
            .iter()
            .find(|name| fields.optional(name).is_some());
        if let Some(name) = present {
            return Err(fields.error(name, "must be null when held is false"));
        }
        if fields.optional("stale").is_some() && fields.flag("stale")? {
            return Err(fields.error("stale", "must be false or null when held is false"));
        }
        Ok(())
    }

    fn holder(fields: &Fields<'_>) -> Result<StatusHolder, LeaseError> {
        let owner = fields.owner("owner")?;
        let session_id = fields.session_id("session_id")?;
        let acquired_at = fields.instant("acquired_at")?;
        let heartbeat_at = fields.instant("heartbeat_at")?;
        let expires_at = fields.instant("expires_at")?;
        let interval_ms = fields.seconds_as_ms("heartbeat_interval_s")?;
        // The view may state the threshold; otherwise it is the span from heartbeat to expiry.
        let stale = if fields.optional("stale_after_s").is_some() {
            Threshold {
                ms: fields.seconds_as_ms("stale_after_s")?,
                field: "stale_after_s",
            }
        } else {
            Threshold {
                ms: expires_at.as_millis() - heartbeat_at.as_millis(),
                field: "expires_at",
            }
        };

        let terms = checked_terms(fields, interval_ms, &stale, heartbeat_at, expires_at)?;
        Ok(StatusHolder {
            owner,
            session_id,
            acquired_at,
            heartbeat_at,
            expires_at,
            terms,
            stale: fields.flag("stale")?,
        })
    }

    /// The timing of the current lease, for [`crate::predict()`], or `None` when free.
    #[must_use]
    pub fn timing(&self) -> Option<LeaseTiming> {
        self.holder.as_ref().map(|holder| LeaseTiming {
            heartbeat_at: holder.heartbeat_at,
            interval_ms: holder.terms.interval_ms(),
            stale_after_ms: holder.terms.stale_after_ms(),
        })
    }
}

/// The flat form of a [`LockStatus`], as the service writes it (times as UTC milliseconds),
/// with the derived `stale_after_s`.
#[derive(Serialize)]
struct StatusDoc {
    project_id: ResourceId,
    held: bool,
    owner: Option<Owner>,
    session_id: Option<SessionId>,
    fence: u64,
    acquired_at: Option<UnixMillis>,
    heartbeat_at: Option<UnixMillis>,
    expires_at: Option<UnixMillis>,
    heartbeat_interval_s: Option<Seconds>,
    stale_after_s: Option<Seconds>,
    stale: bool,
    server_time: UnixMillis,
}

impl From<LockStatus> for StatusDoc {
    fn from(status: LockStatus) -> Self {
        let holder = status.holder.as_ref();
        Self {
            held: holder.is_some(),
            owner: holder.map(|holder| holder.owner.clone()),
            session_id: holder.map(|holder| holder.session_id.clone()),
            acquired_at: holder.map(|holder| holder.acquired_at),
            heartbeat_at: holder.map(|holder| holder.heartbeat_at),
            expires_at: holder.map(|holder| holder.expires_at),
            heartbeat_interval_s: holder.map(|holder| Seconds(holder.terms.interval_ms())),
            stale_after_s: holder.map(|holder| Seconds(holder.terms.stale_after_ms())),
            stale: holder.is_some_and(|holder| holder.stale),
            project_id: status.project_id,
            fence: status.fence,
            server_time: status.server_time,
        }
    }
}

/// A span of milliseconds written as seconds, the service's unit: a whole number when it is
/// one, as `1.5` otherwise.
#[derive(Clone, Copy)]
struct Seconds(i64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            serializer.serialize_i64(self.0 / 1000)
        } else {
            serializer.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

/// Writes terms as the service does: `heartbeat_interval_s` and `stale_after_s`.
fn terms_in_seconds<S: Serializer>(terms: &LeaseTerms, serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(2))?;
    map.serialize_entry("heartbeat_interval_s", &Seconds(terms.interval_ms()))?;
    map.serialize_entry("stale_after_s", &Seconds(terms.stale_after_ms()))?;
    map.end()
}

/// A stale threshold in milliseconds, and the field it was read or derived from.
struct Threshold {
    ms: i64,
    field: &'static str,
}

/// Checks the interval and the threshold of a grant or status view, and that `expires_at` is
/// the last heartbeat plus the threshold, as the server computes it.
fn checked_terms(
    fields: &Fields<'_>,
    interval_ms: i64,
    stale: &Threshold,
    heartbeat_at: UnixMillis,
    expires_at: UnixMillis,
) -> Result<LeaseTerms, LeaseError> {
    let terms = terms_from(interval_ms, stale.ms, stale.field).map_err(|err| match err {
        LeaseError::InvalidInterval { .. } => {
            fields.error("heartbeat_interval_s", "must be from 1 to 86400 seconds")
        }
        other => other,
    })?;

    let computed = heartbeat_at.offset("expires_at", terms.stale_after_ms());
    if computed.ok() != Some(expires_at) {
        let rule = "must be heartbeat_at plus stale_after_s (2 to 10 heartbeat intervals)";
        return Err(fields.error("expires_at", rule));
    }
    Ok(terms)
}

/// The fields of one JSON object, read with errors that name them by their path.
pub(crate) struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a> {
    /// The fields of `value`, which must be an object; `path` names it (`$` for the root).
    pub(crate) fn of(value: &'a Value, path: &'a str) -> Result<Self, LeaseError> {
        match value {
            Value::Object(object) => Ok(Self { object, path }),
            other => Err(LeaseError::document(
                path,
                format!("must be a JSON object, not {}", kind_of(other)),
            )),
        }
    }

    /// The error for field `name` breaking `rule`.
    pub(crate) fn error(&self, name: &str, rule: impl Into<String>) -> LeaseError {
        let path = if self.path == "$" {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        };
        LeaseError::document(path, rule)
    }

    /// The value of `name`, or `None` when it is absent or `null`.
    pub(crate) fn optional(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|value| !value.is_null())
    }

    /// The value of `name`, which must be present and not `null`.
    pub(crate) fn required(&self, name: &str) -> Result<&'a Value, LeaseError> {
        self.optional(name)
            .ok_or_else(|| self.error(name, "is required"))
    }

    /// The string `name`.
    pub(crate) fn text(&self, name: &str) -> Result<&'a str, LeaseError> {
        let value = self.required(name)?;
        value
            .as_str()
            .ok_or_else(|| self.mistyped(name, "a string", value))
    }

    /// The boolean `name`.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, LeaseError> {
        let value = self.required(name)?;
        value
            .as_bool()
            .ok_or_else(|| self.mistyped(name, "true or false", value))
    }

    /// The RFC 3339 time `name`, to the millisecond.
    pub(crate) fn instant(&self, name: &str) -> Result<UnixMillis, LeaseError> {
        let text = self.text(name)?;
        let rule = "must be an RFC 3339 time such as 2023-11-14T22:13:20.000Z";
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| self.error(name, rule))?;
        UnixMillis::new(parsed.timestamp_millis()).map_err(|_| {
            self.error(
                name,
                "must lie within the years a millisecond timestamp can hold",
            )
        })
    }

    fn mistyped(&self, name: &str, expected: &str, value: &Value) -> LeaseError {
        self.error(name, format!("must be {expected}, not {}", kind_of(value)))
    }

    fn whole(&self, name: &str, minimum: i64, maximum: i64) -> Result<i64, LeaseError> {
        let value = self.required(name)?;
        let rule = || format!("must be a whole number from {minimum} to {maximum}");
        let number = value.as_i64().ok_or_else(|| self.error(name, rule()))?;
        if !(minimum..=maximum).contains(&number) {
            return Err(self.error(name, rule()));
        }
        Ok(number)
    }

    /// A number of seconds (whole, or fractional to the millisecond, as the service writes
    /// intervals that are not whole seconds) as milliseconds.
    fn seconds_as_ms(&self, name: &str) -> Result<i64, LeaseError> {
        let value = self.required(name)?;
        let rule = "must be a positive number of seconds, to the millisecond";
        if let Some(seconds) = value.as_i64() {
            let ms = seconds
                .checked_mul(1000)
                .filter(|ms| (1..=MAX_SAFE_INTEGER).contains(ms));
            return ms.ok_or_else(|| self.error(name, rule));
        }

        let ms = value.as_f64().map_or(f64::NAN, |seconds| seconds * 1000.0);
        let whole_ms = ms.round();
        let exact = (ms - whole_ms).abs() < 1e-6;
        if !exact || !(1.0..=MAX_SAFE_INTEGER as f64).contains(&whole_ms) {
            return Err(self.error(name, rule));
        }
        Ok(whole_ms as i64)
    }

    fn fence(&self, name: &str, minimum: u64) -> Result<u64, LeaseError> {
        let fence = self.whole(name, minimum as i64, MAX_SAFE_INTEGER)?;
        Ok(fence.unsigned_abs())
    }

    fn project_id(&self) -> Result<ResourceId, LeaseError> {
        let text = self.text("project_id")?;
        ResourceId::for_field("project_id", text)
            .map_err(|_| self.error("project_id", "must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"))
    }

    fn owner(&self, name: &str) -> Result<Owner, LeaseError> {
        Owner::new(self.text(name)?)
            .map_err(|_| self.error(name, "must be 1 to 128 printable characters"))
    }

    fn session_id(&self, name: &str) -> Result<SessionId, LeaseError> {
        SessionId::new(self.text(name)?)
            .map_err(|_| self.error(name, "must be 1 to 128 characters of [A-Za-z0-9_.:-]"))
    }

    fn previous(&self) -> Result<Option<PreviousLease>, LeaseError> {
        let Some(value) = self.optional("previous") else {
            return Ok(None);
        };

        let previous = Fields::of(value, "previous")?;
        let ended = EndReason::parse(previous.text("ended")?).map_err(|_| {
            previous.error("ended", "must be released, expired, taken_over or forced")
        })?;
        Ok(Some(PreviousLease {
            holder: crate::ident::Holder {
                owner: previous.owner("owner")?,
                session_id: previous.session_id("session_id")?,
            },
            fence: previous.fence("fence", 1)?,
            ended,
        }))
    }
}

/// The JSON type of `value`, for error messages (the value itself may be huge or secret).
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
