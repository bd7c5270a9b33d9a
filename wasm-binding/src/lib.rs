//! # leasekit-wasm
//!
//! The leasekit core for JavaScript, built with wasm-bindgen for browsers (pages, workers,
//! shared workers) and for Node. It re-implements nothing: every answer comes from
//! `leasekit-core`, the same rules the service and the Python binding run.
//!
//! What it offers, each export in its own module:
//!
//! - [`wire`]: `parseGrant` and `parseStatus` check the service's answers, field by field;
//! - [`skew`]: `SkewEstimator` estimates the server clock from round trips;
//! - [`predict`]: `predict` says `held`, `due`, `in_doubt` or `expired` offline, with countdowns;
//! - [`rules`]: `acquire`, `heartbeat`, `release`, `sweep`, `view`, `loadRecord` and
//!   `tokenDigest`, the pure transitions over the flat record JSON (for replaying vectors);
//! - [`gitlock`]: `judgeLock` judges the UI's Git `.lock` record by the UI's rules;
//! - [`errors`]: `errorCodes`, and the `LeaseError` every export throws for bad input.
//!
//! Arguments are checked at the border ([`convert`]): wrong types, `NaN`, infinities,
//! fractions, numbers beyond ±(2^53 - 1) and oversized strings are refused with an `Error` whose
//! `code` is the core's, never with a panic. Answers are plain objects in the core's `snake_case`
//! JSON shapes, typed precisely in the generated `.d.ts`.
//!
//! ```ts
//! import init, { parseGrant, predict, SkewEstimator } from "./pkg-web/leasekit_wasm.js";
//!
//! await init();
//! const skew = new SkewEstimator();
//! const sentAt = Date.now();
//! const grant = parseGrant(await (await fetch(lockUrl, { method: "POST", body })).text());
//! skew.observe(sentAt, grant.server_time, Date.now());
//! const { state, holder_stale_in_ms } = predict(grant.timing, skew.estimate(), Date.now(), 2_000);
//! ```

pub mod convert;
pub mod errors;
pub mod gitlock;
pub mod predict;
pub mod rules;
pub mod skew;
pub mod wire;
