// One project lease, kept by the shared worker for all the tabs attached to it.
//
// The worker script only routes tab messages (lease-hub.js); this module talks to the service
// and decides what to tell the tabs. Its clock, timers, fetch and randomness are injected, so
// the Node tests drive it step by step against the real wasm module.
//
// Every judgement of a lease is the wasm module's, that is the Rust core's: `parseGrant` and
// `parseStatus` check the service's answers, `SkewEstimator` turns each round trip into a clock
// offset, and `predict` says held / due / in_doubt / expired with its countdowns. This file only
// decides when to ask the service and what to post:
//
// - one request in flight at most; a tick that finds one in flight, or that comes late after the
//   worker was suspended, is skipped, never replayed;
// - heartbeats go out when the prediction says one is due, up to a tenth of an interval early at
//   random, so that many browsers do not beat in step; failures are retried with jittered
//   backoff, capped at one interval, and the countdown goes on while nothing answers;
// - a waiter polls the holder's public view and tries to acquire the moment the prediction says
//   the service certainly judges the holder stale.

/**
 * @typedef {import("./protocol").StartMessage} StartMessage
 * @typedef {import("./protocol").WorkerMessage} WorkerMessage
 * @typedef {import("./protocol").LeaseStateMessage} LeaseStateMessage
 * @typedef {import("./protocol").CountdownMessage} CountdownMessage
 * @typedef {import("./protocol").ErrorMessage} ErrorMessage
 * @typedef {import("./protocol").PublicGrant} PublicGrant
 * @typedef {import("./pkg-web/leasekit_wasm.js").Grant} Grant
 * @typedef {import("./pkg-web/leasekit_wasm.js").LockStatus} LockStatus
 * @typedef {import("./pkg-web/leasekit_wasm.js").HeldStatus} HeldStatus
 * @typedef {import("./pkg-web/leasekit_wasm.js").Prediction} Prediction
 * @typedef {import("./pkg-web/leasekit_wasm.js").PredictedState} PredictedState
 * @typedef {import("./pkg-web/leasekit_wasm.js").LeaseError} LeaseError
 */

/**
 * The wasm exports a session uses (the web build in browsers, the Node build in tests).
 *
 * @typedef {Pick<typeof import("./pkg-web/leasekit_wasm.js"),
 *   "parseGrant" | "parseStatus" | "predict" | "SkewEstimator">} LeaseWasm
 */

/**
 * What a session needs from its surroundings.
 *
 * @typedef {object} SessionEnv
 * @property {LeaseWasm} wasm
 * @property {(url: string, init: RequestInit) => Promise<Response>} fetch
 * @property {() => number} now The wall clock in UTC milliseconds (as `Date.now()`).
 * @property {(callback: () => void, delayMs: number) => unknown} setTimer
 * @property {(handle: unknown) => void} clearTimer
 * @property {() => number} random A number in [0, 1), for jitter.
 * @property {(message: WorkerMessage) => void} broadcast Posts to every attached tab.
 */

/** @typedef {Omit<StartMessage, "type">} SessionConfig */
/** @typedef {{ takeover: boolean, force: boolean }} AcquireFlags */
/** @typedef {{ kind: "acquire", flags: AcquireFlags } | { kind: "release" }} Command */
/** @typedef {"acquiring" | "holding" | "waiting" | "releasing" | "idle" | "closed"} Phase */
/** @typedef {"lock" | "heartbeat" | "unlock" | "status"} Action */

/**
 * What one request brought back. `status` 0: no answer (network failure, timeout, or aborted
 * because a release superseded it).
 *
 * @typedef {object} Answer
 * @property {number} status
 * @property {string} text
 * @property {number} sentAt
 * @property {number} receivedAt
 * @property {boolean} superseded
 * @property {string} failure Why there was no answer, when `status` is 0.
 */

/**
 * The service's error envelope, as far as the worker reads it.
 *
 * @typedef {object} Envelope
 * @property {string} code
 * @property {string} message
 * @property {string | null} field
 * @property {unknown} lock
 * @property {boolean | null} sameOwner
 * @property {number | null} timestamp
 */

/** Widens the holder's doubt by the time a heartbeat may take to reach the service. */
export const HOLDER_MARGIN_MS = 2_000;

/** How often the countdown is posted between answers. */
export const COUNTDOWN_TICK_MS = 500;

/** A heartbeat goes out up to this fraction of an interval before it is due, at random. */
const EARLY_BEAT_FRACTION = 0.1;

/** A waiter polls once per interval, give or take this fraction. */
const POLL_SPREAD = 0.1;

/** Limits of a request's timeout: half an interval, within these bounds. */
const MIN_TIMEOUT_MS = 2_000;
const MAX_TIMEOUT_MS = 10_000;

/** @type {Record<PredictedState, number>} */
const SEVERITY = { held: 0, due: 0, in_doubt: 1, expired: 2 };

const NO_FLAGS = Object.freeze({ takeover: false, force: false });

export class LeaseSession {
  /** @type {SessionConfig} */
  #config;
  /** @type {SessionEnv} */
  #env;
  /** @type {InstanceType<LeaseWasm["SkewEstimator"]>} */
  #skew;
  /** @type {Phase} */
  #phase = "acquiring";
  /** Our lease, with its secret token, while we may still hold it. @type {Grant | null} */
  #grant = null;
  /** The holder we wait for. @type {HeldStatus | null} */
  #holder = null;
  /** @type {boolean | null} */
  #sameOwner = null;
  /** The worst state the prediction reached for the current grant. @type {PredictedState} */
  #predicted = "held";
  #online = true;
  #failures = 0;
  /** When the next heartbeat, poll or retry is due (local clock). */
  #nextRequestAt = 0;
  /** @type {{ action: Action, controller: AbortController } | null} */
  #inFlight = null;
  /** A tab's command, run once no request is in flight. @type {Command | null} */
  #pending = null;
  /** @type {AcquireFlags} */
  #flags = NO_FLAGS;
  /** The expiry of a holder we already tried to take over at. @type {string | null} */
  #triedTakeoverOf = null;
  /** @type {unknown} */
  #timer = undefined;
  /** @type {LeaseStateMessage | ErrorMessage | null} */
  #lastStatus = null;
  /** @type {CountdownMessage | null} */
  #lastCountdown = null;
  /** @type {(() => void) | null} */
  #whenClosed = null;

  /**
   * Starts acquiring at once.
   *
   * @param {SessionConfig} config
   * @param {SessionEnv} env
   */
  constructor(config, env) {
    this.#config = config;
    this.#env = env;
    this.#skew = new env.wasm.SkewEstimator();
    this.#wake();
  }

  /** The messages that bring a newly attached tab up to date. */
  snapshot() {
    /** @type {WorkerMessage[]} */
    const messages = [];
    if (this.#lastStatus !== null) {
      messages.push(this.#lastStatus);
    }
    if (this.#lastCountdown !== null && this.#counting()) {
      messages.push(this.#lastCountdown);
    }
    return messages;
  }

  /** A tab (re)started this lease: acquire again if the session gave up on it. */
  start() {
    if (this.#phase === "idle") {
      this.acquire(NO_FLAGS);
    }
  }

  /**
   * Acquires (again), with the flags the tab asked for, once no request is in flight.
   *
   * @param {AcquireFlags} flags
   */
  acquire(flags) {
    this.#pending = { kind: "acquire", flags };
    this.#wake();
  }

  /** Releases the lease, or stops waiting for one; an in-flight heartbeat or poll is dropped. */
  release() {
    this.#pending = { kind: "release" };
    this.#abortRoutineRequest();
    this.#wake();
  }

  /**
   * The last tab left: releases the lease if we hold it (one attempt, since the browser may end
   * the worker soon), then stops for good.
   *
   * @returns {Promise<void>}
   */
  close() {
    if (this.#phase === "closed") {
      return Promise.resolve();
    }

    const closed = new Promise((resolve) => {
      this.#whenClosed = () => resolve(undefined);
    });
    this.#pending = null;
    this.#abortRoutineRequest();
    this.#wake();
    return closed;
  }

  // --- the loop ---------------------------------------------------------------------------

  /** Posts the countdown, sends what is due, and sets the one timer for the next wake. */
  #wake() {
    this.#env.clearTimer(this.#timer);
    this.#timer = undefined;
    if (this.#phase === "closed") {
      return;
    }

    const now = this.#env.now();
    const prediction = this.#tick(now);
    if (this.#inFlight === null) {
      this.#sendWhatIsDue(now, prediction);
    }
    this.#schedule(now, prediction);
  }

  /**
   * The prediction now, posted as a countdown, with `in_doubt` and `expired` posted when the
   * holder's prediction first reaches them.
   *
   * @param {number} now
   * @returns {Prediction | null}
   */
  #tick(now) {
    if (!this.#counting()) {
      return null;
    }

    if (this.#holder !== null && this.#phase === "waiting") {
      const prediction = this.#predictWaiter(now);
      this.#postCountdown("waiter", this.#holder.owner, this.#holder.fence, prediction);
      return prediction;
    }

    const grant = /** @type {Grant} */ (this.#grant);
    const prediction = this.#predictHolder(now);
    if (SEVERITY[prediction.state] > SEVERITY[this.#predicted]) {
      this.#predicted = prediction.state;
      this.#postPredictedState(grant, prediction);
    }
    this.#postCountdown("holder", grant.owner, grant.fence, prediction);
    return prediction;
  }

  /** Whether there is a lease to count down: ours, or the one we wait for. */
  #counting() {
    const holding = this.#phase === "holding" || this.#phase === "releasing";
    const waiting = this.#phase === "waiting";
    return (holding && this.#grant !== null) || (waiting && this.#holder !== null);
  }

  /**
   * @param {number} now
   * @param {Prediction | null} prediction
   */
  #sendWhatIsDue(now, prediction) {
    if (this.#whenClosed !== null) {
      this.#closeNow();
      return;
    }
    if (this.#pending !== null) {
      this.#runPending();
      return;
    }

    const takeoverDue = this.#phase === "waiting" && this.#takeoverDue(prediction);
    if (now < this.#nextRequestAt && !takeoverDue) {
      return;
    }
    switch (this.#phase) {
      case "acquiring":
        this.#acquireNow(this.#flags);
        break;
      case "holding":
        this.#heartbeatNow();
        break;
      case "waiting":
        if (takeoverDue) {
          this.#triedTakeoverOf = expiryKey(/** @type {HeldStatus} */ (this.#holder));
          this.#acquireNow(NO_FLAGS);
        } else {
          this.#pollNow();
        }
        break;
      case "releasing":
        this.#unlockNow();
        break;
      default:
        break;
    }
  }

  /**
   * One timer: the next countdown tick, the next predicted change of state, or the next
   * request, whichever comes first. Nothing is queued, so late timers never pile up.
   *
   * @param {number} now
   * @param {Prediction | null} prediction
   */
  #schedule(now, prediction) {
    if (this.#phase === "closed") {
      return;
    }

    /** @type {number[]} */
    const delays = [];
    if (prediction !== null) {
      delays.push(COUNTDOWN_TICK_MS - (now % COUNTDOWN_TICK_MS));
      const change = this.#nextChangeIn(prediction);
      if (change > 0) {
        delays.push(change);
      }
    }
    const requesting = ["acquiring", "holding", "waiting", "releasing"].includes(this.#phase);
    if (this.#inFlight === null && requesting) {
      delays.push(this.#nextRequestAt - now);
    }
    if (delays.length === 0) {
      return;
    }

    const delay = Math.max(0, Math.min(...delays));
    this.#timer = this.#env.setTimer(() => this.#wake(), delay);
  }

  /**
   * Milliseconds until the prediction changes in a way the tabs must hear at once: the holder
   * going `in_doubt`, then `expired`; the waiter's moment to take over. 0: no such change.
   *
   * @param {Prediction} prediction
   */
  #nextChangeIn(prediction) {
    if (this.#phase === "waiting") {
      return prediction.takeover_in_ms;
    }
    if (prediction.state === "held" || prediction.state === "due") {
      return prediction.holder_stale_in_ms;
    }
    return prediction.state === "in_doubt" ? prediction.takeover_in_ms : 0;
  }

  /** @param {Prediction | null} prediction */
  #takeoverDue(prediction) {
    if (prediction === null || this.#holder === null || prediction.state !== "expired") {
      return false;
    }
    return this.#triedTakeoverOf !== expiryKey(this.#holder);
  }

  #runPending() {
    const command = /** @type {Command} */ (this.#pending);
    this.#pending = null;

    if (command.kind === "acquire") {
      this.#flags = command.flags;
      if (this.#phase === "idle") {
        this.#phase = "acquiring";
      }
      this.#acquireNow(command.flags);
      return;
    }
    if (this.#grant !== null) {
      this.#phase = "releasing";
      this.#unlockNow();
      return;
    }
    this.#stopWaiting();
  }

  /** A release while we hold nothing: stop waiting or retrying, and say so. */
  #stopWaiting() {
    const fence = this.#holder?.fence ?? 0;
    this.#phase = "idle";
    this.#holder = null;
    this.#post({ type: "released", released: false, reason: null, fence });
  }

  #closeNow() {
    if (this.#grant === null) {
      this.#dispose();
      return;
    }
    this.#phase = "releasing";
    this.#unlockNow();
  }

  #dispose() {
    this.#env.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#phase = "closed";
    this.#grant = null;
    this.#whenClosed?.();
  }

  // --- requests -----------------------------------------------------------------------------

  /** @param {AcquireFlags} flags */
  #acquireNow(flags) {
    const body = {
      session_id: this.#config.sessionId,
      heartbeat_interval_s: this.#config.intervalS,
      takeover: flags.takeover,
      force: flags.force,
    };
    this.#send("lock", body, (answer) => this.#onAcquireAnswer(answer));
  }

  #heartbeatNow() {
    const grant = /** @type {Grant} */ (this.#grant);
    this.#send("heartbeat", { lease_id: grant.lease_id }, (answer) => this.#onHeartbeat(answer));
  }

  #pollNow() {
    this.#send("status", null, (answer) => this.#onPoll(answer));
  }

  #unlockNow() {
    const grant = /** @type {Grant} */ (this.#grant);
    this.#send("unlock", { lease_id: grant.lease_id }, (answer) => this.#onUnlocked(answer));
  }

  /**
   * Sends one request, hands its answer to `handle`, then wakes the loop.
   *
   * @param {Action} action
   * @param {object | null} body
   * @param {(answer: Answer) => void} handle
   */
  #send(action, body, handle) {
    this.#request(action, body)
      .then(handle)
      .catch((error) => this.#postError(internalError(error), null, false))
      .finally(() => this.#wake());
  }

  /**
   * @param {Action} action
   * @param {object | null} body
   * @returns {Promise<Answer>}
   */
  async #request(action, body) {
    const controller = new AbortController();
    this.#inFlight = { action, controller };
    const timeout = this.#env.setTimer(() => controller.abort("timeout"), this.#timeoutMs());
    const sentAt = this.#env.now();

    try {
      const response = await this.#env.fetch(this.#url(action), {
        method: body === null ? "GET" : "POST",
        headers: this.#headers(body !== null),
        body: body === null ? null : JSON.stringify(body),
        signal: controller.signal,
        cache: "no-store",
        // The unlock sent as the last tab closes may have to outlive the worker.
        keepalive: action === "unlock",
      });
      const text = await response.text();
      const receivedAt = this.#env.now();
      return { status: response.status, text, sentAt, receivedAt, superseded: false, failure: "" };
    } catch (error) {
      const superseded = controller.signal.reason === "superseded";
      const failure = controller.signal.reason === "timeout" ? "timed out" : describe(error);
      const receivedAt = this.#env.now();
      return { status: 0, text: "", sentAt, receivedAt, superseded, failure };
    } finally {
      this.#env.clearTimer(timeout);
      this.#inFlight = null;
    }
  }

  /** A release or close does not wait for a heartbeat or a poll: their answers no longer
   * matter. An acquire is never dropped, since it may come back with a lease to release. */
  #abortRoutineRequest() {
    const action = this.#inFlight?.action;
    if (action === "heartbeat" || action === "status") {
      this.#inFlight?.controller.abort("superseded");
    }
  }

  /** @param {Action} action */
  #url(action) {
    const base = this.#config.baseUrl.replace(/\/+$/, "");
    const project = encodeURIComponent(this.#config.projectId);
    const path = action === "status" ? "lock" : action;
    return `${base}/v1/projects/${project}/${path}`;
  }

  /** @param {boolean} withBody */
  #headers(withBody) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    if (withBody) {
      headers["Content-Type"] = "application/json";
    }
    if (this.#config.user !== undefined) {
      headers["X-Leasekit-User"] = this.#config.user;
    }
    if (this.#config.bearerToken !== undefined) {
      headers.Authorization = `Bearer ${this.#config.bearerToken}`;
    }
    return headers;
  }

  #intervalMs() {
    return this.#grant?.timing.interval_ms ?? this.#config.intervalS * 1000;
  }

  #timeoutMs() {
    return Math.min(MAX_TIMEOUT_MS, Math.max(MIN_TIMEOUT_MS, this.#intervalMs() / 2));
  }

  /** Jittered exponential backoff after `#failures` failures in a row, capped at an interval. */
  #retryDelay() {
    const backoff = Math.min(this.#intervalMs(), 1000 * 2 ** Math.min(this.#failures - 1, 16));
    return backoff * (0.8 + 0.4 * this.#env.random());
  }

  #pollDelay() {
    const spread = 1 + POLL_SPREAD * (2 * this.#env.random() - 1);
    return this.#config.intervalS * 1000 * spread;
  }

  // --- answers ------------------------------------------------------------------------------

  /** @param {Answer} answer */
  #onAcquireAnswer(answer) {
    if (!isTransient(answer)) {
      // The flags of a takeover are for one answer; retries after no answer keep them.
      this.#flags = NO_FLAGS;
    }

    if (answer.status === 200) {
      this.#acceptGrant(answer, "acquire");
    } else if (answer.status === 409) {
      this.#onLocked(answer);
    } else if (isTransient(answer)) {
      this.#failed(answer);
    } else {
      // A refused takeover leaves a waiter waiting; a refused first acquire stops.
      const keepGoing = this.#phase === "waiting" || this.#phase === "holding";
      this.#refused(answer, !keepGoing);
    }
  }

  /** @param {Answer} answer */
  #onHeartbeat(answer) {
    if (answer.superseded) {
      return;
    }

    if (answer.status === 200) {
      this.#acceptGrant(answer, "heartbeat");
    } else if (answer.status === 409) {
      this.#onLeaseRefused(answer);
    } else if (isTransient(answer)) {
      this.#failed(answer);
    } else {
      this.#refused(answer, true);
    }
  }

  /** @param {Answer} answer */
  #onPoll(answer) {
    if (answer.superseded) {
      return;
    }
    if (answer.status !== 200) {
      isTransient(answer) ? this.#failed(answer) : this.#refused(answer, true);
      return;
    }

    const status = this.#readStatus(answer.text, answer);
    if (status === null) {
      return;
    }
    this.#succeeded();
    if (!status.held || status.stale) {
      this.#phase = "acquiring";
      this.#nextRequestAt = this.#env.now();
      return;
    }

    const previous = this.#holder;
    const changed = previous === null || holderKey(previous) !== holderKey(status);
    const sameOwner = previous?.owner === status.owner ? this.#sameOwner : null;
    this.#nextRequestAt = this.#env.now() + this.#pollDelay();
    this.#wait(status, sameOwner, changed);
  }

  /** @param {Answer} answer */
  #onUnlocked(answer) {
    if (this.#whenClosed !== null) {
      this.#dispose();
      return;
    }
    if (isTransient(answer)) {
      this.#failed(answer);
      return;
    }
    if (answer.status !== 200) {
      this.#refused(answer, true);
      return;
    }

    const result = parseJson(answer.text);
    const grant = /** @type {Grant} */ (this.#grant);
    this.#succeeded();
    this.#grant = null;
    this.#phase = "idle";
    this.#post({
      type: "released",
      released: result?.released === true,
      reason: result?.reason === "already_released" || result?.reason === "superseded"
        ? result.reason
        : null,
      fence: typeof result?.fence === "number" ? result.fence : grant.fence,
    });
  }

  /**
   * A 200 from lock or heartbeat: the grant, checked by the core.
   *
   * @param {Answer} answer
   * @param {"acquire" | "heartbeat"} via
   */
  #acceptGrant(answer, via) {
    let grant;
    try {
      grant = this.#env.wasm.parseGrant(answer.text);
    } catch (error) {
      this.#garbled(answer, error);
      return;
    }

    this.#observe(answer, grant.server_time);
    if (this.#whenClosed !== null || this.#pending?.kind === "release") {
      // Released (or closed) while the acquire was in flight: keep the token to release it.
      this.#grant = grant;
      return;
    }
    this.#hold(grant, via);
  }

  /**
   * @param {Grant} grant
   * @param {"acquire" | "heartbeat"} via
   */
  #hold(grant, via) {
    const now = this.#env.now();
    this.#grant = grant;
    this.#holder = null;
    this.#phase = this.#phase === "releasing" ? "releasing" : "holding";
    this.#predicted = "held";
    this.#succeeded();

    const prediction = this.#predictHolder(now);
    const early = this.#env.random() * EARLY_BEAT_FRACTION * grant.timing.interval_ms;
    this.#nextRequestAt = now + Math.max(0, prediction.heartbeat_due_in_ms - early);
    this.#post({ type: "held", via, grant: publicGrant(grant), prediction });
  }

  /**
   * A 409 to an acquire: somebody else holds the project.
   *
   * @param {Answer} answer
   */
  #onLocked(answer) {
    const envelope = this.#readEnvelope(answer);
    if (envelope === null) {
      return;
    }
    if (envelope.code !== "PROJECT_LOCKED") {
      this.#refused(answer, false);
      return;
    }
    const status = this.#readStatus(JSON.stringify(envelope.lock), answer);
    if (status === null) {
      return;
    }

    if (this.#grant !== null) {
      // We asked to renew and found someone else in our place.
      this.#post({ type: "lost", grant: publicGrant(this.#grant), holder: status });
      this.#grant = null;
    }
    if (!status.held) {
      this.#garbled(answer, new Error("a PROJECT_LOCKED answer must name the holder"));
      return;
    }
    this.#succeeded();
    this.#nextRequestAt = this.#env.now() + this.#pollDelay();
    this.#wait(status, envelope.sameOwner, true);
  }

  /**
   * @param {HeldStatus} holder
   * @param {boolean | null} sameOwner
   * @param {boolean} announce Post `busy` (a new holder), or only follow the countdown.
   */
  #wait(holder, sameOwner, announce) {
    this.#phase = "waiting";
    this.#holder = holder;
    this.#sameOwner = sameOwner;
    if (!announce) {
      return;
    }

    const prediction = this.#predictWaiter(this.#env.now());
    this.#post({ type: "busy", holder, sameOwner, prediction });
  }

  /**
   * A 409 to a heartbeat: the lease is lost or stale, by the service's judgement.
   *
   * @param {Answer} answer
   */
  #onLeaseRefused(answer) {
    const envelope = this.#readEnvelope(answer);
    if (envelope === null) {
      return;
    }
    const grant = publicGrant(/** @type {Grant} */ (this.#grant));

    if (envelope.code === "LEASE_LOST") {
      const lock = envelope.lock;
      const holder = lock === null ? null : this.#readStatus(JSON.stringify(lock), answer);
      this.#giveUp();
      this.#post({ type: "lost", grant, holder });
    } else if (envelope.code === "LEASE_EXPIRED") {
      this.#giveUp();
      this.#post({ type: "expired", confirmed: true, grant, prediction: null });
    } else {
      this.#refused(answer, true);
    }
  }

  /** Our lease is over: no token, no more heartbeats until a tab asks to acquire. */
  #giveUp() {
    this.#succeeded();
    this.#grant = null;
    this.#phase = "idle";
  }

  /**
   * No usable answer: count it, say so once per streak, and retry after a backoff.
   *
   * @param {Answer} answer
   */
  #failed(answer) {
    const envelope = answer.status === 0 ? null : readEnvelope(answer.text);
    if (envelope?.timestamp != null) {
      this.#observe(answer, envelope.timestamp);
    }

    this.#online = answer.status !== 0;
    this.#failures += 1;
    this.#nextRequestAt = this.#env.now() + this.#retryDelay();
    if (this.#failures === 1) {
      const error = envelope === null
        ? { code: "unreachable", message: `no answer from the service: ${answer.failure}` }
        : envelope;
      this.#postError(error, answer, false);
    }
  }

  /**
   * A refusal that retrying does not cure (bad input, credentials, roles).
   *
   * @param {Answer} answer
   * @param {boolean} fatal Stop asking the service for this lease.
   */
  #refused(answer, fatal) {
    const envelope = readEnvelope(answer.text);
    if (envelope?.timestamp != null) {
      this.#observe(answer, envelope.timestamp);
    }

    this.#succeeded();
    if (fatal) {
      this.#phase = "idle";
      this.#holder = null;
    } else {
      this.#nextRequestAt = this.#env.now() + this.#pollDelay();
    }
    const unexpected = {
      code: `HTTP_${answer.status}`,
      message: `unexpected answer ${answer.status} from the service`,
    };
    this.#postError(envelope ?? unexpected, answer, fatal);
  }

  /**
   * An answer whose body the core refused: treated as no answer, and reported.
   *
   * @param {Answer} answer
   * @param {unknown} error
   */
  #garbled(answer, error) {
    this.#online = true;
    this.#failures += 1;
    this.#nextRequestAt = this.#env.now() + this.#retryDelay();
    this.#postError(leaseErrorFields(error), answer, false);
  }

  #succeeded() {
    this.#online = true;
    this.#failures = 0;
  }

  /**
   * @param {Answer} answer
   * @returns {Envelope | null}
   */
  #readEnvelope(answer) {
    const envelope = readEnvelope(answer.text);
    if (envelope === null) {
      this.#garbled(answer, new Error("the 409 answer is not the service's error envelope"));
    }
    return envelope;
  }

  /**
   * A status view (`GET .../lock`, or the `lock` of a 409), checked by the core; feeds the
   * skew estimator.
   *
   * @param {string} text
   * @param {Answer} answer
   * @returns {LockStatus | null}
   */
  #readStatus(text, answer) {
    try {
      const status = this.#env.wasm.parseStatus(text);
      this.#observe(answer, status.server_time);
      return status;
    } catch (error) {
      this.#garbled(answer, error);
      return null;
    }
  }

  /**
   * @param {Answer} answer
   * @param {number} serverTime
   */
  #observe(answer, serverTime) {
    try {
      this.#skew.observe(answer.sentAt, serverTime, answer.receivedAt);
    } catch {
      // The local clock went backwards during the request: the sample says nothing.
    }
  }

  // --- predictions and posts ------------------------------------------------------------------

  /** @param {number} now */
  #predictHolder(now) {
    const grant = /** @type {Grant} */ (this.#grant);
    return this.#env.wasm.predict(grant.timing, this.#skew.estimate(), now, HOLDER_MARGIN_MS);
  }

  /** @param {number} now */
  #predictWaiter(now) {
    const holder = /** @type {HeldStatus} */ (this.#holder);
    return this.#env.wasm.predict(holder.timing, this.#skew.estimate(), now, 0);
  }

  /**
   * @param {Grant} grant
   * @param {Prediction} prediction
   */
  #postPredictedState(grant, prediction) {
    if (prediction.state === "in_doubt") {
      this.#post({ type: "in_doubt", grant: publicGrant(grant), prediction });
    } else if (prediction.state === "expired") {
      const message = { grant: publicGrant(grant), prediction };
      this.#post({ type: "expired", confirmed: false, ...message });
    }
  }

  /**
   * @param {"holder" | "waiter"} role
   * @param {string} owner
   * @param {number} fence
   * @param {Prediction} prediction
   */
  #postCountdown(role, owner, fence, prediction) {
    const online = this.#online;
    this.#post({ type: "countdown", role, online, owner, fence, prediction });
  }

  /**
   * @param {{ code: string, message: string, field?: string | null }} error
   * @param {Answer | null} answer
   * @param {boolean} fatal
   */
  #postError(error, answer, fatal) {
    const status = answer === null || answer.status === 0 ? null : answer.status;
    const field = error.field ?? null;
    this.#post({ type: "error", code: error.code, message: error.message, status, field, fatal });
  }

  /** @param {import("./protocol").Unstamped<WorkerMessage>} unstamped */
  #post(unstamped) {
    const stamp = { projectId: this.#config.projectId, at: this.#env.now() };
    const message = /** @type {WorkerMessage} */ ({ ...unstamped, ...stamp });

    if (message.type === "countdown") {
      this.#lastCountdown = message;
    } else if (message.type !== "ping" && (message.type !== "error" || message.fatal)) {
      this.#lastStatus = message;
    }
    this.#env.broadcast(message);
  }
}

/**
 * @param {Grant} grant
 * @returns {PublicGrant}
 */
function publicGrant(grant) {
  const { lease_id: secret, ...visible } = grant;
  return visible;
}

/** Who holds a project: a change of holder is news for the tabs. */
/** @param {HeldStatus} holder */
function holderKey(holder) {
  return `${holder.owner}\u0000${holder.session_id}\u0000${holder.fence}`;
}

/** One expiry of one holder: each deserves one takeover attempt once the core says it passed. */
/** @param {HeldStatus} holder */
function expiryKey(holder) {
  return `${holderKey(holder)}\u0000${holder.heartbeat_at}`;
}

/** Whether asking again may help: no answer, or the service (or a proxy) failing. */
/** @param {Answer} answer */
function isTransient(answer) {
  return answer.status === 0 || answer.status >= 500 || [408, 429].includes(answer.status);
}

/**
 * @param {string} text
 * @returns {Record<string, unknown> | null}
 */
function parseJson(text) {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The fields the worker uses from the service's error envelope, or null when `text` is not one.
 * Reading the envelope's code is routing, not judging: the lease itself is read by the core.
 *
 * @param {string} text
 * @returns {Envelope | null}
 */
export function readEnvelope(text) {
  const body = parseJson(text);
  if (body === null || typeof body.code !== "string" || typeof body.message !== "string") {
    return null;
  }

  const details = Array.isArray(body.details) ? body.details : [];
  const field = typeof details[0]?.field === "string" ? details[0].field : null;
  const lock = typeof body.lock === "object" ? body.lock : null;
  const sameOwner = parseJson(JSON.stringify(lock ?? {}))?.same_owner;
  const timestamp = typeof body.timestamp === "string" ? Date.parse(body.timestamp) : NaN;
  return {
    code: body.code,
    message: body.message,
    field,
    lock,
    sameOwner: typeof sameOwner === "boolean" ? sameOwner : null,
    timestamp: Number.isFinite(timestamp) ? timestamp : null,
  };
}

/**
 * @param {unknown} error
 * @returns {{ code: string, message: string, field: string | null }}
 */
function leaseErrorFields(error) {
  const failure = /** @type {Partial<LeaseError>} */ (error ?? {});
  return {
    code: typeof failure.code === "string" ? failure.code : "invalid_document",
    message: typeof failure.message === "string" ? failure.message : String(error),
    field: typeof failure.field === "string" ? failure.field : null,
  };
}

/** @param {unknown} error */
function internalError(error) {
  return { code: "internal", message: `the lease worker failed: ${describe(error)}` };
}

/** @param {unknown} error */
function describe(error) {
  return error instanceof Error ? error.message : String(error);
}
