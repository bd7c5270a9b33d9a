// How TypeScript code uses the module, type-checked against the generated `.d.ts` by
// `npx tsc --noEmit -p wasm-binding` (it is never run). Each `@ts-expect-error` proves a type is
// precise: if the `.d.ts` said `any` there, the expected error would be missing and tsc would
// fail.

import {
  acquire,
  errorCodes,
  heartbeat,
  judgeLock,
  parseGrant,
  parseStatus,
  predict,
  SkewEstimator,
  tokenDigest,
  view,
  type AcquireOutcome,
  type Decision,
  type ErrorCode,
  type LeaseError,
  type LockJudgement,
  type Prediction,
} from "../pkg-node/leasekit_wasm.js";
import initWeb, { type InitOutput } from "../pkg-web/leasekit_wasm.js";

const now = Date.now();

// Transitions: outcomes are tagged unions, narrowed by `kind`.
const first: Decision<AcquireOutcome> = acquire(
  null,
  { owner: "alice", session_id: "tab-1", interval_ms: 30_000, token: "tok-alice-1" },
  now,
);
if (first.outcome.kind === "granted") {
  const fence: number = first.outcome.lease.fence;
  const previousOwner: string | undefined = first.outcome.previous?.owner;
  console.log(fence, previousOwner);
}
if (first.outcome.kind === "busy") {
  const sameOwner: boolean = first.outcome.same_owner;
  console.log(sameOwner, first.outcome.holder.expires_at);
}
// @ts-expect-error: `lease` exists only once `kind` is narrowed to granted or renewed.
console.log(first.outcome.lease);
// @ts-expect-error: the token is a string.
acquire(null, { owner: "a", session_id: "s", interval_ms: 1_000, token: 42 }, now);
// @ts-expect-error: unknown option names are refused by the types too.
acquire(null, { owner: "a", session_id: "s", interval_ms: 1_000, token: "t", takeOver: true }, now);

const record: string | null = first.next;
const beat = heartbeat(record, "tok-alice-1", now + 1_000);
switch (beat.outcome.kind) {
  case "renewed":
  case "expired":
    console.log(beat.outcome.lease.heartbeat_at);
    break;
  case "lost":
    console.log(beat.outcome.current?.owner ?? "nobody");
    break;
}
const refusal: "lease_held" | "lease_lost" | "lease_expired" | "already_released" | null =
  beat.refused;
console.log(refusal, view(beat.next ?? record, now).current?.stale, tokenDigest("abc").length);

// The service's answers, the skew estimator and the prediction.
const grant = parseGrant("{}");
const status = parseStatus("{}");
const secret: string = grant.lease_id;
const skew = new SkewEstimator();
const estimate = skew.observe(now - 40, grant.server_time, now);
const prediction: Prediction = predict(grant.timing, skew.estimate() ?? estimate, now, 2_000);
const state: "held" | "due" | "in_doubt" | "expired" = prediction.state;
if (status.held) {
  const holderTiming = predict(status.timing, null, now, 0);
  console.log(status.owner.toUpperCase(), holderTiming.takeover_in_ms);
} else {
  const noTiming: null = status.timing;
  // @ts-expect-error: a free status has no owner.
  const ownerOfFree: string = status.owner;
  console.log(noTiming, status.fence, ownerOfFree);
}
new SkewEstimator(60_000).free();
console.log(secret.length, state);

// The `.lock` judge.
const judgement: LockJudgement = judgeLock(
  null,
  { editor_id: "alice", browser_instance_id: "b-1", intent: "take_over", lease_id: null },
  now,
);
if (judgement.write) console.log(judgement.answer, judgement.holder?.expires_at);
// @ts-expect-error: the intent is a closed set of names.
judgeLock(null, { editor_id: "alice", browser_instance_id: "b-1", intent: "takeover" }, now);

// Errors carry the core's codes.
try {
  parseGrant("not json");
} catch (error) {
  const { code, field } = error as LeaseError;
  const known: ErrorCode[] = errorCodes();
  if (known.includes(code)) console.log(code, field);
}
// @ts-expect-error: codes are a closed set of snake_case names.
const wrongCode: ErrorCode = "LEASE_HELD";
console.log(wrongCode);

// The web build has the same exports plus its initialiser.
const ready: Promise<InitOutput> = initWeb();
console.log(ready);
