// The `.lock` judge through the module: each row of the core's decision table, the boundaries
// at exactly 180 s and exactly 30 s ahead, and each way a record is invalid.
//
// Records are stamped at T (2023-11-14T22:13:20.000Z) unless a test says otherwise.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { assertLeaseError, leasekit } from "./support.mjs";

const { judgeLock } = leasekit;

const T = Date.parse("2023-11-14T22:13:20.000Z");
const LEASE_MS = 180_000;
const INTENTS = ["check", "acquire", "take_over", "heartbeat", "release"];

const aliceRecord = (changes = {}) =>
  JSON.stringify({
    editor_id: "alice",
    browser_instance_id: "b-1",
    heartbeat_at: new Date(T).toISOString(),
    target: "deployments/apollo",
    lease_id: "lease-1",
    revision: "rev-1",
    ...changes,
  });
const alice = (intent) => ({
  editor_id: "alice",
  browser_instance_id: "b-1",
  lease_id: "lease-1",
  last_revision: "rev-1",
  intent,
});
const bob = (intent) => ({ editor_id: "bob", browser_instance_id: "b-2", intent });

/** Asserts one row of the table: per intent, [answer, write]. */
function assertRow(record, asker, now, row) {
  for (const [index, intent] of INTENTS.entries()) {
    const { answer, write } = judgeLock(record, asker(intent), now);
    assert.deepEqual([answer, write], row[index], `intent ${intent}`);
  }
}

const OWNER_WRITES = ["owner", true];

describe("the decision table", () => {
  test("row 1: an absent record is free to acquire and has nothing to beat or release", () => {
    const row = [["free", false], OWNER_WRITES, OWNER_WRITES, ["lost", false], ["free", false]];
    assertRow(null, alice, T, row);
    assertRow(undefined, bob, T, row);
    assert.equal(judgeLock(null, bob("check"), T).record, "absent");
  });

  test("row 2: a tombstone is free and still names its last holder", () => {
    const tombstone = aliceRecord({ released: true });
    const row = [["free", false], OWNER_WRITES, OWNER_WRITES, ["lost", false], ["free", false]];
    assertRow(tombstone, alice, T, row);
    assertRow(tombstone, bob, T, row);

    const judged = judgeLock(tombstone, bob("check"), T);
    assert.equal(judged.record, "released");
    assert.equal(judged.holder.editor_id, "alice");
    assert.equal(judged.expires_in_ms, null);
  });

  test("row 3: an invalid record is replaced only by an explicit take over", () => {
    const broken = aliceRecord({ heartbeat_at: 1_700_000_000_000 });
    const invalid = ["invalid", false];
    assertRow(broken, alice, T, [invalid, invalid, OWNER_WRITES, invalid, invalid]);

    const judged = judgeLock(broken, alice("check"), T);
    assert.deepEqual(judged.problem.field, "heartbeat_at");
    assert.match(judged.problem.rule, /must be a string, not a number/);
    assert.equal(judged.mine, false);
  });

  test("row 4: an own record rewritten since the last write is changed for every intent", () => {
    const rewritten = aliceRecord({ revision: "rev-2" });
    assertRow(rewritten, alice, T + 1_000, Array(5).fill(["changed", false]));
    assertRow(rewritten, alice, T + LEASE_MS, Array(5).fill(["changed", false]));
  });

  test("row 5: an own live lease is owned and may be renewed or released", () => {
    assertRow(aliceRecord(), alice, T + 60_000, [
      ["owner", false],
      OWNER_WRITES,
      OWNER_WRITES,
      OWNER_WRITES,
      OWNER_WRITES,
    ]);

    const judged = judgeLock(aliceRecord(), alice("check"), T + 60_000);
    assert.equal(judged.record, "live");
    assert.equal(judged.mine, true);
    assert.equal(judged.expires_in_ms, 120_000);
  });

  test("row 6: an own expired lease is not revived but may be taken over or released", () => {
    const expired = ["expired", false];
    assertRow(aliceRecord(), alice, T + LEASE_MS, [
      expired,
      expired,
      OWNER_WRITES,
      expired,
      OWNER_WRITES,
    ]);
  });

  test("row 7: another editor's live lease is busy to acquire and lost otherwise", () => {
    const lost = ["lost", false];
    const busy = ["busy", false];
    assertRow(aliceRecord(), bob, T + 1_000, [lost, busy, busy, lost, lost]);

    const judged = judgeLock(aliceRecord(), bob("acquire"), T + 1_000);
    assert.deepEqual(judged.holder, {
      editor_id: "alice",
      browser_instance_id: "b-1",
      target: "deployments/apollo",
      revision: "rev-1",
      heartbeat_at: T,
      expires_at: T + LEASE_MS,
    });
  });

  test("row 8: another editor's expired lease needs an explicit take over", () => {
    const expired = ["expired", false];
    const lost = ["lost", false];
    assertRow(aliceRecord(), bob, T + LEASE_MS, [expired, expired, OWNER_WRITES, lost, lost]);
  });
});

describe("the boundaries", () => {
  test("a lease is live 1 ms before 180 s and expired at exactly 180 s", () => {
    const before = judgeLock(aliceRecord(), bob("acquire"), T + LEASE_MS - 1);
    assert.deepEqual([before.answer, before.record, before.expires_in_ms], ["busy", "live", 1]);

    const exactly = judgeLock(aliceRecord(), bob("acquire"), T + LEASE_MS);
    assert.deepEqual([exactly.answer, exactly.record, exactly.expires_in_ms], [
      "expired",
      "expired",
      0,
    ]);
    assert.equal(judgeLock(aliceRecord(), alice("heartbeat"), T + LEASE_MS).answer, "expired");
  });

  test("a heartbeat exactly 30 s ahead is valid and 1 ms more is invalid", () => {
    const exactly = judgeLock(aliceRecord(), bob("acquire"), T - 30_000);
    assert.deepEqual([exactly.answer, exactly.record], ["busy", "live"]);

    const beyond = judgeLock(aliceRecord(), bob("acquire"), T - 30_001);
    assert.deepEqual([beyond.answer, beyond.record], ["invalid", "invalid"]);
    assert.equal(beyond.problem.field, "heartbeat_at");
    assert.equal(beyond.holder.editor_id, "alice");
  });

  test("the UI's own ISO strings are read to the millisecond", () => {
    const stamped = T + 123;
    const record = aliceRecord({ heartbeat_at: new Date(stamped).toISOString() });

    const judged = judgeLock(record, bob("check"), stamped + LEASE_MS - 1);
    assert.equal(judged.record, "live");
    assert.equal(judged.holder.expires_at, stamped + LEASE_MS);
  });
});

describe("who the record names", () => {
  test("the same editor in another browser is busy and told so", () => {
    const judged = judgeLock(aliceRecord(), { ...bob("acquire"), editor_id: "alice" }, T);
    assert.deepEqual([judged.answer, judged.same_editor, judged.mine], ["busy", true, false]);
  });

  test("another acquisition of the same browser has lost the lease", () => {
    const question = { ...alice("heartbeat"), lease_id: "lease-0" };
    assert.equal(judgeLock(aliceRecord(), question, T).answer, "lost");
  });

  test("without a lease id or revision the editor and browser decide", () => {
    const question = { editor_id: "alice", browser_instance_id: "b-1", intent: "check" };
    assert.equal(judgeLock(aliceRecord(), question, T).answer, "owner");
    assert.equal(judgeLock(aliceRecord(), { ...question, lease_id: null }, T).answer, "owner");
  });
});

describe("invalid records", () => {
  const cases = [
    ["editor_id", { editor_id: undefined }],
    ["editor_id", { editor_id: 7 }],
    ["editor_id", { editor_id: "" }],
    ["browser_instance_id", { browser_instance_id: ["b-1"] }],
    ["heartbeat_at", { heartbeat_at: "yesterday" }],
    ["target", { target: false }],
    ["lease_id", { lease_id: "" }],
    ["revision", { revision: { n: 1 } }],
    ["released", { released: "true" }],
  ];
  for (const [field, changes] of cases) {
    test(`a record with a bad ${field} (${JSON.stringify(changes)}) is invalid`, () => {
      const judged = judgeLock(aliceRecord(changes), bob("check"), T);
      assert.equal(judged.answer, "invalid");
      assert.equal(judged.problem.field, field, judged.problem.rule);
    });
  }

  test("text that is not a JSON object, 10 MB of text and deep nesting are invalid", () => {
    const texts = ["", "{", "[]", "null", "x".repeat(10 * 1024 * 1024), "[".repeat(100_000)];
    for (const text of texts) {
      const judged = judgeLock(text, bob("take_over"), T);
      assert.deepEqual([judged.record, judged.answer, judged.write], ["invalid", "owner", true]);
      assert.equal(judged.problem.field, "$");
    }
  });
});

describe("bad questions", () => {
  test("are errors naming the field", () => {
    const cases = [
      [{ ...bob("check"), editor_id: "" }, "editor_id"],
      [{ ...bob("check"), editor_id: 5 }, "editor_id"],
      [{ ...bob("check"), browser_instance_id: undefined }, "browser_instance_id"],
      [{ ...bob("check"), lease_id: "x".repeat(300) }, "lease_id"],
      [{ ...bob("check"), intent: "takeover" }, "intent"],
      [{ ...bob("check"), intent: undefined }, "intent"],
      [{ ...bob("check"), editorId: "bob" }, "question"],
      ["bob", "question"],
    ];
    for (const [question, field] of cases) {
      assertLeaseError(() => judgeLock(null, question, T), { code: "invalid_document", field });
    }
  });

  test("a bad time is time_out_of_range", () => {
    for (const now of [NaN, Infinity, 0.5, 2 ** 53, "now", 10n]) {
      assertLeaseError(() => judgeLock(null, bob("check"), now), {
        code: "time_out_of_range",
        field: "now",
      });
    }
  });

  test("a record that is not a string is refused", () => {
    assertLeaseError(() => judgeLock({ editor_id: "alice" }, bob("check"), T), {
      code: "invalid_document",
      field: "record",
    });
  });
});
