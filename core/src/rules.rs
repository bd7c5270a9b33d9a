//! The lease rules: pure functions from a record, a request and an instant to a decision.
//!
//! Each function reads a [`LeaseRecord`] and returns a [`Decision`]: the outcome, the record to
//! store if anything changed, and the audit events of the change. Nothing here reads a clock,
//! draws a random number or touches storage; the caller supplies `now` and, for a grant, the
//! digest of the token it generated. A refusal is an ordinary outcome whose `next` is `None`, so
//! "a refused operation changes nothing" holds by construction.

use serde::Serialize;

use crate::error::{ErrorCode, LeaseError};
use crate::ident::{Holder, Owner};
use crate::record::{EndReason, HolderView, Lease, LeaseRecord, LeaseState};
use crate::terms::LeaseTerms;
use crate::time::{UnixMillis, MAX_SAFE_INTEGER};
use crate::token::TokenDigest;

/// What the caller asks of an acquire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquireRequest {
    /// Who asks: the authenticated owner and its session.
    pub holder: Holder,
    /// Interval and stale threshold for the lease.
    pub terms: LeaseTerms,
    /// Take over a live lease of the same owner held by another session.
    pub takeover: bool,
    /// Take a live lease from another owner (the bindings allow it only for administrators).
    pub force: bool,
    /// The digest of the token the caller will hand out if this grants.
    pub token_digest: TokenDigest,
}

/// The result of applying one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<T> {
    /// What happened, refusals included.
    pub outcome: T,
    /// The record to store, or `None` when nothing changed.
    pub next: Option<LeaseRecord>,
    /// The transitions to append to the audit log, oldest first.
    pub events: Vec<LeaseEvent>,
}

impl<T> Decision<T> {
    fn unchanged(outcome: T) -> Self {
        Self {
            outcome,
            next: None,
            events: Vec::new(),
        }
    }
}

/// The previous lease named by a grant, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviousLease {
    /// The previous holder.
    #[serde(flatten)]
    pub holder: Holder,
    /// Its fence.
    pub fence: u64,
    /// How its lease ended.
    pub ended: EndReason,
}

/// The answer to an acquire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AcquireOutcome {
    /// A new lease with a new fence (rules 2, 4 and 5).
    Granted {
        /// The new lease.
        lease: HolderView,
        /// The lease it replaced, if there was one.
        previous: Option<PreviousLease>,
    },
    /// The caller's own live lease, renewed with a fresh token and the same fence (rule 3).
    Renewed {
        /// The renewed lease.
        lease: HolderView,
    },
    /// Refused: a live lease of someone else holds the resource (rules 4 and 5).
    Busy {
        /// The current holder.
        holder: HolderView,
        /// Whether the holder is the caller's own owner in another session.
        same_owner: bool,
    },
}

/// The answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeartbeatOutcome {
    /// The lease is live and now stamped `heartbeat_at = now` (rule 6).
    Renewed {
        /// The refreshed lease.
        lease: HolderView,
    },
    /// Refused: the token's lease went stale; it is not revived (rule 7).
    Expired {
        /// The stale lease.
        lease: HolderView,
    },
    /// Refused: the token is not the current lease (rule 8).
    Lost {
        /// The current holder, live or stale, if any.
        current: Option<HolderView>,
    },
}

/// The answer to a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// The current lease, live or stale, is released (rule 9).
    Released {
        /// The lease as it stood when released.
        lease: HolderView,
    },
    /// The token's lease had already ended; nothing changed (rule 9).
    AlreadyReleased {
        /// The resource's fence.
        fence: u64,
        /// How the token's lease ended.
        reason: EndReason,
    },
    /// Refused: the token is not the current lease (rule 8).
    Lost {
        /// The current holder, live or stale, if any.
        current: Option<HolderView>,
    },
}

/// The answer to a sweep of one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SweepOutcome {
    /// A stale lease, now ended as expired (rule 10).
    Expired {
        /// The lease as it stood when it was ended.
        lease: HolderView,
    },
    /// Nothing stale to end.
    Untouched,
}

/// The kind of a transition in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A grant on a free, released or stale resource.
    Acquired,
    /// A live lease renewed by its own holder's repeated acquire.
    Renewed,
    /// A grant that ended a live lease of the same owner's other session.
    TakenOver,
    /// A grant that ended another owner's live lease.
    Forced,
    /// A release by the holder.
    Released,
    /// A stale lease ended by a sweep or by the next acquirer.
    Expired,
}

impl EventKind {
    /// The `snake_case` name, as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Acquired => "acquired",
            Self::Renewed => "renewed",
            Self::TakenOver => "taken_over",
            Self::Forced => "forced",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }
}

/// One transition: the holder and fence it concerns, when, and who caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaseEvent {
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: UnixMillis,
    /// The holder of the lease concerned (the new holder for a grant).
    #[serde(flatten)]
    pub holder: Holder,
    /// The fence of the lease concerned.
    pub fence: u64,
    /// The owner who caused it, or `None` for the sweeper.
    pub actor: Option<Owner>,
}

impl AcquireOutcome {
    /// The refusal code, or `None` for a grant or renewal.
    #[must_use]
    pub const fn refusal(&self) -> Option<ErrorCode> {
        match self {
            Self::Busy { .. } => Some(ErrorCode::LeaseHeld),
            _ => None,
        }
    }
}

impl HeartbeatOutcome {
    /// The refusal code, or `None` for a renewal.
    #[must_use]
    pub const fn refusal(&self) -> Option<ErrorCode> {
        match self {
            Self::Renewed { .. } => None,
            Self::Expired { .. } => Some(ErrorCode::LeaseExpired),
            Self::Lost { .. } => Some(ErrorCode::LeaseLost),
        }
    }
}

impl ReleaseOutcome {
    /// The refusal code, or `None` for a release.
    #[must_use]
    pub const fn refusal(&self) -> Option<ErrorCode> {
        match self {
            Self::Released { .. } => None,
            Self::AlreadyReleased { .. } => Some(ErrorCode::AlreadyReleased),
            Self::Lost { .. } => Some(ErrorCode::LeaseLost),
        }
    }
}

/// Acquire: rules 2 to 5.
///
/// ```
/// use leasekit_core::{rules, AcquireOutcome, AcquireRequest, Holder, LeaseRecord, LeaseTerms,
///     TokenDigest, UnixMillis};
///
/// let request = AcquireRequest {
///     holder: Holder::new("alice", "tab-1").unwrap(),
///     terms: LeaseTerms::with_interval(60_000).unwrap(),
///     takeover: false,
///     force: false,
///     token_digest: TokenDigest::of_token("token-a").unwrap(),
/// };
/// let now = UnixMillis::new(1_000).unwrap();
/// let decision = rules::acquire(&LeaseRecord::vacant(), &request, now).unwrap();
/// assert!(matches!(decision.outcome, AcquireOutcome::Granted { .. }));
/// assert_eq!(decision.next.unwrap().fence(), 1);
/// ```
pub fn acquire(
    record: &LeaseRecord,
    request: &AcquireRequest,
    now: UnixMillis,
) -> Result<Decision<AcquireOutcome>, LeaseError> {
    match record.state() {
        LeaseState::Held(current) if !current.is_stale(now) => {
            acquire_live(record, current, request, now)
        }
        LeaseState::Held(stale) => {
            let previous = previous_lease(stale, record.fence(), EndReason::Expired);
            let expired = event(EventKind::Expired, now, stale, record.fence(), request);
            grant(
                record,
                request,
                now,
                Some(previous),
                EventKind::Acquired,
                vec![expired],
            )
        }
        LeaseState::Ended { lease, reason, .. } => {
            let previous = previous_lease(lease, record.fence(), *reason);
            grant(
                record,
                request,
                now,
                Some(previous),
                EventKind::Acquired,
                Vec::new(),
            )
        }
        LeaseState::Vacant => grant(record, request, now, None, EventKind::Acquired, Vec::new()),
    }
}

fn acquire_live(
    record: &LeaseRecord,
    current: &Lease,
    request: &AcquireRequest,
    now: UnixMillis,
) -> Result<Decision<AcquireOutcome>, LeaseError> {
    let fence = record.fence();
    if current.holder() == &request.holder {
        return renew_by_reacquire(fence, current, request, now);
    }

    let same_owner = current.holder().owner == request.holder.owner;
    let (allowed, reason, kind) = if same_owner {
        (
            request.takeover || request.force,
            EndReason::TakenOver,
            EventKind::TakenOver,
        )
    } else {
        (request.force, EndReason::Forced, EventKind::Forced)
    };
    if !allowed {
        let holder = current.view(fence, now);
        return Ok(Decision::unchanged(AcquireOutcome::Busy {
            holder,
            same_owner,
        }));
    }

    let previous = previous_lease(current, fence, reason);
    grant(record, request, now, Some(previous), kind, Vec::new())
}

fn renew_by_reacquire(
    fence: u64,
    current: &Lease,
    request: &AcquireRequest,
    now: UnixMillis,
) -> Result<Decision<AcquireOutcome>, LeaseError> {
    let renewed = Lease::new(
        request.holder.clone(),
        request.token_digest,
        request.terms,
        current.acquired_at(),
        now,
    )?;
    let lease = renewed.view(fence, now);
    let renewal = event(EventKind::Renewed, now, &renewed, fence, request);
    let next = LeaseRecord::new(fence, LeaseState::Held(renewed))?;
    Ok(Decision {
        outcome: AcquireOutcome::Renewed { lease },
        next: Some(next),
        events: vec![renewal],
    })
}

fn grant(
    record: &LeaseRecord,
    request: &AcquireRequest,
    now: UnixMillis,
    previous: Option<PreviousLease>,
    kind: EventKind,
    mut events: Vec<LeaseEvent>,
) -> Result<Decision<AcquireOutcome>, LeaseError> {
    let fence = next_fence(record.fence())?;
    let lease = Lease::new(
        request.holder.clone(),
        request.token_digest,
        request.terms,
        now,
        now,
    )?;
    events.push(event(kind, now, &lease, fence, request));
    let view = lease.view(fence, now);
    let next = LeaseRecord::new(fence, LeaseState::Held(lease))?;
    let outcome = AcquireOutcome::Granted {
        lease: view,
        previous,
    };
    Ok(Decision {
        outcome,
        next: Some(next),
        events,
    })
}

fn next_fence(fence: u64) -> Result<u64, LeaseError> {
    match fence.checked_add(1) {
        Some(next) if next <= MAX_SAFE_INTEGER as u64 => Ok(next),
        _ => Err(LeaseError::FenceOutOfRange {
            value: format!("{fence} + 1"),
        }),
    }
}

fn previous_lease(lease: &Lease, fence: u64, ended: EndReason) -> PreviousLease {
    PreviousLease {
        holder: lease.holder().clone(),
        fence,
        ended,
    }
}

fn event(
    kind: EventKind,
    at: UnixMillis,
    lease: &Lease,
    fence: u64,
    request: &AcquireRequest,
) -> LeaseEvent {
    let actor = Some(request.holder.owner.clone());
    LeaseEvent {
        kind,
        at,
        holder: lease.holder().clone(),
        fence,
        actor,
    }
}

/// Heartbeat: rules 6 to 8. Only the current token of a live lease moves `heartbeat_at`.
pub fn heartbeat(
    record: &LeaseRecord,
    token_digest: &TokenDigest,
    now: UnixMillis,
) -> Result<Decision<HeartbeatOutcome>, LeaseError> {
    let fence = record.fence();
    match record.state() {
        LeaseState::Held(lease) if lease.token_digest().matches(token_digest) => {
            if lease.is_stale(now) {
                let lease = lease.view(fence, now);
                return Ok(Decision::unchanged(HeartbeatOutcome::Expired { lease }));
            }
            let beaten = Lease::new(
                lease.holder().clone(),
                *lease.token_digest(),
                lease.terms(),
                lease.acquired_at(),
                now,
            )?;
            let view = beaten.view(fence, now);
            let next = LeaseRecord::new(fence, LeaseState::Held(beaten))?;
            let outcome = HeartbeatOutcome::Renewed { lease: view };
            Ok(Decision {
                outcome,
                next: Some(next),
                events: Vec::new(),
            })
        }
        LeaseState::Ended {
            lease,
            reason: EndReason::Expired,
            ..
        } if lease.token_digest().matches(token_digest) => {
            let lease = lease.view(fence, now);
            Ok(Decision::unchanged(HeartbeatOutcome::Expired { lease }))
        }
        _ => Ok(Decision::unchanged(HeartbeatOutcome::Lost {
            current: current_view(record, now),
        })),
    }
}

/// Release: rules 8 and 9. Releasing twice is safe; a stranger's token changes nothing.
pub fn release(
    record: &LeaseRecord,
    token_digest: &TokenDigest,
    now: UnixMillis,
) -> Result<Decision<ReleaseOutcome>, LeaseError> {
    let fence = record.fence();
    match record.state() {
        LeaseState::Held(lease) if lease.token_digest().matches(token_digest) => {
            let view = lease.view(fence, now);
            let actor = Some(lease.holder().owner.clone());
            let released = LeaseEvent {
                kind: EventKind::Released,
                at: now,
                holder: lease.holder().clone(),
                fence,
                actor,
            };
            let ended = LeaseState::Ended {
                lease: lease.clone(),
                reason: EndReason::Released,
                ended_at: now,
            };
            let next = LeaseRecord::new(fence, ended)?;
            let outcome = ReleaseOutcome::Released { lease: view };
            Ok(Decision {
                outcome,
                next: Some(next),
                events: vec![released],
            })
        }
        LeaseState::Ended { lease, reason, .. } if lease.token_digest().matches(token_digest) => {
            let outcome = ReleaseOutcome::AlreadyReleased {
                fence,
                reason: *reason,
            };
            Ok(Decision::unchanged(outcome))
        }
        _ => Ok(Decision::unchanged(ReleaseOutcome::Lost {
            current: current_view(record, now),
        })),
    }
}

/// Sweep one record: rule 10. Ends the lease as expired only if it is stale at `now`.
pub fn sweep(record: &LeaseRecord, now: UnixMillis) -> Result<Decision<SweepOutcome>, LeaseError> {
    let fence = record.fence();
    let Some(lease) = record.held().filter(|lease| lease.is_stale(now)) else {
        return Ok(Decision::unchanged(SweepOutcome::Untouched));
    };

    let view = lease.view(fence, now);
    let expired = LeaseEvent {
        kind: EventKind::Expired,
        at: now,
        holder: lease.holder().clone(),
        fence,
        actor: None,
    };
    let ended = LeaseState::Ended {
        lease: lease.clone(),
        reason: EndReason::Expired,
        ended_at: now,
    };
    let next = LeaseRecord::new(fence, ended)?;
    Ok(Decision {
        outcome: SweepOutcome::Expired { lease: view },
        next: Some(next),
        events: vec![expired],
    })
}

fn current_view(record: &LeaseRecord, now: UnixMillis) -> Option<HolderView> {
    record.held().map(|lease| lease.view(record.fence(), now))
}
