// Offline prediction through the module: clock skew from round trips, the four states, the
// holder's conservative view and the waiter's certain one.
//
// The reference lease was last stamped at server time 1 000 000 ms with a 30 s interval and 3
// beats: its next heartbeat is due at 1 030 000 and it is live up to 1 090 000 inclusive.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { assertLeaseError, leasekit } from "./support.mjs";

const { SkewEstimator, predict, parseGrant } = leasekit;

const HEARTBEAT_AT = 1_000_000;
const DUE_AT = 1_030_000;
const EXPIRES_AT = 1_090_000;
const lease = { heartbeat_at: HEARTBEAT_AT, interval_ms: 30_000, stale_after_ms: 90_000 };
const skew = (offset_ms, uncertainty_ms) => ({ offset_ms, uncertainty_ms, observed_at: 0 });

describe("the skew estimator", () => {
  test("offset is server time minus the round trip's midpoint, uncertainty half of it", () => {
    const estimator = new SkewEstimator();

    const estimate = estimator.observe(0, 5_050, 100);
    assert.deepEqual(estimate, { offset_ms: 5_000, uncertainty_ms: 50, observed_at: 100 });
    assert.deepEqual(estimator.estimate(), estimate);
  });

  test("has no estimate before the first sample", () => {
    assert.equal(new SkewEstimator().estimate(), null);
  });

  test("an odd round trip rounds the uncertainty up", () => {
    const estimate = new SkewEstimator().observe(0, 1_000, 101);

    assert.equal(estimate.offset_ms, 950);
    assert.equal(estimate.uncertainty_ms, 51);
  });

  test("a slower round trip does not replace a recent, more certain sample", () => {
    const estimator = new SkewEstimator(300_000);
    const first = estimator.observe(0, 5_050, 100);

    assert.deepEqual(estimator.observe(1_000, 6_400, 1_800), first);
  });

  test("a better sample replaces the current one at once", () => {
    const estimator = new SkewEstimator();
    estimator.observe(0, 5_400, 800);

    const better = estimator.observe(1_000, 6_010, 1_020);
    assert.deepEqual(better, { offset_ms: 5_000, uncertainty_ms: 10, observed_at: 1_020 });
  });

  test("after maxAgeMs a newer sample replaces the best one even if less certain", () => {
    const estimator = new SkewEstimator(10_000);
    estimator.observe(0, 5_050, 100);

    const later = estimator.observe(20_000, 25_500, 21_000);
    assert.deepEqual(later, { offset_ms: 5_000, uncertainty_ms: 500, observed_at: 21_000 });
  });

  test("a sample received before it was sent is refused", () => {
    const estimator = new SkewEstimator();

    assertLeaseError(() => estimator.observe(1_000, 5_000, 999), { code: "invalid_sample" });
    assert.equal(estimator.estimate(), null, "a refused sample changes nothing");
  });

  test("sample times must be safe whole milliseconds", () => {
    const estimator = new SkewEstimator();
    for (const bad of [NaN, Infinity, 1.5, 2 ** 53, "5"]) {
      assertLeaseError(() => estimator.observe(0, bad, 10), {
        code: "time_out_of_range",
        field: "server_time",
      });
    }
  });
});

describe("predict", () => {
  const stateAt = (localNow, estimate = null, marginMs = 0) =>
    predict(lease, estimate, localNow, marginMs).state;

  test("walks through held, due, in_doubt and expired on a shared clock", () => {
    assert.equal(stateAt(HEARTBEAT_AT), "held");
    assert.equal(stateAt(DUE_AT - 1), "held");
    assert.equal(stateAt(DUE_AT), "due");
    assert.equal(stateAt(EXPIRES_AT - 1), "due");
    assert.equal(stateAt(EXPIRES_AT), "in_doubt", "the last live instant is already doubtful");
    assert.equal(stateAt(EXPIRES_AT + 1), "expired");
  });

  test("countdowns are exact on a shared clock", () => {
    const prediction = predict(lease, null, 1_010_000, 0);

    assert.deepEqual(prediction, {
      state: "held",
      server_now: 1_010_000,
      holder_stale_in_ms: EXPIRES_AT - 1_010_000,
      takeover_in_ms: EXPIRES_AT + 1 - 1_010_000,
      heartbeat_due_in_ms: DUE_AT - 1_010_000,
      latest_live_local: EXPIRES_AT,
    });
  });

  test("a server clock ahead moves every local deadline earlier", () => {
    const ahead = skew(10_000, 0);

    assert.equal(stateAt(EXPIRES_AT - 10_001, ahead), "due");
    assert.equal(stateAt(EXPIRES_AT - 10_000, ahead), "in_doubt");
    assert.equal(stateAt(EXPIRES_AT - 9_999, ahead), "expired");
    assert.equal(predict(lease, ahead, 0, 0).latest_live_local, EXPIRES_AT - 10_000);
  });

  test("uncertainty makes the holder doubt earlier and the waiter wait longer", () => {
    const unsure = skew(0, 500);

    assert.equal(stateAt(EXPIRES_AT - 501, unsure), "due");
    assert.equal(stateAt(EXPIRES_AT - 500, unsure), "in_doubt");
    assert.equal(stateAt(EXPIRES_AT + 500, unsure), "in_doubt");
    assert.equal(stateAt(EXPIRES_AT + 501, unsure), "expired");

    const early = predict(lease, unsure, HEARTBEAT_AT, 0);
    assert.equal(early.holder_stale_in_ms, EXPIRES_AT - 500 - HEARTBEAT_AT);
    assert.equal(early.takeover_in_ms, EXPIRES_AT + 501 - HEARTBEAT_AT);
    assert.equal(early.latest_live_local, EXPIRES_AT + 500);
  });

  test("the safety margin widens only the holder's doubt", () => {
    const withMargin = predict(lease, skew(0, 100), EXPIRES_AT - 2_100, 2_000);
    assert.equal(withMargin.state, "in_doubt");
    assert.equal(withMargin.holder_stale_in_ms, 0);
    assert.equal(withMargin.takeover_in_ms, 2_101 + 100);

    assert.equal(stateAt(EXPIRES_AT - 2_101, skew(0, 100), 2_000), "due");
  });

  test("the holder never hears held or due while the server may already judge it stale", () => {
    for (const uncertainty of [0, 1, 250, 5_000]) {
      for (const offset of [-60_000, -1, 0, 7, 45_000]) {
        for (let localNow = 900_000; localNow <= 1_200_000; localNow += 997) {
          const margin = 1_000;
          const p = predict(lease, skew(offset, uncertainty), localNow, margin);
          const latestServerNow = p.server_now + uncertainty;
          if (p.state === "held" || p.state === "due") {
            assert.ok(latestServerNow + margin < EXPIRES_AT, JSON.stringify({ p, offset }));
            assert.ok(p.holder_stale_in_ms > 0);
          }
          if (p.state === "expired") {
            assert.ok(p.server_now - uncertainty > EXPIRES_AT, "expired only when certain");
            assert.equal(p.takeover_in_ms, 0);
          } else {
            assert.ok(p.takeover_in_ms > 0, "a waiter keeps waiting until certain");
          }
        }
      }
    }
  });

  test("takes its timing from a parsed grant and follows its countdown", () => {
    const grant = parseGrant(
      JSON.stringify({
        project_id: "apollo",
        owner: "alice",
        session_id: "tab-1",
        lease_id: "tok-alice-1",
        fence: 3,
        acquired_at: "2023-11-14T22:13:20.000Z",
        heartbeat_at: "2023-11-14T22:13:20.000Z",
        expires_at: "2023-11-14T22:13:35.000Z",
        heartbeat_interval_s: 5,
        stale_after_s: 15,
        server_time: "2023-11-14T22:13:20.050Z",
        previous: null,
      }),
    );
    const estimator = new SkewEstimator();
    const sentAt = 1_699_999_990_000; // the local clock is 10 s behind the server's
    const estimate = estimator.observe(sentAt, grant.server_time, sentAt + 100);

    const p = predict(grant.timing, estimate, sentAt + 100, 1_000);
    assert.equal(p.state, "held");
    assert.equal(estimate.offset_ms, 10_000);
    assert.equal(p.heartbeat_due_in_ms, 5_000 - 100 - 50);
    assert.equal(p.latest_live_local, grant.expires_at - 10_000 + 50);
  });

  test("refuses bad margins, timings and times with their codes", () => {
    assertLeaseError(() => predict(lease, null, 0, -1), { code: "invalid_margin" });
    assertLeaseError(() => predict(lease, null, 0, 86_400_001), { code: "invalid_margin" });
    assertLeaseError(() => predict(lease, null, 0, 0.5), { code: "invalid_margin" });
    assertLeaseError(() => predict(lease, null, NaN, 0), {
      code: "time_out_of_range",
      field: "local_now",
    });
    assertLeaseError(() => predict({ ...lease, interval_ms: 0 }, null, 0, 0), {
      code: "invalid_interval",
    });
    assertLeaseError(() => predict({ ...lease, stale_after_ms: 100_000 }, null, 0, 0), {
      code: "invalid_document",
      field: "stale_after_ms",
    });
    assertLeaseError(() => predict({ ...lease, extra: 1 }, null, 0, 0), {
      code: "invalid_document",
      field: "timing",
    });
    assertLeaseError(() => predict(lease, { offset_ms: 1e300, uncertainty_ms: 0 }, 0, 0), {
      code: "time_out_of_range",
      field: "offset_ms",
    });
  });
});
