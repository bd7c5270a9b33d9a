// The browser module in Node (issue 8, item 6): prediction calls per second, module load time,
// and the size of the .wasm raw and gzipped, beside the plain-JS expiry check the UI runs today
// (`now >= Date.parse(heartbeat_at) + 180 s` on its `.lock` record).
//
// Usage: node bench/wasm_bench.mjs [--seconds S] [--pkg DIR]
// Prints one JSON object. DIR defaults to wasm-binding/pkg-node (built by scripts/build-wasm.sh);
// the sizes are those of wasm-binding/pkg-web, the build that ships to browsers.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: options } = parseArgs({
  options: {
    seconds: { type: "string", default: "1" },
    pkg: { type: "string", default: join(root, "wasm-binding", "pkg-node") },
  },
});
const seconds = Number(options.seconds);
if (!(seconds > 0)) {
  throw new RangeError(`--seconds ${options.seconds}: must be a positive number`);
}

// The nodejs build compiles and instantiates the module while it is required.
const loadStarted = performance.now();
const leasekit = createRequire(import.meta.url)(join(options.pkg, "leasekit_wasm.js"));
const loadMs = performance.now() - loadStarted;

/** Calls `work(round)` in batches until `seconds` have passed; returns calls per second. */
function callsPerSecond(work) {
  const batch = 10_000;
  let calls = 0;
  let sink = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (let round = 0; round < batch; round += 1) {
      sink += work(calls + round);
    }
    calls += batch;
  }
  const elapsedS = (performance.now() - started) / 1000;
  if (Number.isNaN(sink)) {
    throw new Error("the benchmarked call answered nothing usable");
  }
  return calls / elapsedS;
}

const heartbeatAt = Date.UTC(2027, 0, 15, 9, 0, 0);
const timing = { heartbeat_at: heartbeatAt, interval_ms: 60_000, stale_after_ms: 180_000 };
const skew = { offset_ms: -250, uncertainty_ms: 40, observed_at: heartbeatAt };
const lockRecord = { heartbeat_at: new Date(heartbeatAt).toISOString() };
const expiryMs = 180_000;

const checked = leasekit.predict(timing, skew, heartbeatAt + 45_000, 2_000);
if (checked.state !== "held") {
  throw new Error(`a lease 45 s into a 60 s interval should be held, got ${checked.state}`);
}

const predictPerS = callsPerSecond(
  (round) => leasekit.predict(timing, skew, heartbeatAt + (round % 200_000), 2_000).takeover_in_ms,
);
const plainPerS = callsPerSecond((round) => {
  const now = heartbeatAt + (round % 200_000);
  return now >= Date.parse(lockRecord.heartbeat_at) + expiryMs ? 1 : 0;
});

const module = readFileSync(join(root, "wasm-binding", "pkg-web", "leasekit_wasm_bg.wasm"));
console.log(
  JSON.stringify({
    node: process.version,
    load_ms: loadMs,
    predict_per_s: predictPerS,
    plain_check_per_s: plainPerS,
    wasm_bytes: module.length,
    wasm_gzip_bytes: gzipSync(module, { level: 9 }).length,
    pkg: pathToFileURL(options.pkg).href,
  }),
);
