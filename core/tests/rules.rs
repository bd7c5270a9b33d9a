//! One or more tests per lease rule of issue 2, each named as the behaviour it proves.
//!
//! Times are UTC milliseconds around `T` (2023-11-14T22:13:20Z). Unless a test says otherwise a
//! lease has a 30 s interval and 3 beats, so it is live until exactly `T + 90 s` after its last
//! heartbeat and stale from one millisecond later.

use leasekit_core::record::LeaseState;
use leasekit_core::terms::{MAX_INTERVAL_MS, MIN_INTERVAL_MS};
use leasekit_core::{
    rules, AcquireOutcome, AcquireRequest, EndReason, ErrorCode, EventKind, HeartbeatOutcome,
    Holder, LeaseError, LeaseEvent, LeaseRecord, LeaseTerms, Owner, ReleaseOutcome, ResourceId,
    SessionId, SweepOutcome, TokenDigest, UnixMillis, ALL_CODES, MAX_SAFE_INTEGER,
};

const T: i64 = 1_700_000_000_000;
const INTERVAL: i64 = 30_000;
const STALE_AFTER: i64 = 90_000;
/// The last millisecond a calendar date can hold (chrono's limit, within 2^53 - 1).
const LAST_DATE_MS: i64 = 8_210_266_876_799_999;

fn at(ms: i64) -> UnixMillis {
    UnixMillis::new(ms).unwrap()
}

fn digest(token: &str) -> TokenDigest {
    TokenDigest::of_token(token).unwrap()
}

fn request(owner: &str, session: &str, token: &str) -> AcquireRequest {
    AcquireRequest {
        holder: Holder::new(owner, session).unwrap(),
        terms: LeaseTerms::with_interval(INTERVAL).unwrap(),
        takeover: false,
        force: false,
        token_digest: digest(token),
    }
}

fn takeover(owner: &str, session: &str, token: &str) -> AcquireRequest {
    AcquireRequest {
        takeover: true,
        ..request(owner, session, token)
    }
}

fn forced(owner: &str, session: &str, token: &str) -> AcquireRequest {
    AcquireRequest {
        force: true,
        ..request(owner, session, token)
    }
}

/// The record after `request` is granted at `now`; fails the test on any other answer.
fn grant(record: &LeaseRecord, request: &AcquireRequest, now: i64) -> LeaseRecord {
    let decision = rules::acquire(record, request, at(now)).unwrap();
    assert!(
        matches!(decision.outcome, AcquireOutcome::Granted { .. }),
        "{:?}",
        decision.outcome
    );
    decision.next.unwrap()
}

fn alice_holds_from(now: i64) -> LeaseRecord {
    grant(
        &LeaseRecord::vacant(),
        &request("alice", "tab-1", "tok-alice-1"),
        now,
    )
}

fn heartbeat_at(record: &LeaseRecord) -> i64 {
    record.held().unwrap().heartbeat_at().as_millis()
}

fn event_summary(event: &LeaseEvent) -> (EventKind, &str, &str, u64, Option<&str>, i64) {
    (
        event.kind,
        event.holder.owner.as_str(),
        event.holder.session_id.as_str(),
        event.fence,
        event.actor.as_ref().map(Owner::as_str),
        event.at.as_millis(),
    )
}

// Rule 1: live while now - heartbeat_at <= stale_after; a future stamp counts as now.

#[test]
fn lease_is_live_at_exactly_stale_after_since_its_last_heartbeat() {
    let record = alice_holds_from(T);

    assert!(record.live(at(T + STALE_AFTER)).is_some());
    assert!(!record.view(at(T + STALE_AFTER)).current.unwrap().stale);
}

#[test]
fn lease_is_stale_one_millisecond_after_stale_after() {
    let record = alice_holds_from(T);

    assert!(record.live(at(T + STALE_AFTER + 1)).is_none());
    assert!(record.held().unwrap().is_stale(at(T + STALE_AFTER + 1)));
    assert!(record.view(at(T + STALE_AFTER + 1)).current.unwrap().stale);
}

#[test]
fn stale_threshold_is_beats_times_interval() {
    let mut short = request("alice", "tab-1", "tok-alice-1");
    short.terms = LeaseTerms::new(1_000, 2).unwrap();
    let record = grant(&LeaseRecord::vacant(), &short, T);

    assert!(record.live(at(T + 2_000)).is_some());
    assert!(record.live(at(T + 2_001)).is_none());
    assert_eq!(record.held().unwrap().expires_at(), at(T + 2_000));
}

#[test]
fn heartbeat_stamped_in_the_future_counts_as_stamped_now() {
    let record = alice_holds_from(T + 600_000);

    for now in [T, T + 600_000 - 1, -1_000_000, -LAST_DATE_MS] {
        assert!(record.live(at(now)).is_some(), "judged at {now}");
    }
    assert!(record.live(at(T + 600_000 + STALE_AFTER + 1)).is_none());
}

#[test]
fn clock_stepping_backwards_never_makes_a_live_lease_stale() {
    let record = alice_holds_from(T);
    let beaten = rules::heartbeat(&record, &digest("tok-alice-1"), at(T + 60_000))
        .unwrap()
        .next
        .unwrap();

    for now in [T + 60_000 - 1, T, T - 3_600_000] {
        assert!(beaten.live(at(now)).is_some(), "judged at {now}");
        let swept = rules::sweep(&beaten, at(now)).unwrap();
        assert_eq!(swept.outcome, SweepOutcome::Untouched);
    }
}

// Rule 2: acquire on a free, released or stale resource grants fence + 1 at now.

#[test]
fn acquire_on_vacant_resource_grants_fence_one_at_now() {
    let decision = rules::acquire(
        &LeaseRecord::vacant(),
        &request("alice", "tab-1", "tok-alice-1"),
        at(T),
    )
    .unwrap();

    let AcquireOutcome::Granted { lease, previous } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!(
        (lease.fence, lease.acquired_at, lease.heartbeat_at),
        (1, at(T), at(T))
    );
    assert_eq!(lease.expires_at, at(T + STALE_AFTER));
    assert_eq!(previous, None);
    let next = decision.next.unwrap();
    assert_eq!(next.fence(), 1);
    assert!(next
        .held()
        .unwrap()
        .token_digest()
        .matches(&digest("tok-alice-1")));
}

#[test]
fn acquire_event_names_new_holder_fence_and_actor() {
    let decision = rules::acquire(
        &LeaseRecord::vacant(),
        &request("alice", "tab-1", "tok-alice-1"),
        at(T),
    )
    .unwrap();

    let events: Vec<_> = decision.events.iter().map(event_summary).collect();
    assert_eq!(
        events,
        [(EventKind::Acquired, "alice", "tab-1", 1, Some("alice"), T)]
    );
}

#[test]
fn acquire_on_released_resource_grants_next_fence_and_names_previous_holder() {
    let record = alice_holds_from(T);
    let released = rules::release(&record, &digest("tok-alice-1"), at(T + 1_000))
        .unwrap()
        .next
        .unwrap();

    let decision = rules::acquire(
        &released,
        &request("bob", "laptop", "tok-bob-1"),
        at(T + 2_000),
    )
    .unwrap();

    let AcquireOutcome::Granted { lease, previous } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!(lease.fence, 2);
    let previous = previous.unwrap();
    assert_eq!(previous.holder, Holder::new("alice", "tab-1").unwrap());
    assert_eq!((previous.fence, previous.ended), (1, EndReason::Released));
    let kinds: Vec<_> = decision.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Acquired]);
}

#[test]
fn acquire_on_stale_lease_grants_and_ends_previous_as_expired() {
    let record = alice_holds_from(T);
    let now = T + STALE_AFTER + 1;

    let decision =
        rules::acquire(&record, &request("bob", "laptop", "tok-bob-1"), at(now)).unwrap();

    let AcquireOutcome::Granted { lease, previous } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!((lease.owner.as_str(), lease.fence), ("bob", 2));
    assert_eq!(previous.unwrap().ended, EndReason::Expired);
    let events: Vec<_> = decision.events.iter().map(event_summary).collect();
    assert_eq!(
        events,
        [
            (EventKind::Expired, "alice", "tab-1", 1, Some("bob"), now),
            (EventKind::Acquired, "bob", "laptop", 2, Some("bob"), now),
        ]
    );
}

#[test]
fn grants_computed_from_the_same_stale_record_carry_the_same_fence() {
    let record = alice_holds_from(T);
    let now = T + STALE_AFTER + 1;

    let bob = grant(&record, &request("bob", "laptop", "tok-bob-1"), now);
    let carol = grant(&record, &request("carol", "desk", "tok-carol-1"), now);

    // A store that writes only if the fence it read is still current lets exactly one in.
    assert_eq!(bob.fence(), carol.fence());
    let late = rules::acquire(&bob, &request("carol", "desk", "tok-carol-1"), at(now)).unwrap();
    assert!(matches!(late.outcome, AcquireOutcome::Busy { .. }));
    assert!(late.next.is_none());
}

// Rule 3: the same owner and session renew their own live lease.

#[test]
fn reacquire_by_same_session_renews_with_same_fence_and_acquired_at() {
    let record = alice_holds_from(T);

    let decision = rules::acquire(
        &record,
        &request("alice", "tab-1", "tok-alice-retry"),
        at(T + 10_000),
    )
    .unwrap();

    let AcquireOutcome::Renewed { lease } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!((lease.fence, lease.acquired_at), (1, at(T)));
    assert_eq!(lease.heartbeat_at, at(T + 10_000));
    let events: Vec<_> = decision.events.iter().map(event_summary).collect();
    assert_eq!(
        events,
        [(
            EventKind::Renewed,
            "alice",
            "tab-1",
            1,
            Some("alice"),
            T + 10_000
        )]
    );
}

#[test]
fn renewed_lease_accepts_only_the_fresh_token() {
    let record = alice_holds_from(T);
    let renewed = rules::acquire(
        &record,
        &request("alice", "tab-1", "tok-alice-retry"),
        at(T + 10_000),
    )
    .unwrap()
    .next
    .unwrap();

    let old = rules::heartbeat(&renewed, &digest("tok-alice-1"), at(T + 20_000)).unwrap();
    assert!(matches!(old.outcome, HeartbeatOutcome::Lost { .. }));
    let fresh = rules::heartbeat(&renewed, &digest("tok-alice-retry"), at(T + 20_000)).unwrap();
    assert!(matches!(fresh.outcome, HeartbeatOutcome::Renewed { .. }));
}

// Rule 4: another session of the same owner is busy unless it asks to take over.

#[test]
fn second_session_of_same_owner_is_busy_with_same_owner() {
    let record = alice_holds_from(T);

    let decision = rules::acquire(
        &record,
        &request("alice", "tab-2", "tok-alice-2"),
        at(T + 1_000),
    )
    .unwrap();

    let AcquireOutcome::Busy { holder, same_owner } = &decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert!(same_owner);
    assert_eq!((holder.session_id.as_str(), holder.fence), ("tab-1", 1));
    assert_eq!(decision.outcome.refusal(), Some(ErrorCode::LeaseHeld));
    assert!(decision.next.is_none() && decision.events.is_empty());
}

#[test]
fn takeover_grants_next_fence_and_ends_first_session_as_taken_over() {
    let record = alice_holds_from(T);

    let decision = rules::acquire(
        &record,
        &takeover("alice", "tab-2", "tok-alice-2"),
        at(T + 1_000),
    )
    .unwrap();

    let AcquireOutcome::Granted { lease, previous } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!((lease.session_id.as_str(), lease.fence), ("tab-2", 2));
    let previous = previous.unwrap();
    assert_eq!(previous.holder.session_id.as_str(), "tab-1");
    assert_eq!((previous.fence, previous.ended), (1, EndReason::TakenOver));
    let events: Vec<_> = decision.events.iter().map(event_summary).collect();
    assert_eq!(
        events,
        [(
            EventKind::TakenOver,
            "alice",
            "tab-2",
            2,
            Some("alice"),
            T + 1_000
        )]
    );
}

#[test]
fn first_session_learns_the_takeover_as_lost() {
    let record = alice_holds_from(T);
    let taken = grant(
        &record,
        &takeover("alice", "tab-2", "tok-alice-2"),
        T + 1_000,
    );

    let decision = rules::heartbeat(&taken, &digest("tok-alice-1"), at(T + 2_000)).unwrap();

    let HeartbeatOutcome::Lost { current } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!(current.unwrap().session_id.as_str(), "tab-2");
    assert!(decision.next.is_none());
}

#[test]
fn takeover_flag_does_not_let_another_owner_in() {
    let record = alice_holds_from(T);

    let decision = rules::acquire(
        &record,
        &takeover("bob", "laptop", "tok-bob-1"),
        at(T + 1_000),
    )
    .unwrap();

    assert!(matches!(
        decision.outcome,
        AcquireOutcome::Busy {
            same_owner: false,
            ..
        }
    ));
    assert!(decision.next.is_none());
}

// Rule 5: another owner is busy unless it forces.

#[test]
fn other_owner_is_busy_with_holder_since_and_expiry() {
    let record = alice_holds_from(T);
    let beaten = rules::heartbeat(&record, &digest("tok-alice-1"), at(T + 30_000))
        .unwrap()
        .next
        .unwrap();

    let decision = rules::acquire(
        &beaten,
        &request("bob", "laptop", "tok-bob-1"),
        at(T + 60_000),
    )
    .unwrap();

    let AcquireOutcome::Busy { holder, same_owner } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert!(!same_owner);
    assert_eq!(holder.owner.as_str(), "alice");
    assert_eq!(holder.acquired_at, at(T));
    assert_eq!(holder.expires_at, at(T + 30_000 + STALE_AFTER));
    assert!(decision.next.is_none() && decision.events.is_empty());
}

#[test]
fn force_grants_next_fence_and_ends_lease_as_forced() {
    let record = alice_holds_from(T);

    let decision = rules::acquire(
        &record,
        &forced("admin", "console", "tok-admin"),
        at(T + 1_000),
    )
    .unwrap();

    let AcquireOutcome::Granted { lease, previous } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!((lease.owner.as_str(), lease.fence), ("admin", 2));
    assert_eq!(previous.unwrap().ended, EndReason::Forced);
    let events: Vec<_> = decision.events.iter().map(event_summary).collect();
    assert_eq!(
        events,
        [(
            EventKind::Forced,
            "admin",
            "console",
            2,
            Some("admin"),
            T + 1_000
        )]
    );
}

#[test]
fn force_on_a_stale_lease_is_an_ordinary_grant_reporting_expiry() {
    let record = alice_holds_from(T);

    let decision = rules::acquire(
        &record,
        &forced("admin", "console", "tok-admin"),
        at(T + STALE_AFTER + 1),
    )
    .unwrap();

    let AcquireOutcome::Granted { previous, .. } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!(previous.unwrap().ended, EndReason::Expired);
    let kinds: Vec<_> = decision.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Expired, EventKind::Acquired]);
}

// Rule 6: a heartbeat on a live lease sets heartbeat_at = now; never additive.

#[test]
fn heartbeat_on_live_lease_moves_only_heartbeat_at_and_emits_no_event() {
    let record = alice_holds_from(T);

    let decision = rules::heartbeat(&record, &digest("tok-alice-1"), at(T + 30_000)).unwrap();

    let HeartbeatOutcome::Renewed { lease } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!((lease.fence, lease.acquired_at), (1, at(T)));
    assert_eq!(lease.heartbeat_at, at(T + 30_000));
    assert_eq!(lease.expires_at, at(T + 30_000 + STALE_AFTER));
    assert!(decision.events.is_empty());
    let next = decision.next.unwrap();
    assert_eq!((next.fence(), heartbeat_at(&next)), (1, T + 30_000));
}

#[test]
fn sixty_heartbeats_one_second_apart_are_not_additive() {
    let mut record = alice_holds_from(T);

    for beat in 1..=60 {
        let now = T + beat * 1_000;
        let decision = rules::heartbeat(&record, &digest("tok-alice-1"), at(now)).unwrap();
        assert!(decision.events.is_empty());
        record = decision.next.unwrap();
    }

    let lease = record.held().unwrap();
    assert_eq!(lease.expires_at(), at(T + 60_000 + STALE_AFTER));
    assert!(record.live(at(T + 60_000 + STALE_AFTER)).is_some());
    assert!(record.live(at(T + 60_000 + STALE_AFTER + 1)).is_none());
}

#[test]
fn heartbeat_at_exactly_stale_after_still_renews() {
    let record = alice_holds_from(T);

    let decision = rules::heartbeat(&record, &digest("tok-alice-1"), at(T + STALE_AFTER)).unwrap();

    assert!(matches!(decision.outcome, HeartbeatOutcome::Renewed { .. }));
    assert_eq!(heartbeat_at(&decision.next.unwrap()), T + STALE_AFTER);
}

#[test]
fn heartbeat_after_clock_step_back_stamps_the_earlier_now() {
    let record = alice_holds_from(T + 60_000);

    let decision = rules::heartbeat(&record, &digest("tok-alice-1"), at(T)).unwrap();

    let HeartbeatOutcome::Renewed { lease } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!(
        (lease.acquired_at, lease.heartbeat_at),
        (at(T + 60_000), at(T))
    );
    assert_eq!(lease.expires_at, at(T + STALE_AFTER));
}

// Rule 7: a heartbeat on a stale lease is refused as expired and does not revive it.

#[test]
fn heartbeat_on_stale_lease_is_refused_as_expired_and_not_revived() {
    let record = alice_holds_from(T);

    let decision =
        rules::heartbeat(&record, &digest("tok-alice-1"), at(T + STALE_AFTER + 1)).unwrap();

    let HeartbeatOutcome::Expired { lease } = &decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert!(lease.stale);
    assert_eq!(lease.heartbeat_at, at(T));
    assert_eq!(decision.outcome.refusal(), Some(ErrorCode::LeaseExpired));
    assert!(decision.next.is_none() && decision.events.is_empty());
    assert!(
        record.live(at(T + STALE_AFTER + 2)).is_none(),
        "still stale"
    );
}

#[test]
fn heartbeat_after_sweep_is_refused_as_expired() {
    let record = alice_holds_from(T);
    let swept = rules::sweep(&record, at(T + STALE_AFTER + 1))
        .unwrap()
        .next
        .unwrap();

    let decision =
        rules::heartbeat(&swept, &digest("tok-alice-1"), at(T + STALE_AFTER + 2)).unwrap();

    assert!(matches!(decision.outcome, HeartbeatOutcome::Expired { .. }));
    assert!(decision.next.is_none());
}

#[test]
fn holder_of_an_expired_lease_acquires_again_with_a_new_fence() {
    let record = alice_holds_from(T);

    let again = grant(
        &record,
        &request("alice", "tab-1", "tok-alice-2"),
        T + STALE_AFTER + 1,
    );

    assert_eq!(again.fence(), 2);
    assert_eq!(again.held().unwrap().acquired_at(), at(T + STALE_AFTER + 1));
}

// Rule 8: a token that is not the current one is lost and changes nothing.

#[test]
fn heartbeat_with_foreign_token_is_lost_naming_current_holder() {
    let record = alice_holds_from(T);

    let decision = rules::heartbeat(&record, &digest("tok-bob-1"), at(T + 1_000)).unwrap();

    let HeartbeatOutcome::Lost { current } = &decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!(current.as_ref().unwrap().owner.as_str(), "alice");
    assert_eq!(decision.outcome.refusal(), Some(ErrorCode::LeaseLost));
    assert!(decision.next.is_none() && decision.events.is_empty());
}

#[test]
fn release_with_foreign_token_is_lost_and_changes_nothing() {
    let record = alice_holds_from(T);

    let decision = rules::release(&record, &digest("tok-bob-1"), at(T + 1_000)).unwrap();

    assert!(matches!(
        decision.outcome,
        ReleaseOutcome::Lost { current: Some(_) }
    ));
    assert_eq!(decision.outcome.refusal(), Some(ErrorCode::LeaseLost));
    assert!(decision.next.is_none() && decision.events.is_empty());
}

#[test]
fn heartbeat_and_release_on_vacant_resource_are_lost_with_no_holder() {
    let vacant = LeaseRecord::vacant();
    let token = digest("tok-alice-1");

    let beat = rules::heartbeat(&vacant, &token, at(T)).unwrap();
    let release = rules::release(&vacant, &token, at(T)).unwrap();

    assert_eq!(beat.outcome, HeartbeatOutcome::Lost { current: None });
    assert_eq!(release.outcome, ReleaseOutcome::Lost { current: None });
    assert!(beat.next.is_none() && release.next.is_none());
}

#[test]
fn late_release_after_expiry_and_reacquire_does_not_free_the_new_holder() {
    let record = alice_holds_from(T);
    let bob = grant(
        &record,
        &request("bob", "laptop", "tok-bob-1"),
        T + STALE_AFTER + 1,
    );

    let decision = rules::release(&bob, &digest("tok-alice-1"), at(T + STALE_AFTER + 10)).unwrap();

    let ReleaseOutcome::Lost { current } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert_eq!(current.unwrap().owner.as_str(), "bob");
    assert!(decision.next.is_none());
}

// Rule 9: release with the current token releases; repeating it changes nothing.

#[test]
fn release_with_current_token_ends_lease_as_released() {
    let record = alice_holds_from(T);

    let decision = rules::release(&record, &digest("tok-alice-1"), at(T + 5_000)).unwrap();

    assert!(matches!(decision.outcome, ReleaseOutcome::Released { .. }));
    let events: Vec<_> = decision.events.iter().map(event_summary).collect();
    assert_eq!(
        events,
        [(
            EventKind::Released,
            "alice",
            "tab-1",
            1,
            Some("alice"),
            T + 5_000
        )]
    );
    let next = decision.next.unwrap();
    assert_eq!(next.fence(), 1);
    let LeaseState::Ended {
        reason, ended_at, ..
    } = next.state()
    else {
        panic!("{:?}", next.state());
    };
    assert_eq!((*reason, *ended_at), (EndReason::Released, at(T + 5_000)));
}

#[test]
fn release_of_a_stale_lease_still_releases() {
    let record = alice_holds_from(T);

    let decision =
        rules::release(&record, &digest("tok-alice-1"), at(T + 10 * STALE_AFTER)).unwrap();

    let ReleaseOutcome::Released { lease } = decision.outcome else {
        panic!("{:?}", decision.outcome);
    };
    assert!(lease.stale);
    assert!(decision.next.is_some());
}

#[test]
fn second_release_answers_already_released_and_changes_nothing() {
    let record = alice_holds_from(T);
    let released = rules::release(&record, &digest("tok-alice-1"), at(T + 5_000))
        .unwrap()
        .next
        .unwrap();

    let again = rules::release(&released, &digest("tok-alice-1"), at(T + 6_000)).unwrap();

    assert_eq!(
        again.outcome,
        ReleaseOutcome::AlreadyReleased {
            fence: 1,
            reason: EndReason::Released
        }
    );
    assert_eq!(again.outcome.refusal(), Some(ErrorCode::AlreadyReleased));
    assert!(again.next.is_none() && again.events.is_empty());
}

#[test]
fn release_after_sweep_answers_already_released_as_expired() {
    let record = alice_holds_from(T);
    let swept = rules::sweep(&record, at(T + STALE_AFTER + 1))
        .unwrap()
        .next
        .unwrap();

    let decision = rules::release(&swept, &digest("tok-alice-1"), at(T + STALE_AFTER + 2)).unwrap();

    assert_eq!(
        decision.outcome,
        ReleaseOutcome::AlreadyReleased {
            fence: 1,
            reason: EndReason::Expired
        }
    );
}

// Rule 10: a sweep ends only a lease it judges stale at now.

#[test]
fn sweep_at_exactly_stale_after_leaves_the_lease_untouched() {
    let record = alice_holds_from(T);

    let decision = rules::sweep(&record, at(T + STALE_AFTER)).unwrap();

    assert_eq!(decision.outcome, SweepOutcome::Untouched);
    assert!(decision.next.is_none() && decision.events.is_empty());
}

#[test]
fn sweep_one_millisecond_later_ends_the_lease_as_expired_without_an_actor() {
    let record = alice_holds_from(T);
    let now = T + STALE_AFTER + 1;

    let decision = rules::sweep(&record, at(now)).unwrap();

    assert!(matches!(decision.outcome, SweepOutcome::Expired { .. }));
    let events: Vec<_> = decision.events.iter().map(event_summary).collect();
    assert_eq!(
        events,
        [(EventKind::Expired, "alice", "tab-1", 1, None, now)]
    );
    let next = decision.next.unwrap();
    assert_eq!(next.fence(), 1);
    assert!(matches!(
        next.state(),
        LeaseState::Ended {
            reason: EndReason::Expired,
            ..
        }
    ));
}

#[test]
fn sweep_after_a_heartbeat_leaves_the_renewed_lease_untouched() {
    let record = alice_holds_from(T);
    let beaten = rules::heartbeat(&record, &digest("tok-alice-1"), at(T + 80_000))
        .unwrap()
        .next
        .unwrap();

    // The sweeper judged the old record stale at this instant; the stored one is live.
    assert!(record.held().unwrap().is_stale(at(T + STALE_AFTER + 1)));
    let decision = rules::sweep(&beaten, at(T + STALE_AFTER + 1)).unwrap();

    assert_eq!(decision.outcome, SweepOutcome::Untouched);
    assert!(decision.next.is_none());
}

#[test]
fn sweep_of_vacant_or_ended_record_is_untouched() {
    let record = alice_holds_from(T);
    let released = rules::release(&record, &digest("tok-alice-1"), at(T + 1))
        .unwrap()
        .next
        .unwrap();

    for ended in [LeaseRecord::vacant(), released] {
        let decision = rules::sweep(&ended, at(T + 100 * STALE_AFTER)).unwrap();
        assert_eq!(decision.outcome, SweepOutcome::Untouched);
        assert!(decision.next.is_none());
    }
}

// Rule 11: refusals are values; errors are for bad input, with stable codes.

#[test]
fn refusals_are_values_whose_codes_are_listed_among_all_codes() {
    let record = alice_holds_from(T);
    let busy = rules::acquire(&record, &request("bob", "laptop", "b"), at(T)).unwrap();
    let lost = rules::heartbeat(&record, &digest("b"), at(T)).unwrap();
    let expired =
        rules::heartbeat(&record, &digest("tok-alice-1"), at(T + STALE_AFTER + 1)).unwrap();

    let codes = [
        busy.outcome.refusal(),
        lost.outcome.refusal(),
        expired.outcome.refusal(),
    ];
    assert_eq!(
        codes,
        [
            Some(ErrorCode::LeaseHeld),
            Some(ErrorCode::LeaseLost),
            Some(ErrorCode::LeaseExpired)
        ]
    );
    for code in codes.into_iter().flatten() {
        assert!(ALL_CODES.contains(&code));
    }
}

#[test]
fn grants_and_renewals_are_not_refusals() {
    let first = rules::acquire(&LeaseRecord::vacant(), &request("a", "s", "t"), at(T)).unwrap();
    let record = first.next.clone().unwrap();
    let renewal = rules::acquire(&record, &request("a", "s", "u"), at(T + 1)).unwrap();
    let beat = rules::heartbeat(&record, &digest("t"), at(T + 1)).unwrap();
    let release = rules::release(&record, &digest("t"), at(T + 1)).unwrap();

    assert_eq!(first.outcome.refusal(), None);
    assert_eq!(renewal.outcome.refusal(), None);
    assert_eq!(beat.outcome.refusal(), None);
    assert_eq!(release.outcome.refusal(), None);
}

#[test]
fn bad_input_errors_carry_stable_codes_and_name_the_field() {
    let cases: Vec<(LeaseError, &str, &str)> = vec![
        (
            ResourceId::for_field("project_id", "-x").unwrap_err(),
            "invalid_resource_id",
            "project_id",
        ),
        (Owner::new("").unwrap_err(), "invalid_owner", "owner"),
        (
            SessionId::new("a b").unwrap_err(),
            "invalid_session_id",
            "session_id",
        ),
        (
            LeaseTerms::new(0, 3).unwrap_err(),
            "invalid_interval",
            "heartbeat interval",
        ),
        (
            LeaseTerms::new(30_000, 1).unwrap_err(),
            "invalid_beats",
            "beats",
        ),
        (
            TokenDigest::of_token("").unwrap_err(),
            "invalid_token",
            "lease token",
        ),
        (
            UnixMillis::new(10_000_000_000_000_000).unwrap_err(),
            "time_out_of_range",
            "now",
        ),
    ];

    for (error, code, field) in cases {
        assert_eq!(error.code().as_str(), code);
        assert!(ALL_CODES.contains(&error.code()));
        assert!(error.to_string().starts_with(field), "{error}");
    }
}

#[test]
fn interval_bounds_are_one_second_and_one_day_inclusive() {
    assert!(LeaseTerms::new(MIN_INTERVAL_MS, 3).is_ok());
    assert!(LeaseTerms::new(MAX_INTERVAL_MS, 10).is_ok());

    for bad in [
        0,
        -1,
        999,
        86_400_001,
        2_592_000_000,
        4_294_968_296,
        i64::MIN,
        i64::MAX,
    ] {
        let error = LeaseTerms::new(bad, 3).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidInterval);
        assert!(error.to_string().contains(&bad.to_string()), "{error}");
    }
}

// Rule 12: time arithmetic is checked and every produced value fits ±(2^53 - 1).

#[test]
fn times_beyond_the_safe_range_or_any_date_are_refused() {
    for bad in [
        MAX_SAFE_INTEGER,
        -MAX_SAFE_INTEGER,
        MAX_SAFE_INTEGER + 1,
        LAST_DATE_MS + 1,
        10_000_000_000_000_000,
        i64::MIN,
        i64::MAX,
    ] {
        let error = UnixMillis::new(bad).unwrap_err();
        assert_eq!(error.code(), ErrorCode::TimeOutOfRange, "{bad}");
    }
    assert!(UnixMillis::new(LAST_DATE_MS).is_ok());
}

#[test]
fn grant_whose_expiry_leaves_the_range_is_refused_and_changes_nothing() {
    let vacant = LeaseRecord::vacant();

    let result = rules::acquire(
        &vacant,
        &request("alice", "tab-1", "tok-alice-1"),
        at(LAST_DATE_MS - STALE_AFTER + 1),
    );

    let error = result.unwrap_err();
    assert_eq!(error.code(), ErrorCode::TimeOutOfRange);
    assert!(error.to_string().starts_with("expires_at"), "{error}");
    let fits = rules::acquire(
        &vacant,
        &request("alice", "tab-1", "tok-alice-1"),
        at(LAST_DATE_MS - STALE_AFTER),
    );
    assert_eq!(fits.unwrap().next.unwrap().fence(), 1);
}

#[test]
fn heartbeat_whose_expiry_leaves_the_range_is_refused() {
    let record = alice_holds_from(LAST_DATE_MS - STALE_AFTER - 10);

    let error = rules::heartbeat(
        &record,
        &digest("tok-alice-1"),
        at(LAST_DATE_MS - STALE_AFTER + 5),
    )
    .unwrap_err();

    assert_eq!(error.code(), ErrorCode::TimeOutOfRange);
    assert_eq!(heartbeat_at(&record), LAST_DATE_MS - STALE_AFTER - 10);
}

#[test]
fn earliest_date_is_a_valid_instant_to_acquire_at() {
    let earliest = -8_334_601_228_800_000;

    let record = grant(
        &LeaseRecord::vacant(),
        &request("alice", "tab-1", "tok-alice-1"),
        earliest,
    );

    assert_eq!(
        record.held().unwrap().expires_at(),
        at(earliest + STALE_AFTER)
    );
    assert!(UnixMillis::new(earliest - 1).is_err());
}

#[test]
fn fence_at_max_safe_integer_refuses_another_grant() {
    let stored = serde_json::json!({
        "fence": MAX_SAFE_INTEGER, "state": "released", "owner": "alice",
        "session_id": "tab-1", "token_digest": digest("tok-alice-1").to_hex(),
        "interval_ms": INTERVAL, "beats": 3, "acquired_at": T, "heartbeat_at": T,
        "end_reason": "released", "ended_at": T + 1,
    });
    let record: LeaseRecord = serde_json::from_value(stored).unwrap();

    let error =
        rules::acquire(&record, &request("bob", "laptop", "tok-bob-1"), at(T + 2)).unwrap_err();

    assert_eq!(error.code(), ErrorCode::FenceOutOfRange);
    assert_eq!(record.fence(), MAX_SAFE_INTEGER as u64);
}

#[test]
fn stored_record_with_fence_beyond_the_safe_range_is_refused() {
    let stored = serde_json::json!({"fence": MAX_SAFE_INTEGER + 1, "state": "vacant"});

    let error = serde_json::from_value::<LeaseRecord>(stored).unwrap_err();

    assert!(error.to_string().contains("fence"), "{error}");
}

#[test]
fn stored_held_record_with_fence_zero_is_refused() {
    let stored = serde_json::json!({
        "fence": 0, "state": "held", "owner": "alice", "session_id": "tab-1",
        "token_digest": digest("tok-alice-1").to_hex(), "interval_ms": INTERVAL, "beats": 3,
        "acquired_at": T, "heartbeat_at": T,
    });

    let error = serde_json::from_value::<LeaseRecord>(stored).unwrap_err();

    assert!(error.to_string().contains("fence >= 1"), "{error}");
}

#[test]
fn record_json_round_trip_keeps_fence_holder_token_and_times() {
    let record = alice_holds_from(T);
    let released = rules::release(&record, &digest("tok-alice-1"), at(T + 5))
        .unwrap()
        .next
        .unwrap();

    for original in [LeaseRecord::vacant(), record, released] {
        let text = serde_json::to_string(&original).unwrap();
        let reloaded: LeaseRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(reloaded, original, "{text}");
        assert!(
            !text.contains("tok-alice-1"),
            "the token itself is never stored"
        );
    }
}
