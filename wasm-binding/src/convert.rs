//! Conversions between JavaScript values and the core's types, and the checks at that border.
//!
//! Every export takes its arguments as untyped `JsValue`s and checks them here, because
//! JavaScript will pass anything: a string where a number belongs, `NaN`, `1e300`, a `BigInt`, a
//! 10 MB string, an object with a misspelt key. Each check ends in a `LeaseError` with the code
//! of the argument's rule (see [`crate::errors`]), so no input reaches a panic. Long strings are
//! refused by their length before they are copied into wasm memory.
//!
//! Answers go the other way as the core's own serde JSON, parsed by the engine's `JSON.parse`:
//! JavaScript sees exactly the shapes the conformance vectors describe, and every integer the
//! core produces fits ±(2^53 - 1), so it arrives as an exact `number`.

use js_sys::{Array, JsString, Reflect, JSON};
use leasekit_core::{ErrorCode, UnixMillis};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::errors::raise;

/// 2^63 as a double: the first whole number beyond `i64`.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// A finite whole number that fits an `i64`, or `None` (`NaN`, infinities, fractions, ±2^63
/// and beyond).
#[must_use]
pub fn whole_number(value: f64) -> Option<i64> {
    let whole = value.is_finite() && value.fract() == 0.0;
    (whole && (-I64_LIMIT..I64_LIMIT).contains(&value)).then_some(value as i64)
}

/// The JavaScript type of `value`, for messages that must not quote the value itself.
fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        return "null".to_owned();
    }
    value
        .js_typeof()
        .as_string()
        .unwrap_or_else(|| "another type".to_owned())
}

/// An argument that must be a string of at most `max_chars` UTF-16 units; anything else is
/// refused with `code` naming `field`, before a long string is copied.
pub fn text(
    value: &JsValue,
    field: &str,
    code: ErrorCode,
    max_chars: u32,
) -> Result<String, JsValue> {
    let Some(string) = value.dyn_ref::<JsString>() else {
        let message = format!("{field}: must be a string, not {}", type_name(value));
        return Err(raise(code, field, &message));
    };
    if string.length() > max_chars {
        let message = format!(
            "{field}: must be at most {max_chars} characters, not {}",
            string.length()
        );
        return Err(raise(code, field, &message));
    }

    // A `JsString` always converts; lone surrogates become U+FFFD.
    Ok(String::from(string))
}

/// Like [`text`], with `undefined` and `null` read as absent.
pub fn optional_text(
    value: &JsValue,
    field: &str,
    code: ErrorCode,
    max_chars: u32,
) -> Result<Option<String>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    text(value, field, code, max_chars).map(Some)
}

/// A `number` argument, refused with `code` naming `field` when it is of another type (a
/// `BigInt`, a numeric string, a `Number` object).
fn number(value: &JsValue, field: &str, code: ErrorCode) -> Result<f64, JsValue> {
    value.as_f64().ok_or_else(|| {
        let message = format!("{field}: must be a number, not {}", type_name(value));
        raise(code, field, &message)
    })
}

/// A whole-number argument (an interval, a count of beats), refused with `code` naming `field`
/// unless it is a finite whole `number` within `i64`. The core's own range check follows.
pub fn whole(value: &JsValue, field: &str, code: ErrorCode) -> Result<i64, JsValue> {
    let float = number(value, field, code)?;
    whole_number(float).ok_or_else(|| {
        let message = format!("{field}: must be a whole number, not {float}");
        raise(code, field, &message)
    })
}

/// A UTC millisecond instant: a whole `number` within ±(2^53 - 1) that a date can hold, else
/// `time_out_of_range`.
pub fn instant(value: &JsValue, field: &'static str) -> Result<UnixMillis, JsValue> {
    let float = number(value, field, ErrorCode::TimeOutOfRange)?;
    UnixMillis::from_f64(field, float).map_err(crate::errors::lease_error)
}

/// A `boolean` argument; `undefined` reads as `false`. Truthy values are refused: `"false"`
/// must not take over a lease.
pub fn flag(value: &JsValue, field: &str) -> Result<bool, JsValue> {
    if value.is_undefined() {
        return Ok(false);
    }
    value.as_bool().ok_or_else(|| {
        let message = format!("{field}: must be true or false, not {}", type_name(value));
        raise(ErrorCode::InvalidDocument, field, &message)
    })
}

/// An options object whose own string keys are all in `allowed` (a misspelt key is an error,
/// not silently ignored).
pub struct Options {
    object: JsValue,
    field: &'static str,
}

impl Options {
    /// Checks that `value` is an object with no key outside `allowed`; `field` names it.
    pub fn read(value: &JsValue, field: &'static str, allowed: &[&str]) -> Result<Self, JsValue> {
        if !value.is_object() || value.is_function() {
            let message = format!("{field}: must be an object, not {}", type_name(value));
            return Err(raise(ErrorCode::InvalidDocument, field, &message));
        }

        // Listing the keys first makes a revoked proxy fail here, where the error is caught,
        // rather than in `Array.isArray`, which would throw past this function.
        let keys = Reflect::own_keys(value).map_err(|_| unreadable(field))?;
        if Array::is_array(value) {
            let message = format!("{field}: must be an object, not an array");
            return Err(raise(ErrorCode::InvalidDocument, field, &message));
        }
        for key in keys.iter().filter_map(|key| key.as_string()) {
            if !allowed.contains(&key.as_str()) {
                let shown: String = key.chars().take(64).collect();
                let message = format!(
                    "{field}.{shown}: unknown field; expected one of {}",
                    allowed.join(", ")
                );
                return Err(raise(ErrorCode::InvalidDocument, field, &message));
            }
        }
        Ok(Self {
            object: value.clone(),
            field,
        })
    }

    /// The value of `key` (`undefined` when absent). A throwing getter or proxy is an error.
    pub fn get(&self, key: &str) -> Result<JsValue, JsValue> {
        Reflect::get(&self.object, &key.into()).map_err(|_| unreadable(self.field))
    }

    /// The string field `key`, checked by [`text`].
    pub fn text(&self, key: &str, code: ErrorCode, max_chars: u32) -> Result<String, JsValue> {
        text(&self.get(key)?, key, code, max_chars)
    }

    /// The optional string field `key`, checked by [`optional_text`].
    pub fn optional_text(
        &self,
        key: &str,
        code: ErrorCode,
        max_chars: u32,
    ) -> Result<Option<String>, JsValue> {
        optional_text(&self.get(key)?, key, code, max_chars)
    }

    /// The whole-number field `key`, checked by [`whole`].
    pub fn whole(&self, key: &str, code: ErrorCode) -> Result<i64, JsValue> {
        whole(&self.get(key)?, key, code)
    }

    /// The optional whole-number field `key`, or `default` when it is `undefined`.
    pub fn whole_or(&self, key: &str, code: ErrorCode, default: i64) -> Result<i64, JsValue> {
        let value = self.get(key)?;
        if value.is_undefined() {
            return Ok(default);
        }
        whole(&value, key, code)
    }

    /// The boolean field `key`, checked by [`flag`].
    pub fn flag(&self, key: &str) -> Result<bool, JsValue> {
        flag(&self.get(key)?, key)
    }

    /// The instant field `key`, checked by [`instant`].
    pub fn instant(&self, key: &'static str) -> Result<UnixMillis, JsValue> {
        instant(&self.get(key)?, key)
    }
}

fn unreadable(field: &str) -> JsValue {
    let message = format!("{field}: must be a plain object whose fields can be read");
    raise(ErrorCode::InvalidDocument, field, &message)
}

/// `value` as the JavaScript value `JSON.parse` makes of its serde JSON.
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let failed = |detail: String| {
        let message = format!("answer could not be converted ({detail})");
        raise(ErrorCode::InvalidDocument, "$", &message)
    };
    let text = serde_json::to_string(value).map_err(|err| failed(err.to_string()))?;
    JSON::parse(&text).map_err(|_| failed("JSON.parse".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_finite_integers_within_i64() {
        assert_eq!(whole_number(30_000.0), Some(30_000));
        assert_eq!(whole_number(-1e16), Some(-10_000_000_000_000_000));
        assert_eq!(whole_number(-I64_LIMIT), Some(i64::MIN));
        for refused in [
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            0.5,
            -1.25,
            I64_LIMIT,
            1e300,
        ] {
            assert_eq!(whole_number(refused), None, "{refused}");
        }
    }
}
