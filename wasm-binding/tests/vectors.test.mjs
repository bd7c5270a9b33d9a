// Replays every conformance vector of core/vectors/ through the wasm module.
//
// This is the JavaScript replayer that core/vectors/README.md asks for. It knows the vector
// format (fields, token shorthand, pattern matching, invariants) but no lease rule: every answer
// comes from the module's exports, so a wrong conversion anywhere in the binding shows up as a
// mismatch naming the file, the scenario, the step and the field.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { leasekit } from "./support.mjs";

const vectorDir = new URL("../../core/vectors/", import.meta.url);
const codes = leasekit.errorCodes();

const FILE_FIELDS = ["format", "scenarios"];
const SCENARIO_FIELDS = ["name", "rules", "description", "initial", "steps", "final"];
const STEP_FIELDS = ["at", "op", "expect", "events"];

/** Per operation: the arguments it requires, then those it also accepts. */
const ARGUMENTS = {
  acquire: [["owner", "session_id", "interval_ms", "token"], ["beats", "takeover", "force"]],
  heartbeat: [["token"], []],
  release: [["token"], []],
  sweep: [[], []],
  status: [[], []],
  reload: [[], []],
};

/** A replay that differs from its vector: the place, and both values. */
class Mismatch extends Error {
  constructor(where, field, expected, actual) {
    super(`${where}: ${field}: expected ${expected}, got ${actual}`);
    this.name = "Mismatch";
  }
}

const show = (value) => (value === undefined ? "absent" : JSON.stringify(value));

function checkFields(object, allowed, where) {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      throw new Mismatch(where, key, `one of ${allowed.join(", ")}`, "an unknown field");
    }
  }
}

function checkArguments(step, where) {
  const known = ARGUMENTS[step.op];
  if (known === undefined) {
    throw new Mismatch(where, "op", Object.keys(ARGUMENTS).join(" | "), show(step.op));
  }
  const [required, optional] = known;
  for (const key of Object.keys(step)) {
    if (!STEP_FIELDS.includes(key) && !required.includes(key) && !optional.includes(key)) {
      throw new Mismatch(where, key, `no ${key} for ${step.op}`, "one");
    }
  }
  for (const key of required) {
    if (!(key in step)) throw new Mismatch(where, key, `${key} for ${step.op}`, "none");
  }
}

/** The token shorthand of a flat record, replaced by the digest the module computes. */
function withDigest(record) {
  if (!("token" in record)) return record;
  assert.ok(!("token_digest" in record), "a record gives token or token_digest, not both");
  const { token, ...rest } = record;
  return { ...rest, token_digest: leasekit.tokenDigest(token) };
}

/**
 * Where `actual` fails to contain `expected`: objects by each expected key (`kind` first),
 * arrays element by element with equal length, anything else by equality.
 */
function difference(expected, actual, path) {
  const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
  if (isObject(expected) && isObject(actual)) {
    const keys = Object.keys(expected).sort((a, b) => (b === "kind") - (a === "kind"));
    for (const key of keys) {
      if (!(key in actual)) return { path: `${path}.${key}`, expected: expected[key] };
      const inner = difference(expected[key], actual[key], `${path}.${key}`);
      if (inner) return inner;
    }
    return null;
  }
  if (Array.isArray(expected) && Array.isArray(actual) && expected.length === actual.length) {
    for (const [index, value] of expected.entries()) {
      const inner = difference(value, actual[index], `${path}[${index}]`);
      if (inner) return inner;
    }
    return null;
  }
  return expected === actual ? null : { path, expected, actual };
}

function assertContains(expected, actual, path, where) {
  const found = difference(expected, actual, path);
  if (found) {
    const got = "actual" in found ? show(found.actual) : "absent";
    throw new Mismatch(where, found.path, show(found.expected), got);
  }
}

/** Applies one step through the module: its answer, next record, events and refusal. */
function run(step, record) {
  switch (step.op) {
    case "acquire": {
      const request = {};
      for (const key of [...ARGUMENTS.acquire[0], ...ARGUMENTS.acquire[1]]) {
        if (key in step) request[key] = step[key];
      }
      return decided(leasekit.acquire(record, request, step.at));
    }
    case "heartbeat":
      return decided(leasekit.heartbeat(record, step.token, step.at));
    case "release":
      return decided(leasekit.release(record, step.token, step.at));
    case "sweep":
      return decided(leasekit.sweep(record, step.at));
    case "status":
      return { answer: leasekit.view(record, step.at), next: null, events: [], refused: null };
    case "reload": {
      const written = leasekit.loadRecord(record);
      return { answer: JSON.parse(written), next: written, events: [], refused: null };
    }
  }
  throw new Error(`unknown op ${step.op}`);
}

function decided(decision) {
  const { outcome, next, events, refused } = decision;
  return { answer: outcome, next, events, refused };
}

function checkInvariants(step, before, result, where) {
  if (result.refused !== null) {
    assert.ok(codes.includes(result.refused), `${where}: refusal code ${result.refused}`);
    if (result.next !== null || result.events.length > 0) {
      throw new Mismatch(where, "invariant.refusal_changes_nothing", "no change", "a change");
    }
  }
  if (result.next === null) return;

  const [old, fresh] = [JSON.parse(before).fence, JSON.parse(result.next).fence];
  if (fresh < old || fresh > old + 1) {
    const field = "invariant.fence_moves_up_by_at_most_one";
    throw new Mismatch(where, field, `${old} or ${old + 1}`, fresh);
  }
  if (step.op === "reload") {
    assert.deepEqual(JSON.parse(result.next), JSON.parse(before), `${where}: reload changed it`);
  }
}

function checkError(step, error, where) {
  assert.ok(error instanceof Error, `${where}: threw ${typeof error}, not an Error`);
  assert.ok(codes.includes(error.code), `${where}: unknown code ${error.code} (${error.message})`);
  const expect = step.expect;
  if (expect === undefined || !("error" in expect)) {
    throw new Mismatch(where, "expect", show(expect), `error ${error.code} (${error.message})`);
  }
  if (expect.error !== error.code) {
    throw new Mismatch(where, "expect.error", expect.error, `${error.code} (${error.message})`);
  }
  if (step.events !== undefined && step.events.length > 0) {
    const expected = `${step.events.length} events`;
    throw new Mismatch(where, "events", expected, "an error, which emits none");
  }
}

function checkAnswer(step, result, where) {
  const expect = step.expect;
  if ("error" in expect) {
    throw new Mismatch(where, "expect.error", expect.error, show(result.answer));
  }
  const pattern = step.op === "reload" ? withDigest(expect) : expect;
  assertContains(pattern, result.answer, "expect", where);

  if (step.events === undefined) return;
  if (step.events.length !== result.events.length) {
    const kinds = result.events.map((event) => event.kind);
    throw new Mismatch(where, "events", `${step.events.length} events`, show(kinds));
  }
  for (const [index, wanted] of step.events.entries()) {
    const pattern = typeof wanted === "string" ? { kind: wanted } : wanted;
    assertContains(pattern, result.events[index], `events[${index}]`, where);
  }
}

/** Replays one scenario from its initial record; throws the first mismatch. */
export function replay(scenario, file) {
  checkFields(scenario, SCENARIO_FIELDS, `${file}: scenario ${scenario.name}`);
  const vacant = { fence: 0, state: "vacant" };
  let record = leasekit.loadRecord(JSON.stringify(withDigest(scenario.initial ?? vacant)));

  for (const [index, step] of scenario.steps.entries()) {
    const where = `${file}: scenario ${scenario.name}, steps[${index}]`;
    checkArguments(step, where);
    assert.ok(step.expect !== undefined, `${where}: every checked-in step has an expect`);

    let result;
    try {
      result = run(step, record);
    } catch (error) {
      checkError(step, error, where);
      continue;
    }
    checkInvariants(step, record, result, where);
    checkAnswer(step, result, where);
    if (result.next !== null) record = result.next;
  }

  const expected = withDigest(scenario.final);
  const actual = JSON.parse(record);
  const fields = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const field of fields) {
    if (JSON.stringify(expected[field]) !== JSON.stringify(actual[field])) {
      const where = `${file}: scenario ${scenario.name}`;
      throw new Mismatch(where, `final.${field}`, show(expected[field]), show(actual[field]));
    }
  }
}

const files = readdirSync(vectorDir)
  .filter((name) => name.endsWith(".json"))
  .sort()
  .map((name) => {
    const parsed = JSON.parse(readFileSync(new URL(name, vectorDir), "utf8"));
    checkFields(parsed, FILE_FIELDS, name);
    assert.equal(parsed.format, 1, `${name}: format`);
    return { name, scenarios: parsed.scenarios };
  });
const allScenarios = files.flatMap(({ name, scenarios }) => scenarios.map((s) => [name, s]));

for (const { name, scenarios } of files) {
  describe(name, () => {
    for (const scenario of scenarios) {
      test(scenario.name, () => replay(scenario, name));
    }
  });
}

describe("the vector set", () => {
  test("has at least forty scenarios with unique names", () => {
    const names = allScenarios.map(([, scenario]) => scenario.name);
    assert.ok(names.length >= 40, `${names.length} scenarios`);
    assert.equal(new Set(names).size, names.length);
  });

  test("a wrong expectation is reported as a mismatch naming the field", () => {
    const [file, scenario] = allScenarios.find(([, s]) =>
      s.steps.some((step) => step.op === "acquire" && step.expect?.kind === "granted"),
    );
    const broken = structuredClone(scenario);
    const step = broken.steps.find((s) => s.op === "acquire" && s.expect.kind === "granted");
    step.expect = { ...step.expect, lease: { ...step.expect.lease, fence: 999 } };

    const expected = { name: "Mismatch", message: /expect\.lease\.fence/ };
    assert.throws(() => replay(broken, file), expected);
  });

  test("a wrong final record is reported as a mismatch", () => {
    const [file, scenario] = allScenarios[0];
    const broken = structuredClone(scenario);
    broken.final = { ...broken.final, fence: broken.final.fence + 1 };

    assert.throws(() => replay(broken, file), { name: "Mismatch", message: /final\.fence/ });
  });

  test("a wrong error code is reported as a mismatch", () => {
    const [file, scenario] = allScenarios.find(([, s]) => s.steps.some((st) => st.expect?.error));
    const broken = structuredClone(scenario);
    broken.steps.find((step) => step.expect?.error).expect = { error: "invalid_scope" };

    assert.throws(() => replay(broken, file), { name: "Mismatch", message: /expect\.error/ });
  });
});
