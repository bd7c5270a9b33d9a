// The leasekit shared worker: one per origin, keeping project leases for all the tabs.
//
// Load it as a module SharedWorker, through `LeaseClient` (lease-client.js) or directly:
//
//   const worker = new SharedWorker("/lease-worker.js", { type: "module", name: "leasekit" });
//   worker.port.postMessage({ type: "start", projectId: "apollo", baseUrl: location.origin,
//                             sessionId, intervalS: 30 });
//
// The messages are in README.md and protocol.d.ts. This file only wires the browser's globals
// into the hub: the wasm build (the Rust core's rules, prediction and parsers), fetch, the wall
// clock, timers and randomness.

import init, * as wasm from "./pkg-web/leasekit_wasm.js";
import { LeaseHub } from "./lease-hub.js";

/** @typedef {{ onconnect: ((event: MessageEvent) => void) | null }} SharedWorkerScope */

const scope = /** @type {SharedWorkerScope} */ (/** @type {unknown} */ (globalThis));

// Tab messages wait for the module; `connect` events must be taken at once, before it loads. A
// failure to load is reported to each tab that writes (as `wasm_unavailable`), not thrown here.
const loaded = init().then(() => wasm);
loaded.catch(() => {});

const hub = new LeaseHub({
  wasm: loaded,
  fetch: (url, request) => fetch(url, request),
  now: () => Date.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimer: (handle) => clearTimeout(/** @type {number | undefined} */ (handle)),
  random: () => Math.random(),
  portCloseEvent: "onclose" in MessagePort.prototype,
});

scope.onconnect = (event) => {
  for (const port of event.ports) {
    hub.connect(port);
  }
};
