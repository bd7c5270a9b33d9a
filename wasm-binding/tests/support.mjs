// Shared by the Node tests: the built module, and checks that a thrown value is a LeaseError.
//
// The tests load `pkg-node/`, the module exactly as `scripts/build-wasm.sh` ships it (after
// wasm-opt), so they test what ships. Build it first: `make wasm`.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";

const modulePath = new URL("../pkg-node/leasekit_wasm.js", import.meta.url);
if (!existsSync(modulePath)) {
  throw new Error(`${modulePath.pathname} is missing: run \`make wasm\` first`);
}

/** The wasm module's exports. */
export const leasekit = createRequire(import.meta.url)(modulePath.pathname);

const knownCodes = new Set(leasekit.errorCodes());

/**
 * Runs `call`, which must throw a LeaseError: a real `Error` (not a wasm trap, not a string)
 * with a known `code` and a `field`. Returns the error for further checks.
 */
export function assertLeaseError(call, expected = {}) {
  let thrown;
  try {
    call();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, "expected a LeaseError, but nothing was thrown");
  assert.ok(thrown instanceof Error, `expected an Error, got ${typeof thrown}: ${thrown}`);
  assert.ok(
    !(thrown instanceof WebAssembly.RuntimeError),
    `a wasm trap reached JavaScript: ${thrown.message}`,
  );
  assert.equal(thrown.name, "LeaseError", thrown.message);
  assert.ok(knownCodes.has(thrown.code), `unknown code ${thrown.code}: ${thrown.message}`);
  assert.equal(typeof thrown.field, "string", thrown.message);
  assert.ok(thrown.message.length > 0);
  if (expected.code !== undefined) {
    assert.equal(thrown.code, expected.code, thrown.message);
  }
  if (expected.field !== undefined) {
    assert.equal(thrown.field, expected.field, thrown.message);
  }
  return thrown;
}
