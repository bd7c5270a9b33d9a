//! Nanoseconds per decision of the pure core, for `bench/run.py` (issue 8, measurement 1).
//!
//! Each benchmark asks the core one question on a record built once outside the timed loop, so
//! the figures are the cost of the rule itself: no clock, no storage, no binding. The runner
//! reads criterion's estimates from `target/criterion/<group>/<name>/new/estimates.json`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use leasekit_core::rules::{acquire, heartbeat, release};
use leasekit_core::{
    predict, AcquireRequest, Holder, Lease, LeaseRecord, LeaseState, LeaseTerms, LeaseTiming,
    SkewEstimate, TokenDigest, UnixMillis,
};

const GRANTED_AT_MS: i64 = 1_800_000_000_000;
const INTERVAL_MS: i64 = 30_000;

fn at(ms: i64) -> UnixMillis {
    UnixMillis::new(ms).expect("a benchmark instant is in range")
}

fn digest(token: &str) -> TokenDigest {
    TokenDigest::of_token(token).expect("a benchmark token is valid")
}

fn holder(owner: &str, session_id: &str) -> Holder {
    Holder::new(owner, session_id).expect("a benchmark holder is valid")
}

/// A record held by alice since `GRANTED_AT_MS`, fence 7, beating every 30 s.
fn held_record() -> LeaseRecord {
    let terms = LeaseTerms::with_interval(INTERVAL_MS).expect("30 s is a valid interval");
    let granted = at(GRANTED_AT_MS);
    let lease = Lease::new(
        holder("alice", "tab-1"),
        digest("alice-token"),
        terms,
        granted,
        granted,
    )
    .expect("the lease is in range");
    LeaseRecord::new(7, LeaseState::Held(lease)).expect("fence 7 is valid")
}

fn request(owner: &str, session_id: &str) -> AcquireRequest {
    AcquireRequest {
        holder: holder(owner, session_id),
        terms: LeaseTerms::with_interval(INTERVAL_MS).expect("30 s is a valid interval"),
        takeover: false,
        force: false,
        token_digest: digest("new-token"),
    }
}

fn acquire_benches(c: &mut Criterion) {
    let vacant = LeaseRecord::vacant();
    let held = held_record();
    let bob = request("bob", "laptop");
    let live_now = at(GRANTED_AT_MS + INTERVAL_MS);
    let stale_now = at(GRANTED_AT_MS + 4 * INTERVAL_MS);

    let mut group = c.benchmark_group("acquire");
    group.bench_function("grant_vacant", |b| {
        b.iter(|| acquire(black_box(&vacant), black_box(&bob), black_box(live_now)));
    });
    group.bench_function("refuse_busy", |b| {
        b.iter(|| acquire(black_box(&held), black_box(&bob), black_box(live_now)));
    });
    group.bench_function("evict_stale", |b| {
        b.iter(|| acquire(black_box(&held), black_box(&bob), black_box(stale_now)));
    });
    group.finish();
}

fn heartbeat_benches(c: &mut Criterion) {
    let held = held_record();
    let token = digest("alice-token");
    let stranger = digest("stranger-token");
    let live_now = at(GRANTED_AT_MS + INTERVAL_MS);
    let stale_now = at(GRANTED_AT_MS + 4 * INTERVAL_MS);

    let mut group = c.benchmark_group("heartbeat");
    group.bench_function("renew", |b| {
        b.iter(|| heartbeat(black_box(&held), black_box(&token), black_box(live_now)));
    });
    group.bench_function("refuse_expired", |b| {
        b.iter(|| heartbeat(black_box(&held), black_box(&token), black_box(stale_now)));
    });
    group.bench_function("refuse_lost", |b| {
        b.iter(|| heartbeat(black_box(&held), black_box(&stranger), black_box(live_now)));
    });
    group.finish();
}

fn release_benches(c: &mut Criterion) {
    let held = held_record();
    let token = digest("alice-token");
    let live_now = at(GRANTED_AT_MS + INTERVAL_MS);

    let mut group = c.benchmark_group("release");
    group.bench_function("release_live", |b| {
        b.iter(|| release(black_box(&held), black_box(&token), black_box(live_now)));
    });
    group.finish();
}

fn predict_benches(c: &mut Criterion) {
    let timing = LeaseTiming {
        heartbeat_at: at(GRANTED_AT_MS),
        interval_ms: INTERVAL_MS,
        stale_after_ms: 3 * INTERVAL_MS,
    };
    let skew = SkewEstimate {
        offset_ms: -250,
        uncertainty_ms: 40,
        observed_at: at(GRANTED_AT_MS),
    };
    let local_now = at(GRANTED_AT_MS + 45_000);

    let mut group = c.benchmark_group("predict");
    group.bench_function("holder_view", |b| {
        b.iter(|| {
            predict(
                black_box(&timing),
                black_box(&skew),
                black_box(local_now),
                black_box(2_000),
            )
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    acquire_benches,
    heartbeat_benches,
    release_benches,
    predict_benches
);
criterion_main!(benches);
