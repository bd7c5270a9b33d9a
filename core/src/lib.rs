//! # leasekit-core
//!
//! One pure lease state machine that answers "who is editing this resource right now?" the
//! same way in a Python backend, its database and a browser worker.
//!
//! ## The model
//!
//! - A **resource** is a [`Scope`] (`project`, `deployment`, ...) and a [`ResourceId`].
//! - A **holder** is an [`Owner`] (the authenticated principal) and a [`SessionId`] (one editing
//!   client of that owner: a browser tab, a deploy attempt).
//! - A **token** is the holder's secret. The core only sees its SHA-256 [`TokenDigest`] and
//!   compares digests in constant time.
//! - The **fence** is a per-resource counter: 1 for the first grant, +1 for every new grant,
//!   never reset and never lowered, so a stale holder's late write can be refused downstream.
//! - A [`Lease`] has `acquired_at`, `heartbeat_at` and [`LeaseTerms`]: an interval (1 s to
//!   24 h) and a stale threshold of `beats × interval` (beats 2 to 10, default 3).
//! - A [`LeaseRecord`] is vacant, held, or ended; an ended record keeps its fence, its last
//!   holder and its [`EndReason`].
//!
//! ## The rules
//!
//! | # | situation | answer |
//! |---|-----------|--------|
//! | 1 | `now - heartbeat_at` vs `stale_after` | live while `<=`, stale once `>` (1) |
//! | 2 | acquire a free, ended or stale resource | granted, fence + 1, names the previous |
//! | 3 | acquire again, same owner and session, live | renewed: fresh token, same fence |
//! | 4 | acquire, same owner, other session, live | busy (`same_owner`); `takeover`: granted |
//! | 5 | acquire, other owner, live | busy; with `force`: granted, old one `forced` |
//! | 6 | heartbeat, current token, live | `heartbeat_at = now`; never additive |
//! | 7 | heartbeat, current token, stale | expired; not revived |
//! | 8 | heartbeat or release, not the current token | lost (names the holder); no change |
//! | 9 | release, current token, live or stale | released; again: already released |
//! | 10 | sweep at `now` | ends each stale lease as `expired`, and only those |
//! | 11 | any refusal | a value, not an error; errors are for bad input, with stable codes |
//! | 12 | time arithmetic | checked; every value fits ±(2^53 - 1) ms or is refused |
//!
//! (1) A heartbeat stamped after `now` (the clock stepped back) counts as stamped `now`. A lease
//! taken over ends as `taken_over`; one forced by another owner ends as `forced`.
//!
//! The functions in [`rules`] implement them. They never read a clock or draw a random number:
//! the caller passes `now` and, for a grant, the new token's digest.
//!
//! ## Quick start
//!
//! ```
//! use leasekit_core::{rules, AcquireOutcome, AcquireRequest, HeartbeatOutcome, Holder,
//!     LeaseRecord, LeaseTerms, TokenDigest, UnixMillis};
//!
//! let at = |ms| UnixMillis::new(ms).unwrap();
//! let alice_token = TokenDigest::of_token("alice-secret").unwrap();
//! let request = |owner: &str, token| AcquireRequest {
//!     holder: Holder::new(owner, "tab-1").unwrap(),
//!     terms: LeaseTerms::with_interval(60_000).unwrap(),
//!     takeover: false,
//!     force: false,
//!     token_digest: token,
//! };
//!
//! // Alice acquires a free project: fence 1.
//! let granted = rules::acquire(&LeaseRecord::vacant(), &request("alice", alice_token), at(0))?;
//! let record = granted.next.expect("a grant changes the record");
//! assert_eq!(record.fence(), 1);
//!
//! // Bob is refused while Alice's lease is live; the refusal changes nothing.
//! let bob_token = TokenDigest::of_token("bob-secret").unwrap();
//! let refused = rules::acquire(&record, &request("bob", bob_token), at(60_000))?;
//! assert!(matches!(refused.outcome, AcquireOutcome::Busy { same_owner: false, .. }));
//! assert!(refused.next.is_none());
//!
//! // Alice's heartbeat at 180 s is the last moment it is live (stale only strictly after).
//! let beat = rules::heartbeat(&record, &alice_token, at(180_000))?;
//! assert!(matches!(beat.outcome, HeartbeatOutcome::Renewed { .. }));
//! # Ok::<(), leasekit_core::LeaseError>(())
//! ```

#![forbid(unsafe_code)]

pub mod error;
pub mod gitlock;
pub mod ident;
pub mod predict;
pub mod record;
pub mod rules;
#[cfg(feature = "tokens")]
pub mod store;
pub mod terms;
pub mod time;
pub mod token;
pub mod vectors;
pub mod wire;

pub use error::{ErrorCode, LeaseError, ALL_CODES};
pub use ident::{Holder, Owner, ResourceId, ResourceKey, Scope, SessionId, RESOURCE_ID_PATTERN};
pub use predict::{
    predict, LeaseTiming, PredictedState, Prediction, SkewEstimate, SkewEstimator, SkewSample,
};
pub use record::{EndReason, EndedView, HolderView, Lease, LeaseRecord, LeaseState, LeaseView};
pub use rules::{
    AcquireOutcome, AcquireRequest, Decision, EventKind, HeartbeatOutcome, LeaseEvent,
    PreviousLease, ReleaseOutcome, SweepOutcome,
};
pub use terms::LeaseTerms;
pub use time::{UnixMillis, MAX_SAFE_INTEGER};
pub use token::TokenDigest;
