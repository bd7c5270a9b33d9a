// The lease worker's hub (wasm-binding/web/lease-hub.js): tabs on real MessageChannels, a fake
// clock and a scripted service. One lease per project and user however many tabs show it; the
// lease is released when its last tab stops or vanishes; bad tab messages get named errors.

import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { LeaseHub, PING_INTERVAL_MS } from "../web/lease-hub.js";
import {
  FakeClock,
  FakeService,
  START_SETTINGS,
  Tab,
  flush,
  grantBody,
  wasm,
} from "./worker-support.mjs";

const INTERVAL_MS = START_SETTINGS.intervalS * 1000;

/** Every world's tabs are closed after each test, passed or failed, so no port keeps Node up. */
const worlds = [];
afterEach(() => {
  for (const world of worlds.splice(0)) {
    world.closeAll();
  }
});

function hubWorld({ portCloseEvent = true, wasmModule = Promise.resolve(wasm) } = {}) {
  const clock = new FakeClock();
  const service = new FakeService(clock);
  service.handler = (request) => {
    if (request.action === "unlock") {
      return { status: 200, body: { project_id: "apollo", released: true, fence: 1 } };
    }
    const owner = request.headers["X-Leasekit-User"];
    return { status: 200, body: grantBody({ heartbeatAt: request.at, owner }) };
  };
  const hub = new LeaseHub({
    wasm: wasmModule,
    fetch: service.fetch,
    now: clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    random: () => 0.5,
    portCloseEvent,
  });
  const tabs = [];
  const connect = () => {
    const tab = new Tab();
    hub.connect(tab.workerSide);
    tabs.push(tab);
    return tab;
  };
  const world = { clock, service, hub, connect, closeAll: () => tabs.forEach((t) => t.vanish()) };
  worlds.push(world);
  return world;
}

/** Waits, round after round of the event loop, until `condition()` holds. */
async function until(condition, what) {
  for (let round = 0; round < 200; round += 1) {
    if (condition()) {
      return;
    }
    await flush();
  }
  assert.fail(`never happened: ${what}`);
}

const heldIn = (tab) => tab.states.filter((message) => message.type === "held");

describe("sharing", () => {
  test("tabs with the same settings share one lease and all hear its messages", async () => {
    const world = hubWorld();
    const first = world.connect();
    const second = world.connect();

    first.send({ type: "start", ...START_SETTINGS });
    await until(() => heldIn(first).length === 1, "the first tab holds");
    second.send({ type: "start", ...START_SETTINGS });
    await until(() => heldIn(second).length === 1, "the second tab learns the lease");

    assert.equal(world.service.sent("lock").length, 1);
    assert.equal(heldIn(second)[0].grant.fence, heldIn(first)[0].grant.fence);
    assert.equal(world.hub.counts.leases, 1);
    await world.clock.advance(INTERVAL_MS);
    await until(() => heldIn(second).length === 2, "the heartbeat reaches the second tab");
    assert.equal(heldIn(first).at(-1).via, "heartbeat");
    assert.ok(second.messages.some((message) => message.type === "countdown"));
  });

  test("tabs of other users or projects get leases of their own", async () => {
    const world = hubWorld();
    const alice = world.connect();
    const bob = world.connect();
    const elsewhere = world.connect();

    alice.send({ type: "start", ...START_SETTINGS });
    bob.send({ type: "start", ...START_SETTINGS, user: "bob" });
    elsewhere.send({ type: "start", ...START_SETTINGS, projectId: "zeus" });
    await until(() => world.service.sent("lock").length === 3, "three acquires");

    const users = world.service.sent("lock").map((request) => request.headers["X-Leasekit-User"]);
    assert.deepEqual(users.sort(), ["alice", "alice", "bob"]);
    const paths = world.service.sent("lock").map((request) => request.url.pathname);
    assert.ok(paths.includes("/api/v1/projects/zeus/lock"));
    assert.equal(world.hub.counts.leases, 3);
  });
});

describe("leaving", () => {
  test("the lease is released only when its last tab stops", async () => {
    const world = hubWorld();
    const first = world.connect();
    const second = world.connect();
    first.send({ type: "start", ...START_SETTINGS });
    second.send({ type: "start", ...START_SETTINGS });
    await until(() => heldIn(second).length === 1, "both tabs attached");

    first.send({ type: "stop" });
    await world.clock.advance(2 * INTERVAL_MS);
    assert.equal(world.service.sent("unlock").length, 0);
    assert.ok(world.service.sent("heartbeat").length >= 1, "the second tab keeps it alive");

    second.send({ type: "stop" });
    await until(() => world.service.sent("unlock").length === 1, "the lease is released");
    await world.hub.settled();
    assert.deepEqual(world.service.sent("unlock")[0].body, { lease_id: "secret-token-1" });
    assert.equal(world.hub.counts.leases, 0);
  });

  test("a tab that vanishes without saying stop counts as gone", async () => {
    const world = hubWorld();
    const first = world.connect();
    const second = world.connect();
    first.send({ type: "start", ...START_SETTINGS });
    second.send({ type: "start", ...START_SETTINGS });
    await until(() => heldIn(second).length === 1, "both tabs attached");

    second.vanish();
    await until(() => world.hub.counts.tabs === 1, "the hub notices the closed port");
    assert.equal(world.service.sent("unlock").length, 0);
    first.vanish();

    await until(() => world.service.sent("unlock").length === 1, "the lease is released");
    assert.equal(world.hub.counts.leases, 0);
  });

  test("without port close events, a tab that stops answering pings is dropped", async () => {
    const world = hubWorld({ portCloseEvent: false });
    const silent = world.connect();
    const alive = world.connect();
    silent.send({ type: "start", ...START_SETTINGS });
    alive.send({ type: "start", ...START_SETTINGS, projectId: "zeus" });
    await until(() => heldIn(silent).length === 1 && heldIn(alive).length === 1, "both hold");
    silent.answerPings = false;

    for (let ping = 0; ping < 5; ping += 1) {
      await world.clock.advance(PING_INTERVAL_MS);
      await flush();
    }

    const unlocked = world.service.sent("unlock").map((request) => request.url.pathname);
    assert.deepEqual(unlocked, ["/api/v1/projects/apollo/unlock"]);
    assert.equal(world.hub.counts.tabs, 1);
    assert.equal(world.hub.counts.leases, 1);
  });

  test("a tab started on another project leaves its old lease, releasing it", async () => {
    const world = hubWorld();
    const tab = world.connect();
    tab.send({ type: "start", ...START_SETTINGS });
    await until(() => heldIn(tab).length === 1, "holds apollo");

    tab.send({ type: "start", ...START_SETTINGS, projectId: "zeus" });
    await until(() => heldIn(tab).length === 2, "holds zeus");

    const unlocked = world.service.sent("unlock").map((request) => request.url.pathname);
    assert.deepEqual(unlocked, ["/api/v1/projects/apollo/unlock"]);
    assert.equal(heldIn(tab).at(-1).projectId, "zeus");
    assert.equal(world.hub.counts.leases, 1);
  });
});

describe("bad messages", () => {
  const cases = [
    [{ type: "dance" }, "type"],
    [{ ...START_SETTINGS, type: "start", baseUrl: "/relative" }, "start.baseUrl"],
    [{ ...START_SETTINGS, type: "start", baseUrl: "ftp://leases.example/" }, "start.baseUrl"],
    [{ ...START_SETTINGS, type: "start", projectId: "" }, "start.projectId"],
    [{ ...START_SETTINGS, type: "start", intervalS: "5" }, "start.intervalS"],
    [{ ...START_SETTINGS, type: "start", intervalS: 2.5 }, "start.intervalS"],
    [{ ...START_SETTINGS, type: "start", user: 7 }, "start.user"],
    [{ ...START_SETTINGS, type: "start", user: "zoë" }, "start.user"],
    [{ ...START_SETTINGS, type: "start", bearerToken: "line\nbreak" }, "start.bearerToken"],
    [{ type: "acquire" }, "type"],
  ];
  for (const [message, field] of cases) {
    test(`${JSON.stringify(message).slice(0, 60)} is refused, naming ${field}`, async () => {
      const world = hubWorld();
      const tab = world.connect();

      tab.send(message);
      await until(() => tab.messages.length === 1, "an answer");

      const [error] = tab.messages;
      assert.equal(error.type, "error");
      assert.equal(error.code, "invalid_message");
      assert.equal(error.field, field);
      assert.ok(error.message.startsWith(field), error.message);
      assert.equal(error.fatal, true);
      assert.equal(world.service.requests.length, 0);
      });
  }

  test("a takeover flag that is not a boolean is refused, naming it", async () => {
    const world = hubWorld();
    const tab = world.connect();
    tab.send({ type: "start", ...START_SETTINGS });
    await until(() => heldIn(tab).length === 1, "holds");

    tab.send({ type: "acquire", takeover: "yes" });
    await until(() => tab.states.some((message) => message.type === "error"), "an error");

    const error = tab.states.find((message) => message.type === "error");
    assert.equal(error.field, "acquire.takeover");
    assert.equal(world.service.sent("lock").length, 1);
  });

  test("a wasm module that failed to load is reported to the tab", async () => {
    const failed = Promise.reject(new Error("compile error"));
    failed.catch(() => {});
    const world = hubWorld({ wasmModule: failed });
    const tab = world.connect();

    tab.send({ type: "start", ...START_SETTINGS });
    await until(() => tab.messages.length === 1, "an answer");

    assert.equal(tab.messages[0].code, "wasm_unavailable");
    assert.match(tab.messages[0].message, /compile error/);
    assert.equal(world.service.requests.length, 0);
  });
});
