// Shared by the worker tests: a fake clock with timers, a scripted fake service, builders of the
// service's answers, and a tab on a real MessageChannel.
//
// The worker's session and hub run against the real wasm module (pkg-node) with this clock and
// this service injected, so every step is deterministic: time moves only when a test moves it,
// and the service answers only what the test scripts.

import { leasekit } from "./support.mjs";

/** The wasm exports the worker uses. */
export const wasm = {
  parseGrant: leasekit.parseGrant,
  parseStatus: leasekit.parseStatus,
  predict: leasekit.predict,
  SkewEstimator: leasekit.SkewEstimator,
};

/** 2030-01-01T00:00:00Z: the fake clock's start. */
export const START = Date.UTC(2030, 0, 1);

/** Lets every pending promise callback and message delivery run. */
export async function flush() {
  for (let round = 0; round < 5; round += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A wall clock and timers that move only when the test says so. */
export class FakeClock {
  #now = START;
  #nextId = 1;
  /** @type {Map<number, { at: number, callback: () => void }>} */
  #timers = new Map();

  now = () => this.#now;

  setTimer = (callback, delayMs) => {
    const id = this.#nextId;
    this.#nextId += 1;
    this.#timers.set(id, { at: this.#now + Math.max(0, delayMs), callback });
    return id;
  };

  clearTimer = (id) => {
    this.#timers.delete(id);
  };

  /** Moves time forward by `ms`, firing each timer at its moment, in order. */
  async advance(ms) {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#earliest();
      if (next === null || next.at > end) {
        break;
      }
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
      await flush();
    }
    this.#now = end;
    await flush();
  }

  /** Moves time forward by `ms` without firing anything (a suspended worker), then fires what
   * is due, once, at the new time. */
  async jump(ms) {
    this.#now += ms;
    await this.advance(0);
  }

  /** How many timers are set. */
  get pending() {
    return this.#timers.size;
  }

  #earliest() {
    let earliest = null;
    for (const [id, timer] of this.#timers) {
      if (earliest === null || timer.at < earliest.at) {
        earliest = { id, ...timer };
      }
    }
    return earliest;
  }
}

/** Makes the fake service leave a request unanswered until it is aborted. */
export const HANG = Symbol("hang");

/**
 * The service as the worker sees it through `fetch`: records each request and answers with
 * `handler(request)` (`{ status, body }`, a promise of one, or HANG), or fails every request
 * while `offline`.
 */
export class FakeService {
  /** @type {Array<{ action: string, method: string, url: URL, headers: Record<string, string>,
   *   body: any, at: number }>} */
  requests = [];
  offline = false;
  inFlight = 0;
  maxInFlight = 0;
  handler = (request) => {
    throw new Error(`unexpected ${request.action} request`);
  };

  /** @param {FakeClock} clock */
  constructor(clock) {
    this.clock = clock;
  }

  fetch = (url, init) => {
    const request = describeRequest(url, init, this.clock.now());
    this.requests.push(request);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return this.#answer(request, init.signal).finally(() => {
      this.inFlight -= 1;
    });
  };

  /** The requests of one action (`lock`, `heartbeat`, `unlock`, `status`). */
  sent(action) {
    return this.requests.filter((request) => request.action === action);
  }

  #answer(request, signal) {
    if (this.offline) {
      return Promise.reject(new TypeError("Failed to fetch"));
    }
    const answer = this.handler(request);
    if (answer === HANG) {
      return new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    }
    return Promise.resolve(answer).then(({ status, body }) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      return { status, text: () => Promise.resolve(text) };
    });
  }
}

function describeRequest(url, init, at) {
  const parsed = new URL(url);
  const last = parsed.pathname.split("/").at(-1);
  const action = init.method === "GET" ? "status" : last;
  const body = init.body === null || init.body === undefined ? null : JSON.parse(init.body);
  return { action, method: init.method, url: parsed, headers: init.headers, body, at };
}

const iso = (ms) => new Date(ms).toISOString();

/**
 * A grant as the service writes it: times in ISO UTC, expiry one threshold after the heartbeat.
 */
export function grantBody({
  owner = "alice",
  session = "tab-1",
  token = "secret-token-1",
  fence = 1,
  heartbeatAt,
  acquiredAt = heartbeatAt,
  serverTime = heartbeatAt,
  intervalS = 5,
  beats = 3,
  previous = null,
}) {
  return {
    project_id: "apollo",
    owner,
    session_id: session,
    lease_id: token,
    fence,
    acquired_at: iso(acquiredAt),
    heartbeat_at: iso(heartbeatAt),
    expires_at: iso(heartbeatAt + intervalS * beats * 1000),
    heartbeat_interval_s: intervalS,
    stale_after_s: intervalS * beats,
    server_time: iso(serverTime),
    previous,
  };
}

/** The public view of a held project, as `GET .../lock` and 409 refusals carry it. */
export function heldView({
  owner = "bob",
  session = "laptop",
  fence = 1,
  heartbeatAt,
  acquiredAt = heartbeatAt,
  serverTime,
  intervalS = 5,
  beats = 3,
  stale = false,
}) {
  return {
    project_id: "apollo",
    held: true,
    owner,
    session_id: session,
    fence,
    acquired_at: iso(acquiredAt),
    heartbeat_at: iso(heartbeatAt),
    expires_at: iso(heartbeatAt + intervalS * beats * 1000),
    heartbeat_interval_s: intervalS,
    stale,
    server_time: iso(serverTime),
  };
}

/** The public view of a free project. */
export function freeView({ fence, serverTime }) {
  return {
    project_id: "apollo",
    held: false,
    owner: null,
    session_id: null,
    fence,
    acquired_at: null,
    heartbeat_at: null,
    expires_at: null,
    heartbeat_interval_s: null,
    stale: false,
    server_time: iso(serverTime),
  };
}

/** The service's error envelope. */
export function envelope(code, { lock, field = "project_id", at }) {
  const body = {
    error: code.toLowerCase(),
    message: `refused: ${code}`,
    code,
    details: [{ field, reason: "refused" }],
    trace_id: "trace-1",
    timestamp: iso(at),
  };
  return lock === undefined ? body : { ...body, lock };
}

/** The settings a tab starts the worker with. */
export const START_SETTINGS = Object.freeze({
  projectId: "apollo",
  baseUrl: "https://leases.example/api/",
  user: "alice",
  sessionId: "browser-1",
  intervalS: 5,
});

/**
 * A tab: one end of a MessageChannel, whose other end the hub gets. Collects what the worker
 * posts.
 */
export class Tab {
  /** @type {any[]} */
  messages = [];
  answerPings = true;

  constructor() {
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.workerSide = channel.port2;
    this.port.addEventListener("message", (event) => this.#receive(event.data));
    this.port.start();
  }

  send(message) {
    this.port.postMessage(message);
  }

  /** The state messages received (everything but countdowns and pings). */
  get states() {
    return this.messages.filter((message) => message.type !== "countdown");
  }

  /** Closes the tab's end without saying `stop`, as a crashed tab would. */
  vanish() {
    this.port.close();
  }

  #receive(message) {
    if (message.type === "ping") {
      if (this.answerPings) {
        this.send({ type: "alive" });
      }
      return;
    }
    this.messages.push(message);
  }
}
