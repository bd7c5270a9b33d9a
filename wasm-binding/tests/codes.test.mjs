// The error codes across runtimes.
//
// The chain of equalities: a Rust test in wasm-binding/src/errors.rs
// (`typescript_error_code_union_equals_the_core_codes_in_order`) proves the `ErrorCode` union
// written into the `.d.ts` equals the core's `ALL_CODES`; this test proves that the `.d.ts` that
// ships declares exactly what `errorCodes()` returns at run time. So JavaScript sees the core's
// codes, in the core's order.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { leasekit } from "./support.mjs";

const declarations = readFileSync(
  new URL("../pkg-node/leasekit_wasm.d.ts", import.meta.url),
  "utf8",
);

function declaredCodes() {
  const union = declarations.match(/export type ErrorCode =([^;]*);/);
  assert.ok(union, "the .d.ts declares the ErrorCode union");
  return [...union[1].matchAll(/"([a-z_]+)"/g)].map((match) => match[1]);
}

test("errorCodes() equals the ErrorCode union of the shipped .d.ts, in order", () => {
  assert.deepEqual(leasekit.errorCodes(), declaredCodes());
});

test("the codes are unique snake_case and include every refusal and input error", () => {
  const codes = leasekit.errorCodes();

  assert.equal(new Set(codes).size, codes.length);
  for (const code of codes) assert.match(code, /^[a-z]+(_[a-z]+)*$/);
  for (const code of ["lease_held", "lease_lost", "time_out_of_range", "invalid_document"]) {
    assert.ok(codes.includes(code), code);
  }
});

test("each call returns a fresh array that callers may change", () => {
  const first = leasekit.errorCodes();
  first.length = 0;

  assert.ok(leasekit.errorCodes().length > 0);
});
