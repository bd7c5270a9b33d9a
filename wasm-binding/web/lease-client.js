// The tab side of the lease worker: connects to it, says `stop` when the page goes away, says
// `start` again when the page comes back from the back/forward cache, and answers the worker's
// liveness pings. A UI needs only this module:
//
//   import { LeaseClient, browserSessionId } from "./lease-client.js";
//
//   const lease = new LeaseClient();
//   lease.onmessage = (message) => render(message);   // held, busy, countdown, lost, ...
//   lease.start({ projectId: "apollo", sessionId: browserSessionId(), intervalS: 30 });
//   releaseButton.onclick = () => lease.release();

/**
 * @typedef {import("./protocol").StartMessage} StartMessage
 * @typedef {import("./protocol").TabMessage} TabMessage
 * @typedef {import("./protocol").WorkerMessage} WorkerMessage
 */

/**
 * What `start` takes: `baseUrl` defaults to this page's origin and may be relative.
 *
 * @typedef {Omit<StartMessage, "type" | "baseUrl"> & { baseUrl?: string }} StartOptions
 */

export class LeaseClient {
  /** @type {MessagePort} */
  #port;
  /** @type {StartMessage | null} */
  #started = null;
  /** Receives every message of the worker but its pings. */
  /** @type {((message: WorkerMessage) => void) | null} */
  onmessage = null;

  /**
   * @param {string | URL} workerUrl The worker script (by default, the one beside this module).
   * @param {string} name Tabs that pass the same name (and URL) share one worker.
   */
  constructor(workerUrl = new URL("./lease-worker.js", import.meta.url), name = "leasekit") {
    const worker = new SharedWorker(workerUrl, { type: "module", name });
    this.#port = worker.port;
    this.#port.onmessage = (event) => this.#receive(event.data);
    worker.onerror = () => this.#deliver(workerFailed());

    addEventListener("pagehide", () => this.#post({ type: "stop" }));
    addEventListener("pageshow", (event) => {
      if (event.persisted && this.#started !== null) {
        this.#post(this.#started);
      }
    });
  }

  /**
   * Attaches this tab to a project's lease; the worker acquires it unless it holds it already.
   *
   * @param {StartOptions} options
   */
  start(options) {
    const baseUrl = new URL(options.baseUrl ?? location.origin, location.href).href;
    this.#started = { ...options, type: "start", baseUrl };
    this.#post(this.#started);
  }

  /**
   * Acquires again, or takes over (`takeover`: from your other session; `force`: from another
   * user, administrators only).
   *
   * @param {{ takeover?: boolean, force?: boolean }} options
   */
  acquire(options = {}) {
    this.#post({ type: "acquire", ...options });
  }

  /** Releases the lease; this tab stays attached and may acquire again. */
  release() {
    this.#post({ type: "release" });
  }

  /** Detaches this tab; the worker releases the lease when no tab is left. */
  stop() {
    this.#started = null;
    this.#post({ type: "stop" });
  }

  /** @param {TabMessage} message */
  #post(message) {
    this.#port.postMessage(message);
  }

  /** @param {WorkerMessage} message */
  #receive(message) {
    if (message.type === "ping") {
      this.#post({ type: "alive" });
      return;
    }
    this.#deliver(message);
  }

  /** @param {WorkerMessage} message */
  #deliver(message) {
    this.onmessage?.(message);
  }
}

/**
 * A session id shared by the tabs of this browser profile (kept in `localStorage`), so that its
 * tabs are one holder to the service, and a new one per browser or device.
 *
 * @param {Storage} storage
 * @param {string} key
 */
export function browserSessionId(storage = localStorage, key = "leasekit.session-id") {
  const known = storage.getItem(key);
  if (known !== null) {
    return known;
  }
  const created = `browser-${crypto.randomUUID()}`;
  storage.setItem(key, created);
  return created;
}

/** @returns {WorkerMessage} */
function workerFailed() {
  return {
    type: "error",
    projectId: "",
    at: Date.now(),
    code: "worker_failed",
    message: "the lease worker failed to start (see the browser console)",
    status: null,
    field: null,
    fatal: true,
  };
}
