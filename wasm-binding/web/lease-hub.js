// The shared worker's switchboard: which tab is attached to which lease.
//
// A browser runs one SharedWorker per origin for all its tabs, so one heartbeat keeps a project
// lease alive however many tabs show it. The hub checks each tab message, attaches the tab's port
// to the session of its (service, project, user, bearer token), creates that session on the first
// `start`, and closes it (releasing the lease) when its last tab stops or vanishes.
//
// A tab that vanishes without `stop` (a crash, a killed renderer) is noticed by the MessagePort
// `close` event where the browser has it (Chromium 122+); elsewhere the hub pings the tabs and
// drops one that has not answered for three pings.

import { LeaseSession } from "./lease-session.js";

/**
 * @typedef {import("./protocol").StartMessage} StartMessage
 * @typedef {import("./protocol").WorkerMessage} WorkerMessage
 * @typedef {import("./lease-session.js").LeaseWasm} LeaseWasm
 * @typedef {import("./lease-session.js").SessionEnv} SessionEnv
 * @typedef {import("./lease-session.js").SessionConfig} SessionConfig
 * @typedef {import("./lease-session.js").AcquireFlags} AcquireFlags
 */

/**
 * The part of a MessagePort the hub uses (a browser's, or Node's in the tests).
 *
 * @typedef {object} TabPort
 * @property {(message: WorkerMessage) => void} postMessage
 * @property {(type: string, listener: (event: any) => void) => void} addEventListener
 * @property {() => void} start
 * @property {() => void} close
 */

/**
 * What the hub needs: the session's needs, with the wasm module still loading, and whether
 * ports announce their own end.
 *
 * @typedef {Omit<SessionEnv, "wasm" | "broadcast"> & {
 *   wasm: Promise<LeaseWasm>,
 *   portCloseEvent: boolean,
 * }} HubEnv
 */

/** @typedef {{ session: LeaseSession, ports: Set<TabPort> }} Lease */
/** @typedef {{ key: string | null, lastHeard: number, queue: Promise<void> }} Tab */

/** Without port `close` events: how often tabs are pinged, and how many pings they may miss. */
export const PING_INTERVAL_MS = 10_000;
const MISSED_PINGS = 3;

/** A tab message the hub refuses, naming the field and the rule. */
class InvalidMessage extends Error {
  /**
   * @param {string} field
   * @param {string} rule
   */
  constructor(field, rule) {
    super(`${field} ${rule}`);
    this.field = field;
  }
}

export class LeaseHub {
  /** @type {HubEnv} */
  #env;
  /** @type {Map<string, Lease>} */
  #leases = new Map();
  /** @type {Map<TabPort, Tab>} */
  #tabs = new Map();
  /** @type {unknown} */
  #pingTimer = undefined;
  /** @type {Set<Promise<void>>} */
  #closing = new Set();

  /** @param {HubEnv} env */
  constructor(env) {
    this.#env = env;
  }

  /**
   * Takes a newly connected tab's port.
   *
   * @param {TabPort} port
   */
  connect(port) {
    this.#tabs.set(port, { key: null, lastHeard: this.#env.now(), queue: Promise.resolve() });
    port.addEventListener("message", (event) => this.#enqueue(port, event.data));
    port.addEventListener("close", () => this.#forget(port));
    port.start();

    if (!this.#env.portCloseEvent && this.#pingTimer === undefined) {
      this.#pingTimer = this.#env.setTimer(() => this.#pingTabs(), PING_INTERVAL_MS);
    }
  }

  /** The number of leases the hub keeps, and of tabs attached to it. */
  get counts() {
    return { leases: this.#leases.size, tabs: this.#tabs.size };
  }

  /** Resolves once every lease whose last tab left has been released. */
  async settled() {
    await Promise.all(this.#closing);
  }

  /**
   * Handles one tab's messages in order, after the wasm module has loaded.
   *
   * @param {TabPort} port
   * @param {unknown} message
   */
  #enqueue(port, message) {
    const tab = this.#tabs.get(port);
    if (tab === undefined) {
      return;
    }
    tab.lastHeard = this.#env.now();
    tab.queue = tab.queue.then(() => this.#handle(port, message));
  }

  /**
   * @param {TabPort} port
   * @param {unknown} message
   */
  async #handle(port, message) {
    let wasm;
    try {
      wasm = await this.#env.wasm;
    } catch (error) {
      const reason = `the lease worker could not load its WebAssembly module: ${describe(error)}`;
      this.#postError(port, "wasm_unavailable", reason, null);
      return;
    }

    try {
      this.#receive(port, message, wasm);
    } catch (error) {
      if (error instanceof InvalidMessage) {
        this.#postError(port, "invalid_message", error.message, error.field);
      } else {
        this.#postError(port, "internal", `the lease worker failed: ${describe(error)}`, null);
      }
    }
  }

  /**
   * @param {TabPort} port
   * @param {unknown} message
   * @param {LeaseWasm} wasm
   */
  #receive(port, message, wasm) {
    const type = readType(message);
    if (type === "start") {
      this.#attach(port, readStart(message), wasm);
    } else if (type === "acquire") {
      this.#leaseOf(port).session.acquire(readAcquire(message));
    } else if (type === "release") {
      this.#leaseOf(port).session.release();
    } else if (type === "stop") {
      this.#detach(port);
    } else if (type !== "alive") {
      throw new InvalidMessage("type", "must be start, acquire, release, stop or alive");
    }
  }

  /**
   * @param {TabPort} port
   * @param {SessionConfig} config
   * @param {LeaseWasm} wasm
   */
  #attach(port, config, wasm) {
    const tab = /** @type {Tab} */ (this.#tabs.get(port));
    const key = leaseKey(config);
    if (tab.key !== key) {
      this.#detach(port);
    }

    let lease = this.#leases.get(key);
    if (lease === undefined) {
      lease = this.#open(config, wasm);
      this.#leases.set(key, lease);
    } else {
      lease.session.start();
    }
    lease.ports.add(port);
    tab.key = key;
    for (const message of lease.session.snapshot()) {
      port.postMessage(message);
    }
  }

  /**
   * @param {SessionConfig} config
   * @param {LeaseWasm} wasm
   * @returns {Lease}
   */
  #open(config, wasm) {
    /** @type {Set<TabPort>} */
    const ports = new Set();
    const broadcast = (/** @type {WorkerMessage} */ message) => {
      for (const port of ports) {
        port.postMessage(message);
      }
    };
    const { portCloseEvent: _, ...env } = this.#env;
    return { session: new LeaseSession(config, { ...env, wasm, broadcast }), ports };
  }

  /** @param {TabPort} port */
  #leaseOf(port) {
    const key = this.#tabs.get(port)?.key;
    const lease = key === undefined || key === null ? undefined : this.#leases.get(key);
    if (lease === undefined) {
      throw new InvalidMessage("type", "must be start before acquire or release");
    }
    return lease;
  }

  /**
   * Detaches a tab from its lease; the lease's last tab closes it.
   *
   * @param {TabPort} port
   */
  #detach(port) {
    const tab = this.#tabs.get(port);
    if (tab === undefined || tab.key === null) {
      return;
    }
    const lease = /** @type {Lease} */ (this.#leases.get(tab.key));
    lease.ports.delete(port);
    if (lease.ports.size === 0) {
      this.#leases.delete(tab.key);
      const closing = lease.session.close();
      this.#closing.add(closing);
      void closing.finally(() => this.#closing.delete(closing));
    }
    tab.key = null;
  }

  /** @param {TabPort} port */
  #forget(port) {
    this.#detach(port);
    this.#tabs.delete(port);
  }

  #pingTabs() {
    const now = this.#env.now();
    for (const [port, tab] of this.#tabs) {
      if (now - tab.lastHeard > MISSED_PINGS * PING_INTERVAL_MS) {
        this.#forget(port);
        port.close();
      } else {
        port.postMessage({ type: "ping" });
      }
    }

    this.#pingTimer = this.#tabs.size === 0
      ? undefined
      : this.#env.setTimer(() => this.#pingTabs(), PING_INTERVAL_MS);
  }

  /**
   * Tells one tab what went wrong with its message, as a fatal error.
   *
   * @param {TabPort} port
   * @param {string} code
   * @param {string} message
   * @param {string | null} field
   */
  #postError(port, code, message, field) {
    const stamp = { projectId: "", at: this.#env.now() };
    port.postMessage({ type: "error", ...stamp, code, message, status: null, field, fatal: true });
  }
}

/**
 * One lease per service, project, user and credentials: tabs that agree on all four share it.
 *
 * @param {SessionConfig} config
 */
function leaseKey(config) {
  const { baseUrl, projectId, user, bearerToken } = config;
  return JSON.stringify([baseUrl, projectId, user ?? null, bearerToken ?? null]);
}

/** @param {unknown} message */
function readType(message) {
  if (typeof message !== "object" || message === null) {
    throw new InvalidMessage("message", "must be an object with a type");
  }
  return /** @type {{ type?: unknown }} */ (message).type;
}

/**
 * Checks a `start` message; the service checks the contents further (id pattern, interval range).
 *
 * @param {unknown} message
 * @returns {SessionConfig}
 */
function readStart(message) {
  const fields = /** @type {Record<string, unknown>} */ (message);
  const projectId = text(fields, "projectId");
  const sessionId = text(fields, "sessionId");
  const baseUrl = absoluteUrl(text(fields, "baseUrl"));
  const intervalS = fields.intervalS;
  if (typeof intervalS !== "number" || !Number.isInteger(intervalS) || intervalS <= 0) {
    throw new InvalidMessage("start.intervalS", "must be a whole number of seconds above 0");
  }

  /** @type {SessionConfig} */
  const config = { projectId, sessionId, baseUrl, intervalS };
  if (fields.user !== undefined) {
    config.user = headerValue(fields, "user");
  }
  if (fields.bearerToken !== undefined) {
    config.bearerToken = headerValue(fields, "bearerToken");
  }
  return config;
}

/**
 * @param {unknown} message
 * @returns {AcquireFlags}
 */
function readAcquire(message) {
  const fields = /** @type {Record<string, unknown>} */ (message);
  return { takeover: flag(fields, "takeover"), force: flag(fields, "force") };
}

/**
 * @param {Record<string, unknown>} fields
 * @param {string} name
 */
function text(fields, name) {
  const value = fields[name];
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidMessage(`start.${name}`, "must be a non-empty string");
  }
  return value;
}

/**
 * A field that travels in an HTTP header, where fetch takes only Latin-1 and the service reads
 * UTF-8: printable ASCII keeps both sides reading the same name.
 *
 * @param {Record<string, unknown>} fields
 * @param {string} name
 */
function headerValue(fields, name) {
  const value = text(fields, name);
  if (!/^[\x20-\x7e]+$/.test(value)) {
    throw new InvalidMessage(`start.${name}`, "must be printable ASCII (it is sent as a header)");
  }
  return value;
}

/**
 * @param {Record<string, unknown>} fields
 * @param {string} name
 */
function flag(fields, name) {
  const value = fields[name] ?? false;
  if (typeof value !== "boolean") {
    throw new InvalidMessage(`acquire.${name}`, "must be true or false when given");
  }
  return value;
}

/** @param {string} baseUrl */
function absoluteUrl(baseUrl) {
  let url;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new InvalidMessage("start.baseUrl", "must be an absolute http or https URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidMessage("start.baseUrl", "must be an absolute http or https URL");
  }
  return baseUrl;
}

/** @param {unknown} error */
function describe(error) {
  return error instanceof Error ? error.message : String(error);
}
