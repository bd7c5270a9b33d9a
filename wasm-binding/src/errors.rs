//! Core errors as JavaScript `Error` objects that carry the core's stable code.
//!
//! A caller tells errors apart by `error.code`, one of [`ALL_CODES`] spelled in `snake_case`,
//! never by parsing a message. `error.field` names the argument or document field at fault, and
//! the message names it too. No message ever quotes a token.

use js_sys::{Array, Error, Reflect};
use leasekit_core::{ErrorCode, LeaseError, ALL_CODES};
use wasm_bindgen::prelude::*;

/// The `.d.ts` declarations of the codes and the error type; a test holds the union to
/// [`ALL_CODES`].
#[allow(dead_code)] // wasm-bindgen reads it at compile time, which the lint does not count as use
const ERROR_TYPES: &str = r#"
/** The stable code of every error leasekit throws, as the Rust core and Python spell it. */
export type ErrorCode =
  | "invalid_scope"
  | "invalid_resource_id"
  | "invalid_owner"
  | "invalid_session_id"
  | "invalid_token"
  | "invalid_digest"
  | "invalid_interval"
  | "invalid_beats"
  | "invalid_margin"
  | "invalid_sample"
  | "time_out_of_range"
  | "fence_out_of_range"
  | "invalid_record"
  | "invalid_document"
  | "lease_held"
  | "lease_lost"
  | "lease_expired"
  | "already_released"
  | "storage_failure"
  | "schema_too_new";

/**
 * What every function of this module throws for bad input: a real `Error` whose `name` is
 * `"LeaseError"`, with the core's stable `code` and the `field` at fault.
 *
 * ```ts
 * try {
 *   parseGrant("{}");
 * } catch (error) {
 *   const { code, field } = error as LeaseError; // "invalid_document", "project_id"
 * }
 * ```
 */
export interface LeaseError extends Error {
  readonly name: "LeaseError";
  readonly code: ErrorCode;
  readonly field: string;
}
"#;

#[wasm_bindgen(typescript_custom_section)]
const ERROR_TYPES_SECTION: &str = ERROR_TYPES;

/// The `Error` for `code`, naming `field`, with `message` (prefixed with the field when it does
/// not already start with it).
#[must_use]
pub fn raise(code: ErrorCode, field: &str, message: &str) -> JsValue {
    let message = if message.starts_with(field) {
        message.to_owned()
    } else {
        format!("{field}: {message}")
    };

    let error = Error::new(&message);
    error.set_name("LeaseError");
    // Defining a property on a fresh `Error` cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &code.as_str().into());
    let _ = Reflect::set(&error, &"field".into(), &field.into());
    error.into()
}

/// The `Error` for a core error.
#[allow(clippy::needless_pass_by_value)] // shaped to be passed to `map_err` as it is
#[must_use]
pub fn lease_error(error: LeaseError) -> JsValue {
    raise(error.code(), field_of(&error), &error.to_string())
}

/// The argument or field a core error is about, by the names this module's API uses.
fn field_of(error: &LeaseError) -> &str {
    match error {
        LeaseError::InvalidScope { .. } => "scope",
        LeaseError::InvalidResourceId { field, .. } | LeaseError::TimeOutOfRange { field, .. } => {
            field
        }
        LeaseError::InvalidOwner { .. } => "owner",
        LeaseError::InvalidSessionId { .. } => "session_id",
        LeaseError::InvalidToken => "token",
        LeaseError::InvalidDigest => "token_digest",
        LeaseError::InvalidInterval { .. } => "interval_ms",
        LeaseError::InvalidBeats { .. } => "beats",
        LeaseError::InvalidMargin { .. } => "margin_ms",
        LeaseError::InvalidSample { .. } => "sample",
        LeaseError::FenceOutOfRange { .. } => "fence",
        LeaseError::InvalidRecord { .. } => "record",
        LeaseError::InvalidDocument { field, .. } => field,
    }
}

/// Every stable error code of the core, in its order: the values `LeaseError.code` takes.
///
/// ```ts
/// import { errorCodes } from "./pkg-web/leasekit_wasm.js";
///
/// errorCodes().includes("lease_held"); // true
/// ```
#[wasm_bindgen(js_name = errorCodes, unchecked_return_type = "ErrorCode[]")]
#[must_use]
pub fn error_codes() -> Array {
    ALL_CODES
        .iter()
        .map(|code| JsValue::from_str(code.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes the `.d.ts` declares, read from its `ErrorCode` union.
    fn declared_codes() -> Vec<&'static str> {
        let start = ERROR_TYPES.find("export type ErrorCode =").unwrap();
        let union = &ERROR_TYPES[start..];
        let union = &union[..union.find(';').unwrap()];
        union.split('"').skip(1).step_by(2).collect()
    }

    #[test]
    fn typescript_error_code_union_equals_the_core_codes_in_order() {
        let core: Vec<&str> = ALL_CODES.iter().map(|code| code.as_str()).collect();

        assert_eq!(declared_codes(), core);
    }
}
