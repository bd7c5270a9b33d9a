//! Client-side prediction: clock skew from round trips, and what the server will judge.
//!
//! The reference lease below was last stamped at server time 1 000 000 ms with a 30 s interval
//! and 3 beats: its next heartbeat is due at 1 030 000 and it is live up to 1 090 000 inclusive.

use leasekit_core::predict::DEFAULT_SAMPLE_MAX_AGE_MS;
use leasekit_core::{
    predict, rules, AcquireRequest, ErrorCode, Holder, LeaseRecord, LeaseTerms, LeaseTiming,
    PredictedState, Prediction, SkewEstimate, SkewEstimator, SkewSample, TokenDigest, UnixMillis,
    MAX_SAFE_INTEGER,
};
use proptest::prelude::*;

const HEARTBEAT_AT: i64 = 1_000_000;
const DUE_AT: i64 = 1_030_000;
const EXPIRES_AT: i64 = 1_090_000;
const LAST_DATE_MS: i64 = 8_210_266_876_799_999;

fn at(ms: i64) -> UnixMillis {
    UnixMillis::new(ms).unwrap()
}

fn sample(sent: i64, server: i64, received: i64) -> SkewSample {
    SkewSample {
        sent_at: at(sent),
        server_time: at(server),
        received_at: at(received),
    }
}

fn skew(offset_ms: i64, uncertainty_ms: i64) -> SkewEstimate {
    SkewEstimate {
        offset_ms,
        uncertainty_ms,
        observed_at: UnixMillis::EPOCH,
    }
}

fn reference_lease() -> LeaseTiming {
    LeaseTiming {
        heartbeat_at: at(HEARTBEAT_AT),
        interval_ms: 30_000,
        stale_after_ms: 90_000,
    }
}

fn predict_at(skew: &SkewEstimate, local_now: i64, margin_ms: i64) -> Prediction {
    predict(&reference_lease(), skew, at(local_now), margin_ms).unwrap()
}

fn state_at(skew: &SkewEstimate, local_now: i64, margin_ms: i64) -> PredictedState {
    predict_at(skew, local_now, margin_ms).state
}

// Skew from one sample.

#[test]
fn skew_offset_is_server_time_minus_round_trip_midpoint() {
    let estimate = SkewEstimate::from_sample(sample(0, 5_050, 100)).unwrap();

    assert_eq!((estimate.offset_ms, estimate.uncertainty_ms), (5_000, 50));
    assert_eq!(estimate.observed_at, at(100));
}

#[test]
fn odd_round_trip_rounds_the_uncertainty_up() {
    let estimate = SkewEstimate::from_sample(sample(0, 1_000, 101)).unwrap();

    assert_eq!((estimate.offset_ms, estimate.uncertainty_ms), (950, 51));
    // The server stamped somewhere in [0, 101]: the true offset lies in [899, 1000].
    assert!(estimate.offset_ms - estimate.uncertainty_ms <= 899);
    assert!(estimate.offset_ms + estimate.uncertainty_ms >= 1_000);
}

#[test]
fn server_clock_behind_gives_a_negative_offset() {
    let estimate = SkewEstimate::from_sample(sample(10_000, 4_000, 10_200)).unwrap();

    assert_eq!((estimate.offset_ms, estimate.uncertainty_ms), (-6_100, 100));
}

#[test]
fn instant_round_trip_has_no_uncertainty() {
    let estimate = SkewEstimate::from_sample(sample(500, 800, 500)).unwrap();

    assert_eq!((estimate.offset_ms, estimate.uncertainty_ms), (300, 0));
}

#[test]
fn sample_received_before_it_was_sent_is_an_invalid_sample() {
    let error = SkewEstimate::from_sample(sample(1_000, 5_000, 999)).unwrap_err();

    assert_eq!(error.code(), ErrorCode::InvalidSample);
    let message = error.to_string();
    assert!(
        message.contains("999") && message.contains("1000"),
        "{message}"
    );
}

// Keeping the best recent sample.

#[test]
fn estimator_starts_empty_and_adopts_its_first_sample() {
    let mut estimator = SkewEstimator::default();
    assert_eq!(estimator.estimate(), None);

    let first = estimator.observe(sample(0, 5_050, 100)).unwrap();

    assert_eq!(estimator.estimate(), Some(first));
    assert_eq!(first.offset_ms, 5_000);
}

#[test]
fn estimator_keeps_a_more_certain_recent_sample_over_a_slower_one() {
    let mut estimator = SkewEstimator::new(DEFAULT_SAMPLE_MAX_AGE_MS);
    let best = estimator.observe(sample(0, 5_050, 100)).unwrap();

    let kept = estimator.observe(sample(1_000, 6_400, 1_800)).unwrap();

    assert_eq!(kept, best);
    assert_eq!(estimator.estimate(), Some(best));
}

#[test]
fn estimator_takes_a_more_certain_sample_at_once() {
    let mut estimator = SkewEstimator::default();
    estimator.observe(sample(0, 5_100, 200)).unwrap();

    let better = estimator.observe(sample(1_000, 6_010, 1_020)).unwrap();

    assert_eq!((better.offset_ms, better.uncertainty_ms), (5_000, 10));
}

#[test]
fn estimator_prefers_the_newer_of_equally_certain_samples() {
    let mut estimator = SkewEstimator::default();
    estimator.observe(sample(0, 5_050, 100)).unwrap();

    let newer = estimator.observe(sample(1_000, 7_050, 1_100)).unwrap();

    assert_eq!((newer.offset_ms, newer.observed_at), (6_000, at(1_100)));
}

#[test]
fn estimator_drops_its_best_sample_once_older_than_max_age() {
    let mut estimator = SkewEstimator::new(300_000);
    let best = estimator.observe(sample(0, 5_050, 100)).unwrap();

    let at_max_age = estimator
        .observe(sample(299_100, 304_600, 300_100))
        .unwrap();
    assert_eq!(at_max_age, best, "exactly max_age old is still recent");

    let past_max_age = estimator
        .observe(sample(299_101, 304_601, 300_101))
        .unwrap();
    assert_eq!(past_max_age.uncertainty_ms, 500);
    assert_eq!(past_max_age.observed_at, at(300_101));
}

#[test]
fn negative_max_age_counts_as_zero() {
    let mut estimator = SkewEstimator::new(-5);
    let best = estimator.observe(sample(0, 5_050, 100)).unwrap();

    assert_eq!(estimator.observe(sample(-300, 5_400, 100)).unwrap(), best);
    let later = estimator.observe(sample(-299, 5_400, 101)).unwrap();
    assert_eq!(later.observed_at, at(101));
}

#[test]
fn estimator_refuses_an_invalid_sample_and_keeps_its_estimate() {
    let mut estimator = SkewEstimator::default();
    let best = estimator.observe(sample(0, 5_050, 100)).unwrap();

    let error = estimator.observe(sample(200, 5_000, 100)).unwrap_err();

    assert_eq!(error.code(), ErrorCode::InvalidSample);
    assert_eq!(estimator.estimate(), Some(best));
}

// The holder's view with a perfectly known clock.

#[test]
fn holder_is_held_until_the_heartbeat_falls_due() {
    let prediction = predict_at(&SkewEstimate::exact(), DUE_AT - 1, 0);

    assert_eq!(prediction.state, PredictedState::Held);
    assert_eq!(prediction.server_now, DUE_AT - 1);
    assert_eq!(prediction.heartbeat_due_in_ms, 1);
    assert_eq!(prediction.holder_stale_in_ms, EXPIRES_AT - DUE_AT + 1);
    assert_eq!(prediction.takeover_in_ms, EXPIRES_AT + 1 - (DUE_AT - 1));
    assert_eq!(prediction.latest_live_local, EXPIRES_AT);
}

#[test]
fn holder_is_due_from_the_interval_until_the_last_millisecond_before_expiry() {
    let exact = SkewEstimate::exact();

    let due = predict_at(&exact, DUE_AT, 0);
    assert_eq!(
        (due.state, due.heartbeat_due_in_ms),
        (PredictedState::Due, 0)
    );

    let last_due = predict_at(&exact, EXPIRES_AT - 1, 0);
    assert_eq!(
        (last_due.state, last_due.holder_stale_in_ms),
        (PredictedState::Due, 1)
    );
}

#[test]
fn holder_is_in_doubt_at_the_last_live_millisecond() {
    let prediction = predict_at(&SkewEstimate::exact(), EXPIRES_AT, 0);

    // The server still says live, but a heartbeat sent now arrives too late.
    assert_eq!(prediction.state, PredictedState::InDoubt);
    assert_eq!(prediction.holder_stale_in_ms, 0);
    assert_eq!(prediction.takeover_in_ms, 1);
}

#[test]
fn lease_is_expired_once_the_server_certainly_judges_it_stale() {
    let prediction = predict_at(&SkewEstimate::exact(), EXPIRES_AT + 1, 0);

    assert_eq!(prediction.state, PredictedState::Expired);
    assert_eq!(
        (prediction.holder_stale_in_ms, prediction.takeover_in_ms),
        (0, 0)
    );
}

#[test]
fn safety_margin_brings_doubt_forward() {
    let exact = SkewEstimate::exact();

    assert_eq!(
        state_at(&exact, EXPIRES_AT - 5_001, 5_000),
        PredictedState::Due
    );
    assert_eq!(
        state_at(&exact, EXPIRES_AT - 5_000, 5_000),
        PredictedState::InDoubt
    );
    assert_eq!(
        predict_at(&exact, EXPIRES_AT - 5_001, 5_000).holder_stale_in_ms,
        1
    );
}

// Skewed clocks.

#[test]
fn skewed_holder_doubts_as_soon_as_the_fastest_possible_server_clock_reaches_expiry() {
    // Server 2000 ms ahead, give or take 500.
    let ahead = skew(2_000, 500);

    assert_eq!(state_at(&ahead, DUE_AT - 2_501, 0), PredictedState::Held);
    assert_eq!(state_at(&ahead, DUE_AT - 2_500, 0), PredictedState::Due);
    assert_eq!(state_at(&ahead, EXPIRES_AT - 2_501, 0), PredictedState::Due);
    assert_eq!(
        state_at(&ahead, EXPIRES_AT - 2_500, 0),
        PredictedState::InDoubt
    );
    assert_eq!(predict_at(&ahead, 0, 0).server_now, 2_000);
}

#[test]
fn waiter_may_take_over_only_after_the_latest_instant_the_lease_can_be_live() {
    let ahead = skew(2_000, 500);
    let latest = EXPIRES_AT - 2_000 + 500;

    let last_live = predict_at(&ahead, latest, 0);
    assert_eq!(last_live.latest_live_local, latest);
    assert_eq!(last_live.state, PredictedState::InDoubt);
    assert_eq!(last_live.takeover_in_ms, 1);

    let after = predict_at(&ahead, latest + 1, 0);
    assert_eq!(after.state, PredictedState::Expired);
    assert_eq!(after.takeover_in_ms, 0);
}

#[test]
fn waiter_countdown_shrinks_one_for_one_with_local_time() {
    let behind = skew(-7_000, 250);

    let earlier = predict_at(&behind, 1_000_000, 0);
    let later = predict_at(&behind, 1_010_000, 0);

    assert_eq!(earlier.takeover_in_ms - later.takeover_in_ms, 10_000);
    assert_eq!(
        earlier.latest_live_local,
        EXPIRES_AT + 7_000 + 250,
        "a slow server clock lets the lease live longer in local time"
    );
    assert_eq!(
        earlier.latest_live_local + 1 - 1_000_000,
        earlier.takeover_in_ms
    );
}

#[test]
fn negative_uncertainty_counts_as_none() {
    let odd = skew(0, -400);

    assert_eq!(
        predict_at(&odd, EXPIRES_AT, 0).latest_live_local,
        EXPIRES_AT
    );
    assert_eq!(state_at(&odd, EXPIRES_AT + 1, 0), PredictedState::Expired);
}

#[test]
fn timing_taken_from_a_holder_view_predicts_that_lease() {
    let request = AcquireRequest {
        holder: Holder::new("alice", "tab-1").unwrap(),
        terms: LeaseTerms::new(10_000, 2).unwrap(),
        takeover: false,
        force: false,
        token_digest: TokenDigest::of_token("tok-alice-1").unwrap(),
    };
    let record = rules::acquire(&LeaseRecord::vacant(), &request, at(5_000))
        .unwrap()
        .next
        .unwrap();
    let view = record.view(at(5_000)).current.unwrap();

    let timing = LeaseTiming::from(&view);

    assert_eq!(timing.heartbeat_at, at(5_000));
    assert_eq!(
        (timing.interval_ms, timing.stale_after_ms),
        (10_000, 20_000)
    );
    let exact = SkewEstimate::exact();
    let prediction = predict(&timing, &exact, at(25_000), 0).unwrap();
    assert_eq!(prediction.latest_live_local, 25_000);
}

// Bad input.

#[test]
fn margin_outside_zero_to_one_day_is_an_invalid_margin() {
    let exact = SkewEstimate::exact();
    let lease = reference_lease();

    assert!(predict(&lease, &exact, at(DUE_AT), 0).is_ok());
    assert!(predict(&lease, &exact, at(DUE_AT), 86_400_000).is_ok());
    for bad in [-1, 86_400_001, i64::MIN, i64::MAX] {
        let error = predict(&lease, &exact, at(DUE_AT), bad).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidMargin);
        assert!(error.to_string().contains(&bad.to_string()), "{error}");
    }
}

#[test]
fn skew_beyond_the_safe_range_is_refused_by_name() {
    let lease = reference_lease();

    for (estimate, field) in [
        (skew(MAX_SAFE_INTEGER + 1, 0), "offset_ms"),
        (skew(i64::MIN, 0), "offset_ms"),
        (skew(0, i64::MAX), "uncertainty_ms"),
    ] {
        let error = predict(&lease, &estimate, at(DUE_AT), 0).unwrap_err();
        assert_eq!(error.code(), ErrorCode::TimeOutOfRange);
        assert!(error.to_string().starts_with(field), "{error}");
    }
}

#[test]
fn results_beyond_any_date_are_refused_by_name() {
    let lease = reference_lease();
    let late = LeaseTiming {
        heartbeat_at: at(LAST_DATE_MS - 10),
        ..reference_lease()
    };

    let cases = [
        (
            predict(&late, &SkewEstimate::exact(), at(0), 0),
            "expires_at",
        ),
        (
            predict(&lease, &skew(1_000_000_000_000_000, 0), at(LAST_DATE_MS), 0),
            "server_now",
        ),
        (
            predict(&lease, &skew(-LAST_DATE_MS, 0), at(0), 0),
            "latest_live_local",
        ),
    ];

    for (result, field) in cases {
        let error = result.unwrap_err();
        assert_eq!(error.code(), ErrorCode::TimeOutOfRange, "{field}");
        assert!(error.to_string().starts_with(field), "{error}");
    }
}

#[test]
fn extreme_but_valid_inputs_never_panic() {
    let timings = [
        reference_lease(),
        LeaseTiming {
            heartbeat_at: at(LAST_DATE_MS),
            interval_ms: i64::MIN,
            stale_after_ms: i64::MIN,
        },
        LeaseTiming {
            heartbeat_at: at(-LAST_DATE_MS),
            interval_ms: i64::MAX,
            stale_after_ms: i64::MAX,
        },
    ];
    let skews = [
        skew(MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
        skew(-MAX_SAFE_INTEGER, 0),
    ];

    let mut answered = 0;
    for timing in &timings {
        for estimate in &skews {
            for local in [LAST_DATE_MS, -LAST_DATE_MS, 0] {
                match predict(timing, estimate, at(local), 86_400_000) {
                    Ok(prediction) => {
                        assert!(prediction.server_now.unsigned_abs() <= LAST_DATE_MS as u64);
                        answered += 1;
                    }
                    Err(error) => assert_eq!(error.code(), ErrorCode::TimeOutOfRange),
                }
            }
        }
    }
    assert!(
        answered > 0,
        "some extreme but representable inputs have an answer"
    );
}

// The promises, over random clocks.

prop_compose! {
    /// A lease, a true clock offset, and a skew estimate measured honestly from one round trip.
    fn measured_world()(
        heartbeat_at in -1_000_000_000_000i64..4_000_000_000_000,
        interval_ms in 1_000i64..=86_400_000,
        beats in 2i64..=10,
        true_offset in -100_000_000i64..100_000_000,
        sent in -1_000_000_000_000i64..4_000_000_000_000,
        round_trip in 0i64..10_000,
        stamp_fraction in 0.0f64..=1.0,
    ) -> (LeaseTiming, i64, SkewEstimate) {
        let stamped_local = sent + (round_trip as f64 * stamp_fraction) as i64;
        let measured = sample(sent, stamped_local + true_offset, sent + round_trip);
        let timing = LeaseTiming {
            heartbeat_at: at(heartbeat_at),
            interval_ms,
            stale_after_ms: interval_ms * beats,
        };
        (timing, true_offset, SkewEstimate::from_sample(measured).unwrap())
    }
}

proptest! {
    #[test]
    fn honest_estimate_brackets_the_true_offset((_, true_offset, estimate) in measured_world()) {
        prop_assert!(estimate.offset_ms - estimate.uncertainty_ms <= true_offset);
        prop_assert!(true_offset <= estimate.offset_ms + estimate.uncertainty_ms);
    }

    #[test]
    fn holder_never_hears_held_or_due_when_the_server_might_judge_stale(
        (timing, true_offset, estimate) in measured_world(),
        before_expiry in -200_000i64..200_000,
        margin_ms in 0i64..=10_000,
    ) {
        let expires = timing.heartbeat_at.as_millis() + timing.stale_after_ms;
        let local_now = expires - true_offset - before_expiry;

        let prediction = predict(&timing, &estimate, at(local_now), margin_ms).unwrap();

        let server_now = local_now + true_offset;
        if matches!(prediction.state, PredictedState::Held | PredictedState::Due) {
            prop_assert!(server_now + margin_ms < expires, "{prediction:?}");
        }
        if prediction.state == PredictedState::Expired {
            prop_assert!(server_now > expires, "expired while the server says live");
        }
        if server_now > expires + 2 * estimate.uncertainty_ms {
            prop_assert_eq!(prediction.state, PredictedState::Expired);
        }
    }

    #[test]
    fn waiter_sees_expired_exactly_after_latest_live_local(
        (timing, true_offset, estimate) in measured_world(),
    ) {
        let expires = timing.heartbeat_at.as_millis() + timing.stale_after_ms;
        let probe = predict(&timing, &estimate, at(expires - true_offset), 0).unwrap();
        let latest = probe.latest_live_local;

        let last_live = predict(&timing, &estimate, at(latest), 0).unwrap();
        let first_expired = predict(&timing, &estimate, at(latest + 1), 0).unwrap();

        prop_assert_ne!(last_live.state, PredictedState::Expired);
        prop_assert_eq!(last_live.takeover_in_ms, 1);
        prop_assert_eq!(first_expired.state, PredictedState::Expired);
        prop_assert_eq!(first_expired.takeover_in_ms, 0);
        prop_assert!(latest + true_offset >= expires, "the server may still be live then");
    }
}
