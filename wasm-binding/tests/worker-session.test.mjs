// The lease worker's session (wasm-binding/web/lease-session.js) against a scripted service, a
// fake clock and the real wasm module: what it sends, when, and what it tells the tabs.
//
// Expected moments come from the predictions the session itself posted (computed by the core),
// so these tests check that the worker acts on the core's numbers, not the numbers themselves.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { COUNTDOWN_TICK_MS, HOLDER_MARGIN_MS, LeaseSession } from "../web/lease-session.js";
import {
  FakeClock,
  FakeService,
  HANG,
  START_SETTINGS,
  envelope,
  flush,
  grantBody,
  heldView,
  wasm,
} from "./worker-support.mjs";

const INTERVAL_MS = START_SETTINGS.intervalS * 1000;

/** A session's world: clock, service, and everything it posted. */
function harness({ settings = {}, random = 0.5 } = {}) {
  const clock = new FakeClock();
  const service = new FakeService(clock);
  const posted = [];
  const env = {
    wasm,
    fetch: service.fetch,
    now: clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    random: () => random,
    broadcast: (message) => posted.push(message),
  };
  return {
    clock,
    service,
    posted,
    open: () => new LeaseSession({ ...START_SETTINGS, ...settings }, env),
    states: () => posted.filter((message) => message.type !== "countdown"),
    ofType: (type) => posted.filter((message) => message.type === type),
  };
}

/** A service that grants every lock and heartbeat, stamped at the moment of the request. */
function granting(world, extra = {}) {
  world.service.handler = (request) => {
    if (request.action === "unlock") {
      return { status: 200, body: { project_id: "apollo", released: true, fence: 1 } };
    }
    return { status: 200, body: grantBody({ heartbeatAt: request.at, ...extra }) };
  };
}

/** Opens a session on a granting service and returns its first `held` message. */
async function holding(world) {
  granting(world);
  const session = world.open();
  await flush();
  const held = world.ofType("held").at(0);
  assert.ok(held, "the session should hold the lease");
  return { session, held };
}

describe("acquiring", () => {
  test("start acquires the lease and posts held, never showing its secret token", async () => {
    const world = harness();
    const { held } = await holding(world);

    const [lock] = world.service.sent("lock");
    assert.equal(lock.url.href, "https://leases.example/api/v1/projects/apollo/lock");
    assert.deepEqual(lock.body, {
      session_id: "browser-1",
      heartbeat_interval_s: 5,
      takeover: false,
      force: false,
    });
    assert.equal(lock.headers["X-Leasekit-User"], "alice");
    assert.equal(lock.headers.Authorization, undefined);
    assert.equal(held.via, "acquire");
    assert.equal(held.projectId, "apollo");
    assert.equal(held.grant.owner, "alice");
    assert.equal("lease_id" in held.grant, false);

    await world.clock.advance(4 * INTERVAL_MS);
    assert.ok(world.service.sent("heartbeat").length >= 3);
    assert.ok(!JSON.stringify(world.posted).includes("secret-token"));
  });

  test("a bearer token is sent as an Authorization header on every request", async () => {
    const world = harness({ settings: { user: undefined, bearerToken: "opaque-bearer" } });
    await holding(world);
    await world.clock.advance(2 * INTERVAL_MS);

    assert.ok(world.service.requests.length >= 2);
    for (const request of world.service.requests) {
      assert.equal(request.headers.Authorization, "Bearer opaque-bearer");
      assert.equal("X-Leasekit-User" in request.headers, false);
    }
  });

  test("a refused acquire (422) is reported as fatal and nothing more is sent", async () => {
    const world = harness();
    world.service.handler = (request) => ({
      status: 422,
      body: envelope("VALIDATION", { at: request.at, field: "project_id" }),
    });
    world.open();
    await flush();
    await world.clock.advance(10 * INTERVAL_MS);

    assert.equal(world.service.requests.length, 1);
    const [error] = world.ofType("error");
    assert.equal(error.code, "VALIDATION");
    assert.equal(error.field, "project_id");
    assert.equal(error.status, 422);
    assert.equal(error.fatal, true);
    assert.equal(world.clock.pending, 0);
  });

  test("a grant the core refuses is reported with its code and field, then retried", async () => {
    const world = harness();
    let answered = 0;
    world.service.handler = (request) => {
      answered += 1;
      const grant = grantBody({ heartbeatAt: request.at });
      return { status: 200, body: answered === 1 ? { ...grant, owner: 42 } : grant };
    };
    world.open();
    await flush();
    await world.clock.advance(INTERVAL_MS);

    const [error] = world.ofType("error");
    assert.equal(error.code, "invalid_document");
    assert.equal(error.field, "owner");
    assert.equal(error.fatal, false);
    assert.equal(world.service.sent("lock").length, 2);
    assert.equal(world.ofType("held").length, 1);
  });
});

describe("heartbeats", () => {
  for (const random of [0, 0.5, 0.99]) {
    test(`a heartbeat goes out when due, at most a tenth early (random ${random})`, async () => {
      const world = harness({ random });
      const { held } = await holding(world);
      const due = held.at + held.prediction.heartbeat_due_in_ms;

      await world.clock.advance(held.prediction.heartbeat_due_in_ms);

      const [beat] = world.service.sent("heartbeat");
      assert.ok(beat, "a heartbeat should have been sent by the due time");
      assert.ok(beat.at <= due, `sent at ${beat.at}, after the due time ${due}`);
      assert.ok(beat.at >= due - INTERVAL_MS / 10, `sent more than a tenth early: ${beat.at}`);
      assert.deepEqual(beat.body, { lease_id: "secret-token-1" });
      assert.equal(beat.url.pathname, "/api/v1/projects/apollo/heartbeat");
    });
  }

  test("at most one request is in flight, even while the service hangs", async () => {
    const world = harness();
    await holding(world);
    world.service.handler = () => HANG;

    await world.clock.advance(12 * INTERVAL_MS);

    assert.ok(world.service.sent("heartbeat").length >= 3, "timed-out heartbeats are retried");
    assert.equal(world.service.maxInFlight, 1);
  });

  test("a suspended worker sends one heartbeat, not one per missed tick", async () => {
    const world = harness();
    await holding(world);

    await world.clock.jump(12 * INTERVAL_MS);

    assert.equal(world.service.sent("heartbeat").length, 1);

  });

  test("every answer's server time feeds the skew estimate behind the countdown", async () => {
    const world = harness();
    const ahead = 30_000;
    world.service.handler = (request) => {
      const serverNow = request.at + ahead;
      if (request.action === "lock" && world.service.sent("lock").length === 1) {
        const lock = heldView({ heartbeatAt: serverNow - 1000, serverTime: serverNow });
        return { status: 409, body: envelope("PROJECT_LOCKED", { lock, at: serverNow }) };
      }
      return { status: 200, body: grantBody({ heartbeatAt: serverNow }) };
    };
    const session = world.open();
    await flush();

    const [busy] = world.ofType("busy");
    assert.equal(busy.prediction.server_now, busy.at + ahead);
    session.acquire({ takeover: false, force: true });
    await flush();

    const [held] = world.ofType("held");
    assert.equal(held.prediction.server_now, held.at + ahead);
    const staleAfterMs = held.grant.stale_after_s * 1000;
    assert.equal(held.prediction.holder_stale_in_ms, staleAfterMs - HOLDER_MARGIN_MS);
  });
});

describe("offline", () => {
  test("the countdown goes on; in_doubt and expired come when predicted", async () => {
    const world = harness();
    const { held } = await holding(world);
    world.service.offline = true;

    await world.clock.advance(8 * INTERVAL_MS);

    const [inDoubt] = world.ofType("in_doubt");
    const [expired] = world.ofType("expired");
    assert.equal(inDoubt.at, held.at + held.prediction.holder_stale_in_ms);
    assert.equal(expired.at, held.prediction.latest_live_local + 1);
    assert.equal(expired.confirmed, false);
    assert.equal(expired.prediction.state, "expired");
    assert.equal(world.ofType("held").length, 1);

    const countdowns = world.ofType("countdown").filter((message) => message.at <= expired.at);
    const gaps = countdowns.slice(1).map((message, index) => message.at - countdowns[index].at);
    assert.ok(Math.max(...gaps) <= COUNTDOWN_TICK_MS, `countdown gaps: ${gaps}`);
    const offline = countdowns.filter((message) => !message.online);
    assert.ok(offline.length > 0, "countdowns while offline say so");
    const staleIn = offline.map((message) => message.prediction.holder_stale_in_ms);
    assert.ok(staleIn.every((value, index) => index === 0 || value <= staleIn[index - 1]));
    assert.equal(world.ofType("error").filter((e) => e.code === "unreachable").length, 1);

  });

  test("failures are retried after growing jittered delays, up to an interval", async () => {
    const world = harness({ random: 0.99 });
    await holding(world);
    world.service.offline = true;

    await world.clock.advance(10 * INTERVAL_MS);

    const times = world.service.sent("heartbeat").map((request) => request.at);
    const gaps = times.slice(1).map((at, index) => at - times[index]);
    assert.ok(gaps.length >= 5, `retries: ${gaps}`);
    assert.ok(gaps.every((gap, index) => index === 0 || gap >= gaps[index - 1]), `${gaps}`);
    assert.ok(gaps.every((gap) => gap <= INTERVAL_MS * 1.2), `${gaps}`);

  });

  test("back online, LEASE_LOST posts lost with the new holder and stops", async () => {
    const world = harness();
    const { held } = await holding(world);
    world.service.offline = true;
    await world.clock.advance(held.prediction.latest_live_local + 1 - world.clock.now());
    assert.equal(world.ofType("expired").length, 1);

    world.service.offline = false;
    world.service.handler = (request) => {
      const lock = heldView({ owner: "bob", fence: 2, heartbeatAt: request.at - 500,
        serverTime: request.at });
      return { status: 409, body: envelope("LEASE_LOST", { lock, field: "lease_id",
        at: request.at }) };
    };
    await world.clock.advance(INTERVAL_MS * 1.5);

    const [lost] = world.ofType("lost");
    assert.equal(lost.holder.owner, "bob");
    assert.equal(lost.holder.fence, 2);
    assert.equal(lost.grant.fence, 1);
    assert.equal("lease_id" in lost.grant, false);
    const sent = world.service.requests.length;
    await world.clock.advance(10 * INTERVAL_MS);
    assert.equal(world.service.requests.length, sent, "no heartbeat after lost");
    assert.equal(world.clock.pending, 0);

  });
});

describe("refused heartbeats", () => {
  test("LEASE_EXPIRED posts a confirmed expiry and stops heartbeating", async () => {
    const world = harness();
    const { held } = await holding(world);
    world.service.handler = (request) => ({
      status: 409,
      body: envelope("LEASE_EXPIRED", { lock: null, field: "lease_id", at: request.at }),
    });

    await world.clock.advance(held.prediction.heartbeat_due_in_ms);
    const sent = world.service.requests.length;
    await world.clock.advance(10 * INTERVAL_MS);

    const [expired] = world.ofType("expired");
    assert.equal(expired.confirmed, true);
    assert.equal(expired.prediction, null);
    assert.equal(world.service.requests.length, sent);
  });

  test("LEASE_LOST with nobody holding the project posts lost with no holder", async () => {
    const world = harness();
    const { held } = await holding(world);
    world.service.handler = (request) => ({
      status: 409,
      body: envelope("LEASE_LOST", { lock: null, field: "lease_id", at: request.at }),
    });

    await world.clock.advance(held.prediction.heartbeat_due_in_ms);

    const [lost] = world.ofType("lost");
    assert.equal(lost.holder, null);
  });
});

describe("waiting", () => {
  test("busy names the holder and counts down; the waiter acquires once stale", async () => {
    const world = harness();
    const holderBeat = world.clock.now() - 1000;
    world.service.handler = (request) => {
      const lock = heldView({ heartbeatAt: holderBeat, serverTime: request.at });
      if (request.action === "status") {
        return { status: 200, body: lock };
      }
      if (world.service.sent("lock").length === 1) {
        const refusal = { ...lock, same_owner: false };
        return { status: 409, body: envelope("PROJECT_LOCKED", { lock: refusal, at: request.at }) };
      }
      const previous = { owner: "bob", session_id: "laptop", fence: 1, ended: "expired" };
      return { status: 200, body: grantBody({ heartbeatAt: request.at, fence: 2, previous }) };
    };
    world.open();
    await flush();

    const [busy] = world.ofType("busy");
    assert.equal(busy.holder.owner, "bob");
    assert.equal(busy.sameOwner, false);
    assert.ok(busy.prediction.takeover_in_ms > 0);
    await world.clock.advance(busy.prediction.takeover_in_ms + INTERVAL_MS);

    const waiting = world.ofType("countdown").filter((message) => message.role === "waiter");
    assert.ok(waiting.length > 0);
    assert.ok(waiting.every((message) => message.owner === "bob"));
    assert.ok(world.service.sent("status").length >= 2, "the waiter polls the holder");
    const locks = world.service.sent("lock");
    assert.equal(locks.length, 2);
    assert.equal(locks[1].at, busy.at + busy.prediction.takeover_in_ms);
    const [held] = world.ofType("held");
    assert.equal(held.grant.fence, 2);
    assert.equal(held.grant.previous.owner, "bob");
  });

  test("a holder that beats again just in time is tried again at its next expiry", async () => {
    const world = harness();
    let holderBeat = world.clock.now() - 1000;
    world.service.handler = (request) => {
      const view = () => heldView({ heartbeatAt: holderBeat, serverTime: request.at });
      const locks = world.service.sent("lock").length;
      if (request.action === "status") {
        return { status: 200, body: view() };
      }
      if (locks === 3) {
        return { status: 200, body: grantBody({ heartbeatAt: request.at, fence: 2 }) };
      }
      if (locks === 2) {
        holderBeat = request.at - 1;
      }
      return { status: 409, body: envelope("PROJECT_LOCKED", { lock: view(), at: request.at }) };
    };
    world.open();
    await flush();
    const [first] = world.ofType("busy");
    await world.clock.advance(first.prediction.takeover_in_ms);

    const second = world.ofType("busy").at(-1);
    assert.notEqual(second, first, "the refused takeover shows the holder's new expiry");
    await world.clock.advance(second.prediction.takeover_in_ms + INTERVAL_MS);

    const locks = world.service.sent("lock");
    assert.equal(locks.length, 3);
    assert.equal(locks[2].at, second.at + second.prediction.takeover_in_ms);
    assert.equal(world.ofType("held")[0].grant.fence, 2);
  });

  test("a takeover asked by a tab sends its flags once", async () => {
    const world = harness();
    world.service.handler = (request) => {
      const lock = { ...heldView({ heartbeatAt: request.at, serverTime: request.at }),
        same_owner: true };
      if (world.service.sent("lock").length === 1) {
        return { status: 409, body: envelope("PROJECT_LOCKED", { lock, at: request.at }) };
      }
      return { status: 200, body: grantBody({ heartbeatAt: request.at, fence: 2 }) };
    };
    const session = world.open();
    await flush();
    assert.equal(world.ofType("busy")[0].sameOwner, true);

    session.acquire({ takeover: true, force: false });
    await flush();

    const locks = world.service.sent("lock");
    assert.equal(locks[1].body.takeover, true);
    assert.equal(locks[1].body.force, false);
    assert.equal(world.ofType("held").length, 1);
  });
});

describe("releasing", () => {
  test("release drops the heartbeat in flight and unlocks with the token", async () => {
    const world = harness();
    const { session, held } = await holding(world);
    world.service.handler = (request) => request.action === "heartbeat"
      ? HANG
      : { status: 200, body: { project_id: "apollo", released: true, fence: 1 } };
    await world.clock.advance(held.prediction.heartbeat_due_in_ms);
    assert.equal(world.service.inFlight, 1);

    session.release();
    await flush();

    const [unlock] = world.service.sent("unlock");
    assert.deepEqual(unlock.body, { lease_id: "secret-token-1" });
    assert.equal(world.service.maxInFlight, 1);
    const [released] = world.ofType("released");
    assert.equal(released.released, true);
    assert.equal(released.fence, 1);
    const sent = world.service.requests.length;
    await world.clock.advance(10 * INTERVAL_MS);
    assert.equal(world.service.requests.length, sent);

  });

  test("close releases a held lease once and leaves no timer behind", async () => {
    const world = harness();
    const { session } = await holding(world);

    await session.close();

    assert.equal(world.service.sent("unlock").length, 1);
    assert.equal(world.clock.pending, 0);
    await world.clock.advance(10 * INTERVAL_MS);
    assert.equal(world.service.sent("heartbeat").length, 0);
  });

  test("close during the first acquire releases the lease that acquire brings back", async () => {
    const world = harness();
    let grantLease;
    world.service.handler = (request) => {
      if (request.action === "unlock") {
        return { status: 200, body: { project_id: "apollo", released: true, fence: 1 } };
      }
      return new Promise((resolve) => {
        grantLease = () => resolve({ status: 200, body: grantBody({ heartbeatAt: request.at }) });
      });
    };
    const session = world.open();
    await flush();

    const closed = session.close();
    grantLease();
    await closed;

    assert.equal(world.service.sent("unlock").length, 1);
    assert.deepEqual(world.service.sent("unlock")[0].body, { lease_id: "secret-token-1" });
    assert.equal(world.clock.pending, 0);
  });

  test("close without a lease sends nothing", async () => {
    const world = harness();
    world.service.handler = (request) => ({
      status: 422,
      body: envelope("VALIDATION", { at: request.at }),
    });
    const session = world.open();
    await flush();

    await session.close();

    assert.equal(world.service.sent("unlock").length, 0);
  });
});
