// End to end in headless Chromium: the demo page that `leasekit serve` serves, the shared lease
// worker, the wasm core and the real service, driven by playwright-core.
//
// Two browser contexts are two users on one project with a 5 s interval (stale after 15 s).
// Alice holds; Bob waits with a countdown; Alice's browser goes offline and her tab must show
// `in_doubt`, then `expired` within a second of the moment the core predicted before she went
// offline; Bob then gets the lease; Alice, back online, learns she lost it. A third context opens
// two tabs of one user, which must share one lease through the one worker.
//
// Needs `make develop` and `make wasm` (the service with the built demo) and Debian's chromium
// (`make bootstrap`); `make test-e2e` runs it. On failure, screenshots, the messages each tab
// received and the service's log are saved in wasm-binding/e2e/failures/ (git-ignored).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FAILURES = fileURLToPath(new URL("./failures/", import.meta.url));
const LEASEKIT = process.env.LEASEKIT_BIN ?? join(ROOT, ".venv/bin/leasekit");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** The API's shortest interval: stale after 3 x 5 s. */
const INTERVAL_S = 5;
const STALE_AFTER_MS = 3 * INTERVAL_S * 1000;
/** How far the tab's `expired` may be from the predicted moment. */
const TOLERANCE_MS = 1000;

/** @type {{ base: string, process: import("node:child_process").ChildProcess, log: string,
 *   workdir: string }} */
let service;
/** @type {import("playwright-core").Browser} */
let browser;

before(async () => {
  assert.ok(existsSync(LEASEKIT), `${LEASEKIT} is missing: run \`make develop\` first`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`make bootstrap\``);
  service = await startService();
  const page = await fetch(`${service.base}/`);
  assert.equal(page.status, 200, "the demo page is not built: run `make wasm` first");

  // Playwright gives each launch a fresh, temporary --user-data-dir of its own.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
});

after(async () => {
  await browser?.close();
  if (service !== undefined) {
    service.process.kill("SIGTERM");
    await new Promise((resolve) => service.process.once("exit", resolve));
    await rm(service.workdir, { recursive: true, force: true });
  }
});

describe("the demo page in headless Chromium", () => {
  test("a holder that goes offline expires when predicted, then learns it lost", {
    timeout: 90_000,
  }, async (t) => {
    const project = uniqueProject("offline");
    const alice = await browser.newContext();
    const bob = await browser.newContext();
    t.after(() => Promise.all([alice.close(), bob.close()]));

    await withFailureArtifacts(t.name, [alice, bob], async () => {
      const alicePage = await openDemo(alice, "alice", project);
      await waitForState(alicePage, "held");
      const aliceFence = (await lastEvent(alicePage, "held")).grant.fence;
      assert.match(await alicePage.textContent("#holder"), /alice/);

      // Bob waits, seeing Alice's name and a countdown to when he may take over.
      const bobPage = await openDemo(bob, "bob", project);
      await waitForState(bobPage, "busy");
      const busy = await lastEvent(bobPage, "busy");
      assert.equal(busy.holder.owner, "alice");
      assert.ok(busy.prediction.takeover_in_ms > 0);
      assert.ok(busy.prediction.takeover_in_ms <= STALE_AFTER_MS + TOLERANCE_MS);
      assert.match(await bobPage.textContent("#holder"), /alice/);
      assert.equal(await bobPage.textContent("#countdown-label"), "May take over in");
      await bobPage.waitForFunction(
        () => Number(document.querySelector("#countdown")?.getAttribute("data-ms")) > 0,
        null,
        { timeout: 5_000 },
      );

      // Alice goes offline just after a heartbeat landed, so that none is in flight: the
      // prediction that heartbeat brought is the one the worker must live up to offline.
      const before = await nextEvent(alicePage, "held");
      const predictedDoubt = before.at + before.prediction.holder_stale_in_ms;
      const predictedExpiry = before.prediction.latest_live_local + 1;
      const network = await offline(alice);

      await waitForState(alicePage, "in_doubt", STALE_AFTER_MS + 5_000);
      await waitForState(alicePage, "expired", STALE_AFTER_MS + 5_000);
      const inDoubt = await firstEventAfter(alicePage, "in_doubt", before.at);
      const expired = await firstEventAfter(alicePage, "expired", before.at);
      assert.equal(expired.confirmed, false, "offline, the expiry is the worker's prediction");
      t.diagnostic(`in_doubt ${inDoubt.receivedAt - predictedDoubt} ms and expired `
        + `${expired.receivedAt - predictedExpiry} ms from the moments predicted before offline`);
      assert.ok(Math.abs(inDoubt.receivedAt - predictedDoubt) <= TOLERANCE_MS,
        `in_doubt shown ${inDoubt.receivedAt - predictedDoubt} ms from the prediction`);
      assert.ok(Math.abs(expired.receivedAt - predictedExpiry) <= TOLERANCE_MS,
        `expired shown ${expired.receivedAt - predictedExpiry} ms from the prediction`);
      const offlineTicks = (await events(alicePage)).filter((message) =>
        message.type === "countdown" && !message.online && message.at < expired.at);
      assert.ok(offlineTicks.length > 0, "the countdown went on while offline");
      assert.equal(await alicePage.getAttribute("#connection", "data-online"), "false");

      // Bob's worker takes the lease once the service certainly judges Alice's stale.
      await waitForState(bobPage, "held", STALE_AFTER_MS);
      const bobHeld = await lastEvent(bobPage, "held");
      assert.equal(bobHeld.grant.owner, "bob");
      assert.equal(bobHeld.grant.fence, aliceFence + 1);
      assert.equal(bobHeld.grant.previous.owner, "alice");
      assert.equal((await lockView(project)).owner, "bob");

      // Back online, Alice's next heartbeat is refused: she lost the lease to Bob.
      await network.restore();
      await waitForState(alicePage, "lost", 3 * INTERVAL_S * 1000);
      const lost = await lastEvent(alicePage, "lost");
      assert.equal(lost.holder.owner, "bob");
      assert.match(await alicePage.textContent("#holder"), /bob/);
      assert.equal((await lockView(project)).owner, "bob", "Alice's worker took nothing back");
    });
  });

  test("two tabs of one user share one worker and one lease until both close", {
    timeout: 60_000,
  }, async (t) => {
    const project = uniqueProject("tabs");
    const carol = await browser.newContext();
    t.after(() => carol.close());

    await withFailureArtifacts(t.name, [carol], async () => {
      const first = await openDemo(carol, "carol", project);
      await waitForState(first, "held");
      const second = await openDemo(carol, "carol", project);
      await waitForState(second, "held");

      const firstGrant = (await lastEvent(first, "held")).grant;
      const secondGrant = (await lastEvent(second, "held")).grant;
      assert.equal(secondGrant.fence, firstGrant.fence);
      assert.equal(secondGrant.session_id, firstGrant.session_id);
      assert.equal(await second.textContent("#fence"), await first.textContent("#fence"));
      const acquisitions = (await lockHistory(project)).filter((e) => e.kind === "acquired");
      assert.equal(acquisitions.length, 1, "one lease for both tabs");

      // Closing one tab keeps the lease alive: the worker still heartbeats for the other.
      const heldBefore = await lockView(project);
      await first.close();
      const beat = await nextEvent(second, "held");
      assert.equal(beat.via, "heartbeat");
      const heldAfter = await lockView(project);
      assert.equal(heldAfter.held, true);
      assert.equal(heldAfter.session_id, firstGrant.session_id);
      assert.ok(Date.parse(heldAfter.heartbeat_at) > Date.parse(heldBefore.heartbeat_at));

      // Closing the last tab releases it at once, long before it could go stale.
      const closedAt = Date.now();
      await second.close();
      const free = await poll(async () => {
        const view = await lockView(project);
        return view.held ? null : view;
      }, STALE_AFTER_MS / 3);
      assert.ok(free, "the lease should be released when the last tab closes");
      assert.ok(Date.now() - closedAt < STALE_AFTER_MS / 3);
      const [latest] = await lockHistory(project);
      assert.equal(latest.kind, "released");
      assert.equal(latest.owner, "carol");
    });
  });
});

// --- the service -------------------------------------------------------------------------------

async function startService() {
  const workdir = await mkdtemp(join(tmpdir(), "leasekit-e2e-"));
  const port = await freePort();
  const log = join(workdir, "service.log");
  const output = await open(log, "w");
  const args = ["serve", "--db", join(workdir, "leases.db"), "--port", String(port),
    "--auth", "dev", "--sweep-interval", "1"];
  const child = spawn(LEASEKIT, args, { cwd: workdir, stdio: ["ignore", output.fd, output.fd] });
  await output.close();

  const base = `http://127.0.0.1:${port}`;
  const healthy = await poll(async () => {
    if (child.exitCode !== null) {
      throw new Error(`leasekit serve exited with ${child.exitCode}; see ${log}`);
    }
    try {
      return (await fetch(`${base}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 30_000);
  assert.ok(healthy, `leasekit serve did not become healthy; see ${log}`);
  return { base, process: child, log, workdir };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function lockView(project) {
  const response = await fetch(`${service.base}/v1/projects/${project}/lock`, {
    headers: { "X-Leasekit-User": "e2e-observer" },
  });
  assert.equal(response.status, 200);
  return response.json();
}

async function lockHistory(project) {
  const response = await fetch(`${service.base}/v1/projects/${project}/lock/history`, {
    headers: { "X-Leasekit-User": "e2e-observer" },
  });
  assert.equal(response.status, 200);
  return (await response.json()).events;
}

function uniqueProject(purpose) {
  return `e2e-${purpose}-${Date.now().toString(36)}`;
}

/** Calls `probe` every 100 ms until it returns something truthy or `timeoutMs` passes. */
async function poll(probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await probe();
    if (found) {
      return found;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

// --- the pages ---------------------------------------------------------------------------------

async function openDemo(context, user, project) {
  const page = await context.newPage();
  const query = new URLSearchParams({ project, user, interval: String(INTERVAL_S) });
  await page.goto(`${service.base}/?${query}`);
  await page.click("#acquire");
  return page;
}

async function waitForState(page, state, timeout = 10_000) {
  await page.waitForFunction(
    (wanted) => document.querySelector("#lease")?.getAttribute("data-state") === wanted,
    state,
    { timeout },
  );
}

/** Every message the tab received from the worker, with the tab's clock when it arrived. */
function events(page) {
  return page.evaluate(() => globalThis.leasekitDemo.events);
}

async function lastEvent(page, type) {
  const found = (await events(page)).filter((message) => message.type === type).at(-1);
  assert.ok(found, `the tab received no ${type} message`);
  return found;
}

async function firstEventAfter(page, type, at) {
  const found = (await events(page)).find((message) => message.type === type && message.at > at);
  assert.ok(found, `the tab received no ${type} message after ${at}`);
  return found;
}

/** Waits for the next message of `type` the tab receives, and returns it. */
async function nextEvent(page, type) {
  const seen = (await events(page)).filter((message) => message.type === type).length;
  await page.waitForFunction(
    ([wanted, count]) =>
      globalThis.leasekitDemo.events.filter((message) => message.type === wanted).length > count,
    [type, seen],
    { timeout: 3 * INTERVAL_S * 1000 },
  );
  return lastEvent(page, type);
}

/**
 * Takes a browser context offline: its pages with `context.setOffline`, and its shared worker
 * through the DevTools protocol, since Playwright's network emulation does not reach shared
 * workers (it leaves their targets detached). Returns what brings it back online.
 */
async function offline(context) {
  await context.setOffline(true);
  const pageSession = await context.newCDPSession(context.pages()[0]);
  const { targetInfo } = await pageSession.send("Target.getTargetInfo");
  await pageSession.detach();

  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send("Target.getTargets");
  const workers = targetInfos.filter((target) =>
    target.type === "shared_worker" && target.browserContextId === targetInfo.browserContextId);
  assert.equal(workers.length, 1, "one shared worker per browser context");
  const { sessionId } = await cdp.send("Target.attachToTarget", {
    targetId: workers[0].targetId,
    flatten: false,
  });
  const emulate = (isOffline) => sendToTarget(cdp, sessionId, "Network.emulateNetworkConditions", {
    offline: isOffline,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  // Chromium applies network conditions only with the Network domain enabled.
  await sendToTarget(cdp, sessionId, "Network.enable", {});
  await emulate(true);

  return {
    async restore() {
      await emulate(false);
      await cdp.send("Target.detachFromTarget", { sessionId });
      await cdp.detach();
      await context.setOffline(false);
    },
  };
}

let nextCommandId = 1;

/** Sends one DevTools command to an attached target and waits for its answer. */
function sendToTarget(cdp, sessionId, method, params) {
  const id = nextCommandId;
  nextCommandId += 1;
  return new Promise((resolve, reject) => {
    const listener = (event) => {
      const reply = JSON.parse(event.message);
      if (event.sessionId !== sessionId || reply.id !== id) {
        return;
      }
      cdp.off("Target.receivedMessageFromTarget", listener);
      if (reply.error) {
        reject(new Error(`${method}: ${reply.error.message}`));
      } else {
        resolve(reply.result);
      }
    };
    cdp.on("Target.receivedMessageFromTarget", listener);
    const message = JSON.stringify({ id, method, params });
    cdp.send("Target.sendMessageToTarget", { sessionId, message }).catch(reject);
  });
}

/**
 * Runs `scenario`; if it fails, saves a screenshot and the received messages of every open page
 * of `contexts`, and the service's log, in wasm-binding/e2e/failures/.
 */
async function withFailureArtifacts(name, contexts, scenario) {
  try {
    await scenario();
  } catch (failure) {
    const slug = name.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60);
    await mkdir(FAILURES, { recursive: true });
    const pages = contexts.flatMap((context) => context.pages());
    for (const [index, page] of pages.entries()) {
      const prefix = join(FAILURES, `${slug}-tab${index + 1}`);
      await page.screenshot({ path: `${prefix}.png`, fullPage: true }).catch(() => {});
      const received = await events(page).catch(() => []);
      await writeFile(`${prefix}-messages.json`, JSON.stringify(received, null, 2));
    }
    await copyFile(service.log, join(FAILURES, `${slug}-service.log`)).catch(() => {});
    throw failure;
  }
}
