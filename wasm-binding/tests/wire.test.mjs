// The service's grant and status bodies through the module: accepted shapes, converted times,
// and refusals that name the field.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { assertLeaseError, leasekit } from "./support.mjs";

const { parseGrant, parseStatus } = leasekit;

const T = Date.parse("2023-11-14T22:13:20.000Z");

const grantBody = (changes = {}) =>
  JSON.stringify({
    project_id: "apollo",
    owner: "alice",
    session_id: "tab-1",
    lease_id: "tok-alice-1",
    fence: 7,
    acquired_at: "2023-11-14T22:13:20.000Z",
    heartbeat_at: "2023-11-14T22:14:20.000Z",
    expires_at: "2023-11-14T22:17:20.000Z",
    heartbeat_interval_s: 60,
    stale_after_s: 180,
    server_time: "2023-11-14T22:14:20.042Z",
    previous: { owner: "bob", session_id: "laptop", fence: 6, ended: "taken_over" },
    ...changes,
  });

const statusBody = (changes = {}) =>
  JSON.stringify({
    project_id: "apollo",
    held: true,
    owner: "alice",
    session_id: "tab-1",
    fence: 7,
    acquired_at: "2023-11-14T22:13:20.000Z",
    heartbeat_at: "2023-11-14T22:14:20.000Z",
    expires_at: "2023-11-14T22:17:20.000Z",
    heartbeat_interval_s: 60,
    stale: false,
    server_time: "2023-11-14T22:14:21.000Z",
    ...changes,
  });

describe("parseGrant", () => {
  test("reads every field, with times as UTC milliseconds and the timing for predict", () => {
    assert.deepEqual(parseGrant(grantBody()), {
      project_id: "apollo",
      owner: "alice",
      session_id: "tab-1",
      lease_id: "tok-alice-1",
      fence: 7,
      acquired_at: T,
      heartbeat_at: T + 60_000,
      expires_at: T + 240_000,
      heartbeat_interval_s: 60,
      stale_after_s: 180,
      server_time: T + 60_042,
      previous: { owner: "bob", session_id: "laptop", fence: 6, ended: "taken_over" },
      timing: { heartbeat_at: T + 60_000, interval_ms: 60_000, stale_after_ms: 180_000 },
    });
  });

  test("reads terms that are not whole seconds to the millisecond", () => {
    const grant = parseGrant(
      grantBody({
        heartbeat_interval_s: 1.5,
        stale_after_s: 4.5,
        expires_at: "2023-11-14T22:14:24.500Z",
      }),
    );

    assert.deepEqual(grant.timing, {
      heartbeat_at: T + 60_000,
      interval_ms: 1_500,
      stale_after_ms: 4_500,
    });
    assert.equal(grant.heartbeat_interval_s, 1.5);
  });

  test("ignores fields a newer service may add", () => {
    assert.equal(parseGrant(grantBody({ region: { zones: [1, 2] } })).fence, 7);
  });

  test("names each missing, mistyped or inconsistent field", () => {
    const cases = [
      [{ project_id: undefined }, "project_id"],
      [{ owner: 42 }, "owner"],
      [{ lease_id: "with space" }, "lease_id"],
      [{ fence: 0 }, "fence"],
      [{ fence: 1.5 }, "fence"],
      [{ heartbeat_at: "2023-11-14" }, "heartbeat_at"],
      [{ heartbeat_interval_s: 0 }, "heartbeat_interval_s"],
      [{ stale_after_s: 150 }, "stale_after_s"],
      [{ expires_at: "2023-11-14T22:17:20.001Z" }, "expires_at"],
      [{ server_time: null }, "server_time"],
      [{ previous: { owner: "bob", session_id: "x", fence: 6, ended: "gone" } }, "previous.ended"],
    ];
    for (const [changes, field] of cases) {
      assertLeaseError(() => parseGrant(grantBody(changes)), { code: "invalid_document", field });
    }
  });

  test("never quotes the lease token in an error", () => {
    const error = assertLeaseError(() => parseGrant(grantBody({ lease_id: "secret token" })));
    assert.ok(!error.message.includes("secret"), error.message);
  });

  test("refuses a 409 envelope, which is not a grant", () => {
    const envelope = JSON.stringify({
      error: "project_locked",
      code: "PROJECT_LOCKED",
      message: "held",
      details: [],
    });
    assertLeaseError(() => parseGrant(envelope), { code: "invalid_document", field: "project_id" });
  });
});

describe("parseStatus", () => {
  test("reads a held view and derives the threshold from the expiry", () => {
    const status = parseStatus(statusBody());

    assert.equal(status.held, true);
    assert.equal(status.stale_after_s, 180);
    assert.deepEqual(status.timing, {
      heartbeat_at: T + 60_000,
      interval_ms: 60_000,
      stale_after_ms: 180_000,
    });
    assert.equal(status.server_time, T + 61_000);
  });

  test("reads a free view with null holder fields and the last fence", () => {
    const free = statusBody({
      held: false,
      owner: null,
      session_id: null,
      acquired_at: null,
      heartbeat_at: null,
      expires_at: null,
      heartbeat_interval_s: null,
      stale: false,
    });

    const status = parseStatus(free);
    assert.equal(status.held, false);
    assert.equal(status.fence, 7);
    assert.equal(status.owner, null);
    assert.equal(status.timing, null);
  });

  test("reads the lock view of a 409 refusal, which adds same_owner", () => {
    const lock = { ...JSON.parse(statusBody()), same_owner: false };
    const envelope = JSON.parse(JSON.stringify({ code: "PROJECT_LOCKED", lock }));

    assert.equal(parseStatus(JSON.stringify(envelope.lock)).owner, "alice");
  });

  test("names the field of an inconsistent view", () => {
    assertLeaseError(() => parseStatus(statusBody({ held: false })), {
      code: "invalid_document",
      field: "owner",
    });
    assertLeaseError(() => parseStatus(statusBody({ stale: "no" })), { field: "stale" });
    assertLeaseError(() => parseStatus(statusBody({ expires_at: "2023-11-14T22:14:20.000Z" })), {
      field: "expires_at",
    });
  });
});
