// Hostile input to every export: wrong types, NaN, infinities, fractions, huge numbers, BigInts,
// symbols, proxies that throw, deep JSON and 10 MB strings. Each must end in a LeaseError with a
// code (see support.mjs), never in a wasm trap (`RuntimeError: unreachable`) or a bare string,
// and the module must keep answering afterwards.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { assertLeaseError, leasekit } from "./support.mjs";

const T = 1_700_000_000_000;
const TEN_MB = "x".repeat(10 * 1024 * 1024);
const DEEP_ARRAY = "[".repeat(200_000) + "]".repeat(200_000);
const DEEP_OBJECT = '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000);

const throwingProxy = new Proxy(
  {},
  {
    get() {
      throw new Error("getter trap");
    },
    ownKeys() {
      throw new Error("ownKeys trap");
    },
  },
);
const revoked = Proxy.revocable({}, {});
revoked.revoke();
const throwingGetter = Object.defineProperty({}, "owner", {
  enumerable: true,
  get() {
    throw new Error("getter");
  },
});

/** Values that are wrong wherever a string, a number, a boolean or an object is expected. */
const WRONG_VALUES = [
  undefined,
  null,
  true,
  0,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1.5,
  -1e-300,
  1e300,
  2 ** 53,
  -(2 ** 53),
  2 ** 64,
  10n,
  "",
  "12",
  TEN_MB,
  DEEP_ARRAY,
  Symbol("s"),
  [],
  [1, 2],
  {},
  () => 1,
  new Number(5),
  new String("alice"),
  new Date(T),
  throwingProxy,
  revoked.proxy,
  throwingGetter,
];

const goodRequest = {
  owner: "alice",
  session_id: "tab-1",
  interval_ms: 30_000,
  token: "tok-alice-1",
};
const goodRecord = leasekit.acquire(null, goodRequest, T).next;
const goodQuestion = { editor_id: "alice", browser_instance_id: "b-1", intent: "check" };
const goodTiming = { heartbeat_at: T, interval_ms: 30_000, stale_after_ms: 90_000 };

/** Every export with its good arguments, so each argument can be spoiled in turn. */
const CALLS = {
  acquire: [goodRecord, goodRequest, T],
  heartbeat: [goodRecord, "tok-alice-1", T],
  release: [goodRecord, "tok-alice-1", T],
  sweep: [goodRecord, T],
  view: [goodRecord, T],
  loadRecord: [goodRecord],
  tokenDigest: ["tok-alice-1"],
  parseGrant: ["{}"],
  parseStatus: ["{}"],
  predict: [goodTiming, null, T, 0],
  judgeLock: [null, goodQuestion, T],
};

/** Runs `call`; it may answer, but if it throws, the throw must be a LeaseError. */
function answersOrRefuses(call) {
  try {
    call();
  } catch {
    assertLeaseError(call);
  }
}

describe("every argument of every export", () => {
  for (const [name, goodArguments] of Object.entries(CALLS)) {
    test(`${name} refuses hostile values with a LeaseError`, () => {
      for (const [position] of goodArguments.entries()) {
        for (const wrong of WRONG_VALUES) {
          const spoiled = goodArguments.with(position, wrong);
          answersOrRefuses(() => leasekit[name](...spoiled));
        }
      }
    });
  }
});

describe("fields of argument objects", () => {
  const objects = [
    ["acquire", 1, goodRequest],
    ["predict", 0, goodTiming],
    ["predict", 1, { offset_ms: 0, uncertainty_ms: 10, observed_at: T }],
    ["judgeLock", 1, goodQuestion],
  ];
  for (const [name, position, good] of objects) {
    test(`${name} refuses hostile values in each field of argument ${position}`, () => {
      for (const key of Object.keys(good)) {
        for (const wrong of WRONG_VALUES) {
          const args = CALLS[name].with(position, { ...good, [key]: wrong });
          answersOrRefuses(() => leasekit[name](...args));
        }
      }
    });
  }

  test("acquire names the field of each wrong type with the field's own code", () => {
    const cases = [
      ["owner", 5, "invalid_owner"],
      ["session_id", null, "invalid_session_id"],
      ["interval_ms", "30000", "invalid_interval"],
      ["interval_ms", NaN, "invalid_interval"],
      ["interval_ms", 30_000.5, "invalid_interval"],
      ["interval_ms", 1e300, "invalid_interval"],
      ["beats", 10n, "invalid_beats"],
      ["takeover", "false", "invalid_document"],
      ["force", 1, "invalid_document"],
      ["token", TEN_MB, "invalid_token"],
    ];
    for (const [field, wrong, code] of cases) {
      const request = { ...goodRequest, [field]: wrong };
      assertLeaseError(() => leasekit.acquire(null, request, T), { code, field });
    }
  });

  test("a misspelt option is an error, not silently ignored", () => {
    const request = { ...goodRequest, takeOver: true };
    const error = assertLeaseError(() => leasekit.acquire(goodRecord, request, T), {
      code: "invalid_document",
      field: "request",
    });
    assert.match(error.message, /takeOver/);
  });

  test("a token never appears in an error message", () => {
    const secret = "secret token with spaces";
    for (const call of [
      () => leasekit.acquire(null, { ...goodRequest, token: secret }, T),
      () => leasekit.heartbeat(goodRecord, secret, T),
      () => leasekit.tokenDigest(secret),
    ]) {
      const error = assertLeaseError(call, { code: "invalid_token", field: "token" });
      assert.ok(!error.message.includes("secret"), error.message);
    }
  });
});

describe("documents", () => {
  const texts = [TEN_MB, DEEP_ARRAY, DEEP_OBJECT, "{".repeat(17) + "}".repeat(17), "\u0000"];

  test("deep or huge JSON is refused by the parsers as invalid_document", () => {
    for (const text of texts) {
      assertLeaseError(() => leasekit.parseGrant(text), { code: "invalid_document", field: "$" });
      assertLeaseError(() => leasekit.parseStatus(text), { code: "invalid_document" });
    }
  });

  test("deep or huge JSON is refused as a record with invalid_record", () => {
    for (const text of texts) {
      assertLeaseError(() => leasekit.loadRecord(text), { code: "invalid_record" });
      assertLeaseError(() => leasekit.view(text, T), { code: "invalid_record" });
    }
  });

  test("records with values beyond the safe range are refused", () => {
    const record = JSON.parse(goodRecord);
    for (const [field, value] of [
      ["fence", 2 ** 53],
      ["heartbeat_at", 1e300],
      ["interval_ms", 0],
      ["acquired_at", 1.5],
      ["token_digest", "zz"],
    ]) {
      const text = JSON.stringify({ ...record, [field]: value });
      assertLeaseError(() => leasekit.loadRecord(text), { code: "invalid_record" });
    }
  });
});

describe("after all of that", () => {
  test("the module still answers normally", () => {
    for (const wrong of WRONG_VALUES) {
      answersOrRefuses(() => leasekit.acquire(goodRecord, wrong, wrong));
    }

    const decision = leasekit.acquire(null, goodRequest, T);
    assert.equal(decision.outcome.kind, "granted");
    assert.equal(decision.outcome.lease.fence, 1);
  });

  test("a SkewEstimator refuses hostile samples and keeps its estimate", () => {
    const estimator = new leasekit.SkewEstimator();
    const estimate = estimator.observe(0, 5_050, 100);
    const notSafeIntegers = WRONG_VALUES.filter((value) => !Number.isSafeInteger(value));
    for (const wrong of notSafeIntegers) {
      assertLeaseError(() => estimator.observe(wrong, 5_050, 100));
      assertLeaseError(() => estimator.observe(0, 5_050, wrong));
    }
    assert.deepEqual(estimator.estimate(), estimate);
  });

  test("the SkewEstimator constructor refuses a non-number maximum age", () => {
    for (const wrong of [null, NaN, 1.5, "300000", 10n, {}]) {
      assertLeaseError(() => new leasekit.SkewEstimator(wrong), { field: "max_age_ms" });
    }
  });
});
