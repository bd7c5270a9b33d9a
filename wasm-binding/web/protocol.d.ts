// The messages between browser tabs and the leasekit shared worker (`lease-worker.js`).
//
// Tabs connect to one SharedWorker per origin; the worker keeps one lease per (service, project,
// user, bearer token) for all the tabs attached to it, and posts its state to each of them. The
// protocol is documented in README.md beside this file; these types are what the worker, the
// tab-side client (`lease-client.js`) and the demo page are checked against.

import type {
  Grant,
  HeldStatus,
  LockStatus,
  Prediction,
} from "./pkg-web/leasekit_wasm.js";

// ---------------------------------------------------------------------------------------------
// Tab -> worker

/**
 * Attach this tab to the lease of `projectId` and acquire it (if the worker does not hold it
 * already). A tab attached elsewhere is moved; the worker answers with the lease's current
 * state at once when it has one.
 */
export interface StartMessage {
  type: "start";
  /** The project: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` (the service checks it). */
  projectId: string;
  /** The service's absolute base URL, e.g. `https://deployer.example/api` (no `/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer ...` when given (`leasekit serve --auth tokens`). */
  bearerToken?: string;
  /** Sent as `X-Leasekit-User` when given (`leasekit serve --auth dev` only). */
  user?: string;
  /** The lease's session id; tabs of one browser profile should share one. */
  sessionId: string;
  /** Heartbeat interval in whole seconds, 5 to 3600; stale after 3 intervals by default. */
  intervalS: number;
}

/**
 * Acquire again: after `released`, `lost` or `expired`, or while `busy`. `takeover` takes the
 * lease from the same owner's other session; `force` from another owner (admins only).
 */
export interface AcquireMessage {
  type: "acquire";
  takeover?: boolean;
  force?: boolean;
}

/** Release the lease now (the tabs stay attached and may acquire again). */
export interface ReleaseMessage {
  type: "release";
}

/**
 * Detach this tab. Tabs send it on `pagehide`; the worker also notices a tab that vanished.
 * When the last tab of a lease detaches, the worker releases the lease.
 */
export interface StopMessage {
  type: "stop";
}

/** The answer to `ping`, in browsers whose MessagePort has no `close` event. */
export interface AliveMessage {
  type: "alive";
}

export type TabMessage =
  | StartMessage
  | AcquireMessage
  | ReleaseMessage
  | StopMessage
  | AliveMessage;

// ---------------------------------------------------------------------------------------------
// Worker -> tab

/** A grant as tabs see it: the secret `lease_id` never leaves the worker. */
export type PublicGrant = Omit<Grant, "lease_id">;

/** Fields of every message about a lease. */
export interface LeaseMessageBase {
  /** The project the message is about (a tab may have moved to another one since). */
  projectId: string;
  /** The worker's clock (UTC milliseconds) when it posted the message. */
  at: number;
}

/** The worker holds the lease: after an acquire or a heartbeat the service granted. */
export interface HeldMessage extends LeaseMessageBase {
  type: "held";
  via: "acquire" | "heartbeat";
  grant: PublicGrant;
  prediction: Prediction;
}

/** Someone else holds the project (409 `PROJECT_LOCKED`); the worker waits and retries. */
export interface BusyMessage extends LeaseMessageBase {
  type: "busy";
  /** The holder, as the service showed it. */
  holder: HeldStatus;
  /** Whether the holder is this owner's other session (`takeover` suffices); null: unknown. */
  sameOwner: boolean | null;
  /** The waiter's view: `takeover_in_ms` says when the service certainly judges it stale. */
  prediction: Prediction;
}

/** No answer for too long: the service may already judge our lease stale. */
export interface InDoubtMessage extends LeaseMessageBase {
  type: "in_doubt";
  grant: PublicGrant;
  prediction: Prediction;
}

/**
 * Our lease is stale: predicted offline (`confirmed: false`, the worker keeps asking the service
 * and may still report `lost`), or answered by the service (`confirmed: true`, 409
 * `LEASE_EXPIRED`; the worker stops until told to acquire).
 */
export interface ExpiredMessage extends LeaseMessageBase {
  type: "expired";
  confirmed: boolean;
  grant: PublicGrant;
  /** The prediction that crossed into `expired`; null when the service said so first. */
  prediction: Prediction | null;
}

/** Our lease is gone (409 `LEASE_LOST`): taken over, forced or released. Heartbeats stop. */
export interface LostMessage extends LeaseMessageBase {
  type: "lost";
  grant: PublicGrant;
  /** The current holder, or null when nobody holds the project now. */
  holder: LockStatus | null;
}

/** The worker released the lease (`released: false` when it was no longer current). */
export interface ReleasedMessage extends LeaseMessageBase {
  type: "released";
  released: boolean;
  reason: "already_released" | "superseded" | null;
  fence: number;
}

/**
 * The wasm prediction between answers, about every half second and at each predicted change of
 * state, also while the service cannot be reached.
 */
export interface CountdownMessage extends LeaseMessageBase {
  type: "countdown";
  /** `holder`: our lease; `waiter`: someone else's, which we wait for. */
  role: "holder" | "waiter";
  /** Whether the service answered the last request. */
  online: boolean;
  owner: string;
  fence: number;
  prediction: Prediction;
}

/**
 * Something failed. `fatal`: the worker stopped asking the service for this lease (bad input,
 * refused credentials); otherwise it retries by itself.
 */
export interface ErrorMessage extends LeaseMessageBase {
  type: "error";
  /** The service's envelope code (`VALIDATION`, `ACCESS_DENIED`, ...), a wasm `LeaseError`
   * code, `invalid_message`, `unreachable` or `wasm_unavailable`. */
  code: string;
  message: string;
  /** The HTTP status, or null when there was no answer. */
  status: number | null;
  /** The message or answer field at fault, when known. */
  field: string | null;
  fatal: boolean;
}

/** Asks the tab to answer `alive` (only in browsers whose MessagePort has no `close` event). */
export interface PingMessage {
  type: "ping";
}

export type LeaseStateMessage =
  | HeldMessage
  | BusyMessage
  | InDoubtMessage
  | ExpiredMessage
  | LostMessage
  | ReleasedMessage;

export type WorkerMessage = LeaseStateMessage | CountdownMessage | ErrorMessage | PingMessage;

/** A lease message, without the fields the session fills in when it posts it. */
export type Unstamped<M> = M extends LeaseMessageBase ? Omit<M, "projectId" | "at"> : never;
