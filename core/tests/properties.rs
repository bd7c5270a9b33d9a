//! Property tests: random histories of three holders must keep the lease invariants.
//!
//! Two holders share the owner `alice` (two browser tabs), the third is `bob`. Steps move the
//! clock forward, keep it still, step it back, or jump to the edges of the accepted range and
//! beyond. After every step the test checks what must hold whatever happened: at most one
//! token is accepted as live, the fence grows by exactly one per grant and never falls, a
//! refusal or an error changes nothing and emits nothing, and a reload returns the same record.
//!
//! Each property runs proptest's default 256 cases; set `PROPTEST_CASES` for a longer run.

use leasekit_core::vectors::{replay, OpName, Scenario, Step as VectorStep};
use leasekit_core::{
    rules, AcquireOutcome, AcquireRequest, Decision, ErrorCode, HeartbeatOutcome, Holder,
    LeaseError, LeaseRecord, LeaseTerms, ReleaseOutcome, SweepOutcome, TokenDigest, UnixMillis,
    MAX_SAFE_INTEGER,
};
use proptest::prelude::*;

const T: i64 = 1_700_000_000_000;
const LAST_DATE_MS: i64 = 8_210_266_876_799_999;
const FIRST_DATE_MS: i64 = -8_334_601_228_800_000;
const HOLDERS: [(&str, &str); 3] = [("alice", "tab-1"), ("alice", "tab-2"), ("bob", "laptop")];

#[derive(Clone, Copy, Debug)]
enum Clock {
    Same,
    Forward(i64),
    Backward(i64),
    JumpTo(i64),
}

#[derive(Clone, Copy, Debug)]
enum TokenPick {
    /// The latest token of whoever holds the record, live or stale.
    Holders,
    Latest,
    Earlier(usize),
    Stranger,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Acquire {
        who: usize,
        takeover: bool,
        force: bool,
        interval_ms: i64,
        beats: i64,
    },
    Heartbeat {
        who: usize,
        token: TokenPick,
    },
    Release {
        who: usize,
        token: TokenPick,
    },
    Sweep,
    Status,
    Reload,
}

fn clock() -> impl Strategy<Value = Clock> {
    prop_oneof![
        3 => Just(Clock::Same),
        6 => prop_oneof![
            0..=200_000i64,
            Just(90_000i64),
            Just(90_001i64),
            Just(2_000i64),
            Just(2_001i64),
            Just(864_000_001i64),
        ]
        .prop_map(Clock::Forward),
        2 => (1..=300_000i64).prop_map(Clock::Backward),
        1 => prop_oneof![
            Just(T),
            Just(0),
            Just(LAST_DATE_MS),
            Just(LAST_DATE_MS - 90_000),
            Just(FIRST_DATE_MS),
            Just(MAX_SAFE_INTEGER),
            Just(-MAX_SAFE_INTEGER),
            Just(10_000_000_000_000_000),
            Just(i64::MIN),
            Just(i64::MAX),
            LAST_DATE_MS - 1_000_000..=LAST_DATE_MS,
        ]
        .prop_map(Clock::JumpTo),
    ]
}

fn token_pick() -> impl Strategy<Value = TokenPick> {
    prop_oneof![
        4 => Just(TokenPick::Holders),
        4 => Just(TokenPick::Latest),
        2 => (0..4usize).prop_map(TokenPick::Earlier),
        1 => Just(TokenPick::Stranger),
    ]
}

fn interval() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => prop_oneof![Just(1_000i64), Just(30_000), Just(86_400_000)],
        1 => prop_oneof![
            Just(0i64),
            Just(-1),
            Just(999),
            Just(2_592_000_000),
            Just(i64::MIN),
            Just(i64::MAX),
        ],
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, any::<bool>(), prop::bool::weighted(0.15), interval(), 1..=11i64)
            .prop_map(|(who, takeover, force, interval_ms, beats)| Op::Acquire {
                who,
                takeover,
                force,
                interval_ms,
                beats,
            }),
        4 => (0..3usize, token_pick()).prop_map(|(who, token)| Op::Heartbeat { who, token }),
        2 => (0..3usize, token_pick()).prop_map(|(who, token)| Op::Release { who, token }),
        2 => Just(Op::Sweep),
        1 => Just(Op::Status),
        1 => Just(Op::Reload),
    ]
}

/// The world the three holders share: the stored record, the clock, and every token issued.
struct World {
    record: LeaseRecord,
    now: i64,
    tokens: [Vec<String>; 3],
    issued: usize,
    grants: u64,
}

impl World {
    fn new() -> Self {
        Self {
            record: LeaseRecord::vacant(),
            now: T,
            tokens: [Vec::new(), Vec::new(), Vec::new()],
            issued: 0,
            grants: 0,
        }
    }

    fn tick(&mut self, clock: Clock) {
        self.now = match clock {
            Clock::Same => self.now,
            Clock::Forward(delta) => self.now.saturating_add(delta),
            Clock::Backward(delta) => self.now.saturating_sub(delta),
            Clock::JumpTo(instant) => instant,
        };
    }

    fn token(&self, who: usize, pick: TokenPick) -> String {
        let holder = self.record.held().map(|lease| lease.holder().clone());
        let holds = |index: &usize| {
            let (owner, session) = HOLDERS[*index];
            holder == Some(Holder::new(owner, session).unwrap())
        };
        let who = match pick {
            TokenPick::Holders => (0..3).find(holds).unwrap_or(who),
            _ => who,
        };
        let issued = &self.tokens[who];
        match pick {
            TokenPick::Holders | TokenPick::Latest if !issued.is_empty() => {
                issued[issued.len() - 1].clone()
            }
            TokenPick::Earlier(back) if back < issued.len() => {
                issued[issued.len() - 1 - back].clone()
            }
            _ => "tok-stranger".to_owned(),
        }
    }

    /// Every token ever issued that a heartbeat at `now` would accept.
    fn accepted_tokens(&self, now: UnixMillis) -> Vec<(usize, String)> {
        let mut accepted = Vec::new();
        for (who, issued) in self.tokens.iter().enumerate() {
            for token in issued {
                let digest = TokenDigest::of_token(token).unwrap();
                let decision = rules::heartbeat(&self.record, &digest, now);
                if let Ok(Decision {
                    outcome: HeartbeatOutcome::Renewed { .. },
                    ..
                }) = decision
                {
                    accepted.push((who, token.clone()));
                }
            }
        }
        accepted
    }
}

fn assert_unchanged_by_error(error: &LeaseError, allowed: &[ErrorCode]) {
    assert!(
        allowed.contains(&error.code()),
        "unexpected error {error} ({})",
        error.code()
    );
}

/// Applies `op` at the world's `now`, checking the per-step invariants.
fn apply(world: &mut World, op: Op) {
    let Ok(now) = UnixMillis::new(world.now) else {
        let error = UnixMillis::new(world.now).unwrap_err();
        assert_eq!(error.code(), ErrorCode::TimeOutOfRange);
        return;
    };
    match op {
        Op::Acquire {
            who,
            takeover,
            force,
            interval_ms,
            beats,
        } => acquire(world, now, who, takeover, force, interval_ms, beats),
        Op::Heartbeat { who, token } => {
            let token = world.token(who, token);
            heartbeat(world, now, &token);
        }
        Op::Release { who, token } => {
            let token = world.token(who, token);
            release(world, now, &token);
        }
        Op::Sweep => sweep(world, now),
        Op::Status => {
            let view = world.record.view(now);
            assert_eq!(view.fence, world.record.fence());
            let stale = world.record.held().map(|lease| lease.is_stale(now));
            assert_eq!(view.current.map(|current| current.stale), stale);
        }
        Op::Reload => {
            let text = serde_json::to_string(&world.record).unwrap();
            let reloaded: LeaseRecord = serde_json::from_str(&text).unwrap();
            assert_eq!(reloaded, world.record, "{text}");
            world.record = reloaded;
        }
    }
}

fn acquire(
    world: &mut World,
    now: UnixMillis,
    who: usize,
    takeover: bool,
    force: bool,
    interval_ms: i64,
    beats: i64,
) {
    let terms = match LeaseTerms::new(interval_ms, beats) {
        Ok(terms) => terms,
        Err(error) => {
            return assert_unchanged_by_error(
                &error,
                &[ErrorCode::InvalidInterval, ErrorCode::InvalidBeats],
            )
        }
    };
    world.issued += 1;
    let token = format!("tok-{who}-{}", world.issued);
    let (owner, session) = HOLDERS[who];
    let request = AcquireRequest {
        holder: Holder::new(owner, session).unwrap(),
        terms,
        takeover,
        force,
        token_digest: TokenDigest::of_token(&token).unwrap(),
    };
    let before = world.record.clone();
    let live_before = before.live(now).map(|lease| lease.holder().clone());

    let decision = match rules::acquire(&before, &request, now) {
        Ok(decision) => decision,
        Err(error) => {
            return assert_unchanged_by_error(
                &error,
                &[ErrorCode::TimeOutOfRange, ErrorCode::FenceOutOfRange],
            )
        }
    };

    match &decision.outcome {
        AcquireOutcome::Granted { lease, .. } => {
            if let Some(holder) = &live_before {
                let same_owner = holder.owner == request.holder.owner;
                assert!(
                    force || (same_owner && takeover),
                    "a live lease was taken without leave"
                );
            }
            let next = decision.next.as_ref().unwrap();
            assert_eq!(next.fence(), before.fence() + 1, "a grant adds exactly one");
            assert_eq!(lease.fence, next.fence());
            assert_eq!(decision.events.last().unwrap().fence, next.fence());
            world.grants += 1;
            world.tokens[who].push(token);
        }
        AcquireOutcome::Renewed { lease } => {
            assert_eq!(live_before.as_ref(), Some(&request.holder));
            assert_eq!(lease.fence, before.fence());
            world.tokens[who].push(token);
        }
        AcquireOutcome::Busy { holder, same_owner } => {
            let live = live_before.expect("busy only while a lease is live");
            assert_ne!(live, request.holder);
            assert_eq!(*same_owner, live.owner == request.holder.owner);
            assert_eq!(holder.owner, live.owner);
            assert!(
                !(force || (takeover && *same_owner)),
                "busy despite leave to take"
            );
            assert!(decision.next.is_none() && decision.events.is_empty());
        }
    }
    if let Some(next) = decision.next {
        world.record = next;
    }
}

fn heartbeat(world: &mut World, now: UnixMillis, token: &str) {
    let digest = TokenDigest::of_token(token).unwrap();
    let before = world.record.clone();

    let decision = match rules::heartbeat(&before, &digest, now) {
        Ok(decision) => decision,
        Err(error) => return assert_unchanged_by_error(&error, &[ErrorCode::TimeOutOfRange]),
    };

    assert!(decision.events.is_empty(), "heartbeats write no event");
    if decision.outcome.refusal().is_some() {
        assert!(decision.next.is_none());
        return;
    }
    let live = before.live(now).expect("only a live lease renews");
    assert!(live.token_digest().matches(&digest));
    let next = decision.next.unwrap();
    assert_eq!(next.fence(), before.fence());
    assert_eq!(next.held().unwrap().heartbeat_at(), now);
    assert_eq!(next.held().unwrap().acquired_at(), live.acquired_at());
    world.record = next;
}

fn release(world: &mut World, now: UnixMillis, token: &str) {
    let digest = TokenDigest::of_token(token).unwrap();
    let before = world.record.clone();

    let decision = rules::release(&before, &digest, now).unwrap();

    match decision.outcome {
        ReleaseOutcome::Released { .. } => {
            let held = before.held().expect("only a held lease is released");
            assert!(held.token_digest().matches(&digest));
            let next = decision.next.unwrap();
            assert_eq!(next.fence(), before.fence());
            assert!(next.held().is_none() && next.live(now).is_none());
            world.record = next;
        }
        _ => assert!(decision.next.is_none() && decision.events.is_empty()),
    }
}

fn sweep(world: &mut World, now: UnixMillis) {
    let before = world.record.clone();

    let decision = rules::sweep(&before, now).unwrap();

    match decision.outcome {
        SweepOutcome::Expired { .. } => {
            assert!(
                before.held().unwrap().is_stale(now),
                "a sweep ends only stale leases"
            );
            let next = decision.next.unwrap();
            assert_eq!(next.fence(), before.fence());
            assert_eq!(decision.events.len(), 1);
            world.record = next;
        }
        SweepOutcome::Untouched => {
            assert!(before.held().map_or(true, |lease| !lease.is_stale(now)));
            assert!(decision.next.is_none() && decision.events.is_empty());
        }
    }
}

/// The invariants that hold between any two steps.
fn check_world(world: &World, highest_fence: &mut u64) {
    assert!(
        world.record.fence() >= *highest_fence,
        "the fence went back"
    );
    *highest_fence = world.record.fence();
    assert_eq!(world.record.fence(), world.grants, "one fence per grant");

    let text = serde_json::to_string(&world.record).unwrap();
    let reloaded: LeaseRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(reloaded, world.record, "reload changed {text}");

    let Ok(now) = UnixMillis::new(world.now) else {
        return;
    };
    let accepted = world.accepted_tokens(now);
    assert!(accepted.len() <= 1, "several live tokens: {accepted:?}");
    if let Some((who, _)) = accepted.first() {
        let live = world
            .record
            .live(now)
            .expect("an accepted token means a live lease");
        let (owner, session) = HOLDERS[*who];
        assert_eq!(live.holder(), &Holder::new(owner, session).unwrap());
    }
}

proptest! {
    #[test]
    fn random_histories_of_three_holders_keep_every_lease_invariant(
        steps in prop::collection::vec((clock(), op()), 1..60),
    ) {
        let mut world = World::new();
        let mut highest_fence = 0;
        for (clock, op) in steps {
            world.tick(clock);
            apply(&mut world, op);
            check_world(&world, &mut highest_fence);
        }
    }

    #[test]
    fn any_input_replays_without_panic_and_keeps_the_replayer_invariants(
        steps in prop::collection::vec(arbitrary_step(), 1..30),
    ) {
        let scenario = Scenario {
            name: "generated".to_owned(),
            rules: Vec::new(),
            description: "generated by proptest".to_owned(),
            initial: None,
            steps,
            final_record: None,
        };

        // Steps state no expectation, so only the replayer's own invariants can fail.
        if let Err(mismatch) = replay(&scenario) {
            prop_assert!(false, "{}", mismatch);
        }
    }

    #[test]
    fn any_stored_record_either_loads_and_round_trips_or_is_refused(
        fence in prop_oneof![0..5u64, Just(MAX_SAFE_INTEGER as u64), Just(u64::MAX)],
        state in prop_oneof![Just("vacant"), Just("held"), Just("released"), Just("lost")],
        interval_ms in prop_oneof![Just(30_000i64), any::<i64>()],
        beats in prop_oneof![Just(3i64), any::<i64>()],
        acquired_at in prop_oneof![Just(T), any::<i64>()],
        heartbeat_at in prop_oneof![Just(T), Just(LAST_DATE_MS), any::<i64>()],
        reason in prop_oneof![Just("released"), Just("expired"), Just("gone")],
    ) {
        let stored = serde_json::json!({
            "fence": fence, "state": state, "owner": "alice", "session_id": "tab-1",
            "token_digest": TokenDigest::of_token("tok").unwrap().to_hex(),
            "interval_ms": interval_ms, "beats": beats, "acquired_at": acquired_at,
            "heartbeat_at": heartbeat_at, "end_reason": reason, "ended_at": T,
        });
        let stored = if state == "vacant" {
            serde_json::json!({"fence": fence, "state": state})
        } else if state == "held" {
            let mut held = stored;
            held.as_object_mut().unwrap().remove("end_reason");
            held.as_object_mut().unwrap().remove("ended_at");
            held
        } else {
            stored
        };

        if let Ok(record) = serde_json::from_value::<LeaseRecord>(stored) {
            prop_assert!(record.fence() <= MAX_SAFE_INTEGER as u64);
            let text = serde_json::to_string(&record).unwrap();
            let reloaded: LeaseRecord = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&reloaded, &record);
            let expiry = record.held().map(|lease| lease.expires_at().as_millis());
            prop_assert!(expiry.map_or(true, |ms| ms.unsigned_abs() <= MAX_SAFE_INTEGER as u64));
        }
    }
}

fn arbitrary_step() -> impl Strategy<Value = VectorStep> {
    let text = prop_oneof![
        4 => prop_oneof![Just("alice"), Just("tab-1"), Just("tok-a"), Just("bob")]
            .prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[ -~]{0,300}",
    ];
    let time = prop_oneof![
        4 => T - 200_000..T + 200_000,
        1 => any::<i64>(),
        1 => prop_oneof![
            Just(LAST_DATE_MS),
            Just(FIRST_DATE_MS),
            Just(MAX_SAFE_INTEGER),
            Just(-MAX_SAFE_INTEGER),
        ],
    ];
    let number = prop_oneof![3 => Just(30_000i64), 1 => any::<i64>(), 1 => -20..20i64];
    let name = prop_oneof![
        Just(OpName::Acquire),
        Just(OpName::Heartbeat),
        Just(OpName::Release),
        Just(OpName::Sweep),
        Just(OpName::Status),
        Just(OpName::Reload),
    ];
    (
        time,
        name,
        (text.clone(), text.clone(), text),
        (number.clone(), number),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(at, op, (owner, session_id, token), (interval_ms, beats), flags)| {
                let acquire = op == OpName::Acquire;
                let with_token =
                    matches!(op, OpName::Acquire | OpName::Heartbeat | OpName::Release);
                VectorStep {
                    at,
                    op,
                    owner: acquire.then_some(owner),
                    session_id: acquire.then_some(session_id),
                    interval_ms: acquire.then_some(interval_ms),
                    beats: acquire.then_some(beats),
                    takeover: acquire.then_some(flags.0),
                    force: acquire.then_some(flags.1),
                    token: with_token.then_some(token),
                    expect: None,
                    events: None,
                }
            },
        )
}
