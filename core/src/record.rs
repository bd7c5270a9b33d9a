//! What is stored for one resource, and the public views of it.
//!
//! A [`LeaseRecord`] is the whole state of one resource: the last fence handed out and the
//! current or last lease. Records are built through validating constructors, including when
//! they are reloaded from storage or from a JSON document, so no rule ever runs on a record that
//! breaks the model (a held lease with fence 0, a fence beyond 2^53 - 1, an expiry that
//! overflows).

use serde::{Deserialize, Serialize};

use crate::error::LeaseError;
use crate::ident::{Holder, Owner, SessionId};
use crate::terms::LeaseTerms;
use crate::time::{UnixMillis, MAX_SAFE_INTEGER};
use crate::token::TokenDigest;

/// Why a lease ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Its holder released it.
    Released,
    /// It went stale and was ended by a sweep or by the next acquirer.
    Expired,
    /// Another session of the same owner took it over.
    TakenOver,
    /// Another owner forced it (an administrator's act).
    Forced,
}

impl EndReason {
    /// The `snake_case` name, as stored and sent.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::Expired => "expired",
            Self::TakenOver => "taken_over",
            Self::Forced => "forced",
        }
    }

    /// Parses the `snake_case` name.
    pub fn parse(text: &str) -> Result<Self, LeaseError> {
        match text {
            "released" => Ok(Self::Released),
            "expired" => Ok(Self::Expired),
            "taken_over" => Ok(Self::TakenOver),
            "forced" => Ok(Self::Forced),
            other => Err(LeaseError::record(format!(
                "end_reason {other:?} must be released, expired, taken_over or forced"
            ))),
        }
    }
}

/// One grant of a resource to a holder: who, with which token, on what terms, since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    holder: Holder,
    token_digest: TokenDigest,
    terms: LeaseTerms,
    acquired_at: UnixMillis,
    heartbeat_at: UnixMillis,
    expires_at: UnixMillis,
}

impl Lease {
    /// Builds a lease, refusing one whose expiry (`heartbeat_at + stale_after`) leaves the range.
    pub fn new(
        holder: Holder,
        token_digest: TokenDigest,
        terms: LeaseTerms,
        acquired_at: UnixMillis,
        heartbeat_at: UnixMillis,
    ) -> Result<Self, LeaseError> {
        let expires_at = heartbeat_at.offset("expires_at", terms.stale_after_ms())?;
        Ok(Self {
            holder,
            token_digest,
            terms,
            acquired_at,
            heartbeat_at,
            expires_at,
        })
    }

    /// The holder.
    #[must_use]
    pub const fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The digest of the holder's token.
    #[must_use]
    pub const fn token_digest(&self) -> &TokenDigest {
        &self.token_digest
    }

    /// The heartbeat interval and stale threshold.
    #[must_use]
    pub const fn terms(&self) -> LeaseTerms {
        self.terms
    }

    /// When this holder was granted the lease.
    #[must_use]
    pub const fn acquired_at(&self) -> UnixMillis {
        self.acquired_at
    }

    /// The last heartbeat (or the grant).
    #[must_use]
    pub const fn heartbeat_at(&self) -> UnixMillis {
        self.heartbeat_at
    }

    /// The last instant at which the lease is live: `heartbeat_at + stale_after`.
    #[must_use]
    pub const fn expires_at(&self) -> UnixMillis {
        self.expires_at
    }

    /// Rule 1: stale once more than `stale_after` has passed since the last heartbeat. A
    /// heartbeat stamped after `now` counts as stamped `now`.
    #[must_use]
    pub fn is_stale(&self, now: UnixMillis) -> bool {
        now.elapsed_since(self.heartbeat_at) > self.terms.stale_after_ms()
    }

    /// The public view of this lease under `fence` at `now`: everything but the token.
    #[must_use]
    pub fn view(&self, fence: u64, now: UnixMillis) -> HolderView {
        HolderView {
            owner: self.holder.owner.clone(),
            session_id: self.holder.session_id.clone(),
            fence,
            acquired_at: self.acquired_at,
            heartbeat_at: self.heartbeat_at,
            expires_at: self.expires_at,
            interval_ms: self.terms.interval_ms(),
            stale_after_ms: self.terms.stale_after_ms(),
            stale: self.is_stale(now),
        }
    }
}

/// Where a resource stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// Never granted, or pruned back to its fence alone.
    Vacant,
    /// Granted; live or stale depending on the time it is judged at.
    Held(Lease),
    /// Ended; the tombstone keeps the last holder and why it ended.
    Ended {
        /// The lease that ended.
        lease: Lease,
        /// Why it ended.
        reason: EndReason,
        /// When it was ended.
        ended_at: UnixMillis,
    },
}

/// The whole state of one resource: its last fence and its current or last lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RecordDoc", into = "RecordDoc")]
pub struct LeaseRecord {
    fence: u64,
    state: LeaseState,
}

impl LeaseRecord {
    /// A resource never leased: fence 0.
    #[must_use]
    pub const fn vacant() -> Self {
        Self {
            fence: 0,
            state: LeaseState::Vacant,
        }
    }

    /// Builds a record, checking its fence against its state.
    pub fn new(fence: u64, state: LeaseState) -> Result<Self, LeaseError> {
        if fence > MAX_SAFE_INTEGER as u64 {
            return Err(LeaseError::FenceOutOfRange {
                value: fence.to_string(),
            });
        }
        if fence == 0 && !matches!(state, LeaseState::Vacant) {
            return Err(LeaseError::record(
                "a held or released record must have fence >= 1",
            ));
        }
        Ok(Self { fence, state })
    }

    /// The last fence handed out for this resource (0 if never leased).
    #[must_use]
    pub const fn fence(&self) -> u64 {
        self.fence
    }

    /// The current or last lease.
    #[must_use]
    pub const fn state(&self) -> &LeaseState {
        &self.state
    }

    /// The current lease, live or stale, if one is held.
    #[must_use]
    pub const fn held(&self) -> Option<&Lease> {
        match &self.state {
            LeaseState::Held(lease) => Some(lease),
            _ => None,
        }
    }

    /// The lease that is live at `now`, if any.
    #[must_use]
    pub fn live(&self, now: UnixMillis) -> Option<&Lease> {
        self.held().filter(|lease| !lease.is_stale(now))
    }

    /// What anyone may see of this resource at `now`.
    #[must_use]
    pub fn view(&self, now: UnixMillis) -> LeaseView {
        let current = self.held().map(|lease| lease.view(self.fence, now));
        let last_ended = match &self.state {
            LeaseState::Ended {
                lease,
                reason,
                ended_at,
            } => Some(EndedView {
                owner: lease.holder.owner.clone(),
                session_id: lease.holder.session_id.clone(),
                fence: self.fence,
                reason: *reason,
                ended_at: *ended_at,
            }),
            _ => None,
        };
        LeaseView {
            fence: self.fence,
            current,
            last_ended,
        }
    }
}

impl Default for LeaseRecord {
    fn default() -> Self {
        Self::vacant()
    }
}

/// The public view of a held lease: everything but the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderView {
    /// The holder's principal.
    pub owner: Owner,
    /// The holder's session.
    pub session_id: SessionId,
    /// The fence of this lease.
    pub fence: u64,
    /// When this holder was granted the lease.
    pub acquired_at: UnixMillis,
    /// The last heartbeat.
    pub heartbeat_at: UnixMillis,
    /// The last instant the lease is live.
    pub expires_at: UnixMillis,
    /// The heartbeat interval.
    pub interval_ms: i64,
    /// The stale threshold.
    pub stale_after_ms: i64,
    /// Whether the lease was stale at the instant of the view.
    pub stale: bool,
}

/// The public view of a lease that ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedView {
    /// The last holder's principal.
    pub owner: Owner,
    /// The last holder's session.
    pub session_id: SessionId,
    /// The fence of the ended lease.
    pub fence: u64,
    /// Why it ended.
    pub reason: EndReason,
    /// When it ended.
    pub ended_at: UnixMillis,
}

/// The public view of a resource: its last fence, its holder if held, its last end if ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    /// The last fence handed out (0 if never leased).
    pub fence: u64,
    /// The current holder, live or stale.
    pub current: Option<HolderView>,
    /// The last lease, when the resource is not held.
    pub last_ended: Option<EndedView>,
}

/// The flat JSON form of a [`LeaseRecord`], as the conformance vectors and bindings write it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordDoc {
    fence: u64,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_digest: Option<TokenDigest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    beats: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acquired_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    heartbeat_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_reason: Option<EndReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended_at: Option<i64>,
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, LeaseError> {
    value.ok_or_else(|| LeaseError::record(format!("{field} is required for this state")))
}

impl RecordDoc {
    fn lease(&self) -> Result<Lease, LeaseError> {
        let holder = Holder {
            owner: Owner::new(required(self.owner.clone(), "owner")?)?,
            session_id: SessionId::new(required(self.session_id.clone(), "session_id")?)?,
        };
        let terms = LeaseTerms::new(
            required(self.interval_ms, "interval_ms")?,
            required(self.beats, "beats")?,
        )?;
        Lease::new(
            holder,
            required(self.token_digest, "token_digest")?,
            terms,
            UnixMillis::for_field("acquired_at", required(self.acquired_at, "acquired_at")?)?,
            UnixMillis::for_field("heartbeat_at", required(self.heartbeat_at, "heartbeat_at")?)?,
        )
    }
}

impl TryFrom<RecordDoc> for LeaseRecord {
    type Error = LeaseError;

    fn try_from(doc: RecordDoc) -> Result<Self, LeaseError> {
        let state = match doc.state.as_str() {
            "vacant" => LeaseState::Vacant,
            "held" => LeaseState::Held(doc.lease()?),
            "released" => LeaseState::Ended {
                lease: doc.lease()?,
                reason: required(doc.end_reason, "end_reason")?,
                ended_at: UnixMillis::for_field("ended_at", required(doc.ended_at, "ended_at")?)?,
            },
            other => {
                return Err(LeaseError::record(format!(
                    "state {other:?} must be vacant, held or released"
                )))
            }
        };
        Self::new(doc.fence, state)
    }
}

impl From<LeaseRecord> for RecordDoc {
    fn from(record: LeaseRecord) -> Self {
        let fill = |doc: &mut Self, lease: &Lease| {
            doc.owner = Some(lease.holder.owner.to_string());
            doc.session_id = Some(lease.holder.session_id.to_string());
            doc.token_digest = Some(lease.token_digest);
            doc.interval_ms = Some(lease.terms.interval_ms());
            doc.beats = Some(lease.terms.beats());
            doc.acquired_at = Some(lease.acquired_at.as_millis());
            doc.heartbeat_at = Some(lease.heartbeat_at.as_millis());
        };
        let mut doc = Self {
            fence: record.fence,
            ..Self::default()
        };
        match &record.state {
            LeaseState::Vacant => doc.state = "vacant".into(),
            LeaseState::Held(lease) => {
                doc.state = "held".into();
                fill(&mut doc, lease);
            }
            LeaseState::Ended {
                lease,
                reason,
                ended_at,
            } => {
                doc.state = "released".into();
                fill(&mut doc, lease);
                doc.end_reason = Some(*reason);
                doc.ended_at = Some(ended_at.as_millis());
            }
        }
        doc
    }
}
