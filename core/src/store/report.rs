//! What the store's operations answer.
//!
//! Each answer carries `at`, the store clock's instant at which it was decided, so a client can
//! sample the server's clock from any response. Only [`Acquired`] can hold a token, and it does
//! not implement `Serialize`: a token leaves through [`LeaseToken::expose`] or not at all. Every
//! other answer is free of tokens and digests and can be sent as JSON as it is.

use serde::Serialize;

use crate::ident::{ResourceId, ResourceKey, Scope};
use crate::record::{HolderView, LeaseView};
use crate::rules::{AcquireOutcome, LeaseEvent};
use crate::store::token::LeaseToken;
use crate::time::UnixMillis;

/// The answer to an acquire.
#[derive(Clone, Debug)]
pub struct Acquired {
    /// When it was decided.
    pub at: UnixMillis,
    /// Granted, renewed or busy.
    pub outcome: AcquireOutcome,
    /// The holder's new token: present exactly when the outcome is granted or renewed.
    pub token: Option<LeaseToken>,
}

/// The answer to a heartbeat or a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer<T> {
    /// When it was decided.
    pub at: UnixMillis,
    /// What happened, refusals included.
    pub outcome: T,
}

/// What anyone may see of one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The store's clock when the row was read: the instant `view.current.stale` refers to.
    pub at: UnixMillis,
    /// The resource's fence, current holder and last end.
    pub view: LeaseView,
}

/// One event of a resource's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The event's place in the store-wide log: larger is later, never reused.
    pub sequence: i64,
    /// The transition.
    #[serde(flatten)]
    pub event: LeaseEvent,
}

/// A held resource of a scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldResource {
    /// The resource within the scope.
    pub id: ResourceId,
    /// Its lease; `stale` tells whether it is still live at the listing's instant.
    pub lease: HolderView,
}

/// The held resources of one scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holders {
    /// When the rows were read.
    pub at: UnixMillis,
    /// The scope listed.
    pub scope: Scope,
    /// Every held resource, live or stale, ordered by id.
    pub holders: Vec<HeldResource>,
}

/// A lease that a sweep ended as expired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiredLease {
    /// The resource.
    pub key: ResourceKey,
    /// The lease as it stood when it was ended.
    pub lease: HolderView,
    /// When it was ended: the clock of the batch's transaction.
    pub ended_at: UnixMillis,
}

/// What a sweep did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// When the sweep began: it looks for the leases stale at this instant.
    pub at: UnixMillis,
    /// The leases it ended, in the order it ended them.
    pub expired: Vec<ExpiredLease>,
    /// Stale-looking rows left alone because another writer changed them after they were read.
    pub changed_since_read: u64,
    /// Stale-looking rows left alone because they break the model (see the log for their keys).
    pub unreadable: u64,
    /// Write transactions it took.
    pub batches: u64,
}

/// What a prune did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Tombstones emptied down to their fence.
    pub pruned: u64,
    /// Events deleted with them.
    pub events_deleted: u64,
}
