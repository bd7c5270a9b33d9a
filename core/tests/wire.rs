//! The service's grant and status documents: what is accepted, what is refused and how the
//! refusal names the field, and the timing handed to `predict`.

use leasekit_core::wire::{
    lease_timing, parse_document, record_from_json, record_to_json, Grant, LockStatus, MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
};
use leasekit_core::{
    predict, EndReason, LeaseError, LeaseTerms, PredictedState, SkewEstimate, UnixMillis,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const T: i64 = 1_700_000_000_000;

fn at(ms: i64) -> UnixMillis {
    UnixMillis::new(ms).unwrap()
}

fn grant_document() -> Value {
    json!({
        "project_id": "apollo",
        "owner": "alice",
        "session_id": "tab-1",
        "lease_id": "tok-alice-1",
        "fence": 7,
        "acquired_at": "2023-11-14T22:13:20.000Z",
        "heartbeat_at": "2023-11-14T22:14:20.000Z",
        "expires_at": "2023-11-14T22:17:20.000Z",
        "heartbeat_interval_s": 60,
        "stale_after_s": 180,
        "server_time": "2023-11-14T22:14:20.042Z",
        "previous": {"owner": "bob", "session_id": "laptop", "fence": 6, "ended": "expired"},
    })
}

fn held_status() -> Value {
    json!({
        "project_id": "apollo",
        "held": true,
        "owner": "alice",
        "session_id": "tab-1",
        "fence": 7,
        "acquired_at": "2023-11-14T22:13:20.000Z",
        "heartbeat_at": "2023-11-14T22:14:20.000Z",
        "expires_at": "2023-11-14T22:17:20.000Z",
        "heartbeat_interval_s": 60,
        "stale": false,
        "server_time": "2023-11-14T22:14:21.000Z",
    })
}

fn free_status() -> Value {
    json!({
        "project_id": "apollo", "held": false, "owner": null, "session_id": null, "fence": 7,
        "acquired_at": null, "heartbeat_at": null, "expires_at": null,
        "heartbeat_interval_s": null, "stale": false, "server_time": "2023-11-14T22:20:00.000Z",
    })
}

fn with(mut document: Value, field: &str, value: Value) -> Value {
    document[field] = value;
    document
}

fn without(mut document: Value, field: &str) -> Value {
    document.as_object_mut().unwrap().remove(field);
    document
}

fn grant_error(document: &Value) -> LeaseError {
    Grant::parse(&document.to_string()).unwrap_err()
}

fn status_error(document: &Value) -> LeaseError {
    LockStatus::parse(&document.to_string()).unwrap_err()
}

fn field_of(error: &LeaseError) -> &str {
    match error {
        LeaseError::InvalidDocument { field, .. } => field,
        other => panic!("expected invalid_document, got {other:?}"),
    }
}

// Grants.

#[test]
fn grant_is_read_with_times_as_utc_milliseconds() {
    let grant = Grant::parse(&grant_document().to_string()).unwrap();

    assert_eq!(grant.project_id.as_str(), "apollo");
    assert_eq!(
        (grant.owner.as_str(), grant.session_id.as_str()),
        ("alice", "tab-1")
    );
    assert_eq!((grant.lease_id.as_str(), grant.fence), ("tok-alice-1", 7));
    assert_eq!(grant.acquired_at, at(T));
    assert_eq!(grant.heartbeat_at, at(T + 60_000));
    assert_eq!(grant.expires_at, at(T + 240_000));
    assert_eq!(grant.terms, LeaseTerms::new(60_000, 3).unwrap());
    assert_eq!(grant.server_time, at(T + 60_042));
    let previous = grant.previous.unwrap();
    assert_eq!((previous.holder.owner.as_str(), previous.fence), ("bob", 6));
    assert_eq!(previous.ended, EndReason::Expired);
}

#[test]
fn grant_timing_is_what_the_server_judges_by() {
    let grant = Grant::parse(&grant_document().to_string()).unwrap();

    let timing = grant.timing();
    assert_eq!(timing.heartbeat_at, at(T + 60_000));
    assert_eq!(
        (timing.interval_ms, timing.stale_after_ms),
        (60_000, 180_000)
    );
    let last_live = predict(&timing, &SkewEstimate::exact(), at(T + 240_000), 0).unwrap();
    assert_eq!(last_live.state, PredictedState::InDoubt);
    let after = predict(&timing, &SkewEstimate::exact(), at(T + 240_001), 0).unwrap();
    assert_eq!(after.state, PredictedState::Expired);
}

#[test]
fn grant_debug_output_hides_the_lease_token() {
    let grant = Grant::parse(&grant_document().to_string()).unwrap();

    let shown = format!("{grant:?}");
    assert!(!shown.contains("tok-alice-1"), "{shown}");
    assert!(shown.contains("alice"), "{shown}");
}

#[test]
fn grant_serialises_in_wire_shape_with_millisecond_times() {
    let grant = Grant::parse(&grant_document().to_string()).unwrap();

    let written = serde_json::to_value(&grant).unwrap();
    assert_eq!(written["heartbeat_at"], json!(T + 60_000));
    assert_eq!(written["heartbeat_interval_s"], json!(60));
    assert_eq!(written["stale_after_s"], json!(180));
    assert!(written.get("terms").is_none(), "{written}");
    assert_eq!(
        written["previous"],
        json!({"owner": "bob", "session_id": "laptop",
                                           "fence": 6, "ended": "expired"})
    );
    assert_eq!(written["lease_id"], json!("tok-alice-1"));
}

#[test]
fn grant_without_previous_or_with_null_previous_has_none() {
    for document in [
        without(grant_document(), "previous"),
        with(grant_document(), "previous", Value::Null),
    ] {
        assert_eq!(Grant::parse(&document.to_string()).unwrap().previous, None);
    }
}

#[test]
fn grant_ignores_fields_a_newer_service_may_add() {
    let document = with(
        grant_document(),
        "region",
        json!({"name": "eu", "zones": [1, 2]}),
    );

    assert_eq!(Grant::parse(&document.to_string()).unwrap().fence, 7);
}

#[test]
fn every_missing_grant_field_is_named() {
    let required = [
        "project_id",
        "owner",
        "session_id",
        "lease_id",
        "fence",
        "acquired_at",
        "heartbeat_at",
        "expires_at",
        "heartbeat_interval_s",
        "stale_after_s",
        "server_time",
    ];
    for field in required {
        for document in [
            without(grant_document(), field),
            with(grant_document(), field, Value::Null),
        ] {
            let err = grant_error(&document);
            assert_eq!(field_of(&err), field);
            assert!(err.to_string().contains("is required"), "{err}");
        }
    }
}

/// Checks that a grant whose `field` is `value` is refused naming `field` with `rule`.
fn assert_grant_refused(field: &str, value: Value, rule: &str) {
    let err = grant_error(&with(grant_document(), field, value));

    assert_eq!(err.code().as_str(), "invalid_document", "{err}");
    assert!(field_of(&err).starts_with(field), "{err}");
    assert!(err.to_string().contains(rule), "{err} lacks {rule:?}");
}

#[test]
fn grant_names_and_token_are_checked_by_the_cores_rules() {
    let cases = [
        ("project_id", json!("-apollo"), "must match"),
        ("owner", json!(42), "must be a string, not a number"),
        ("owner", json!(""), "printable"),
        ("session_id", json!("tab 1"), "[A-Za-z0-9_.:-]"),
        ("lease_id", json!("has space"), "visible ASCII"),
    ];
    for (field, value, rule) in cases {
        assert_grant_refused(field, value, rule);
    }
}

#[test]
fn grant_numbers_must_be_whole_and_within_the_cores_ranges() {
    let cases = [
        ("fence", json!(0), "from 1 to"),
        ("fence", json!(1.5), "whole number"),
        ("fence", json!(9_007_199_254_740_992_u64), "whole number"),
        ("fence", json!("7"), "whole number"),
        (
            "heartbeat_interval_s",
            json!(0),
            "positive number of seconds",
        ),
        (
            "heartbeat_interval_s",
            json!(-60),
            "positive number of seconds",
        ),
        ("heartbeat_interval_s", json!(1.0001), "to the millisecond"),
        (
            "heartbeat_interval_s",
            json!("60"),
            "positive number of seconds",
        ),
        ("heartbeat_interval_s", json!(86_401), "86400 seconds"),
        ("stale_after_s", json!(150), "2 to 10"),
        ("stale_after_s", json!(60), "2 to 10"),
        ("stale_after_s", json!(660), "2 to 10"),
    ];
    for (field, value, rule) in cases {
        assert_grant_refused(field, value, rule);
    }
}

#[test]
fn grant_times_and_previous_holder_are_checked() {
    let bad_end = json!({"owner": "bob", "session_id": "x", "fence": 6, "ended": "gone"});
    let no_fence = json!({"owner": "bob", "session_id": "x", "ended": "forced"});
    let cases = [
        ("acquired_at", json!(T), "a string"),
        ("acquired_at", json!("2023-11-14"), "RFC 3339"),
        (
            "expires_at",
            json!("2023-11-14T22:17:20.001Z"),
            "heartbeat_at plus",
        ),
        ("server_time", json!(true), "a boolean"),
        ("previous", json!([]), "JSON object"),
        (
            "previous",
            bad_end,
            "previous.ended: must be released, expired",
        ),
        ("previous", no_fence, "previous.fence: is required"),
    ];
    for (field, value, rule) in cases {
        assert_grant_refused(field, value, rule);
    }
}

#[test]
fn grant_errors_never_quote_the_lease_token() {
    let document = with(grant_document(), "lease_id", json!("secret with space"));

    assert!(!grant_error(&document).to_string().contains("secret"));
}

#[test]
fn times_with_an_offset_are_converted_to_utc() {
    let document = with(
        with(
            grant_document(),
            "server_time",
            json!("2023-11-15T00:14:20.042+02:00"),
        ),
        "acquired_at",
        json!("2023-11-14T22:13:20.000999Z"),
    );

    let grant = Grant::parse(&document.to_string()).unwrap();
    assert_eq!(grant.server_time, at(T + 60_042));
    assert_eq!(
        grant.acquired_at,
        at(T),
        "digits beyond the millisecond are dropped"
    );
}

#[test]
fn documents_that_are_not_objects_are_refused_as_a_whole() {
    for text in ["", "[]", "42", "null", "{", "\"grant\""] {
        let err = Grant::parse(text).unwrap_err();
        assert_eq!(field_of(&err), "$", "{text:?}");
    }
}

// Status views.

#[test]
fn held_status_derives_the_threshold_from_the_expiry() {
    let status = LockStatus::parse(&held_status().to_string()).unwrap();

    let holder = status.holder.clone().unwrap();
    assert_eq!(
        (holder.owner.as_str(), holder.session_id.as_str()),
        ("alice", "tab-1")
    );
    assert_eq!(
        (holder.terms.interval_ms(), holder.terms.stale_after_ms()),
        (60_000, 180_000)
    );
    assert!(!holder.stale);
    assert_eq!((status.fence, status.server_time), (7, at(T + 61_000)));
    let timing = status.timing().unwrap();
    assert_eq!(
        (timing.heartbeat_at, timing.stale_after_ms),
        (at(T + 60_000), 180_000)
    );
}

#[test]
fn free_status_has_no_holder_and_keeps_the_last_fence() {
    let status = LockStatus::parse(&free_status().to_string()).unwrap();

    assert_eq!((status.holder.clone(), status.fence), (None, 7));
    assert_eq!(status.timing(), None);
    let written = serde_json::to_value(&status).unwrap();
    assert_eq!(written["held"], json!(false));
    assert_eq!(written["owner"], Value::Null);
    assert_eq!(written["stale_after_s"], Value::Null);
    assert_eq!(written["stale"], json!(false), "as the service writes it");
}

#[test]
fn free_status_may_leave_stale_null_or_out() {
    for document in [
        with(free_status(), "stale", Value::Null),
        without(free_status(), "stale"),
    ] {
        assert!(LockStatus::parse(&document.to_string())
            .unwrap()
            .holder
            .is_none());
    }
}

#[test]
fn terms_that_are_not_whole_seconds_are_read_and_written_to_the_millisecond() {
    let grant = with(
        with(
            with(grant_document(), "heartbeat_interval_s", json!(1.5)),
            "stale_after_s",
            json!(4.5),
        ),
        "expires_at",
        json!("2023-11-14T22:14:24.500Z"),
    );

    let parsed = Grant::parse(&grant.to_string()).unwrap();
    assert_eq!(parsed.terms, LeaseTerms::new(1_500, 3).unwrap());
    assert_eq!(parsed.expires_at, at(T + 64_500));
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(written["heartbeat_interval_s"], json!(1.5));
    assert_eq!(written["stale_after_s"], json!(4.5));

    let status = with(
        with(held_status(), "heartbeat_interval_s", json!(1.5)),
        "expires_at",
        json!("2023-11-14T22:14:24.500Z"),
    );
    let holder = LockStatus::parse(&status.to_string())
        .unwrap()
        .holder
        .unwrap();
    assert_eq!(holder.terms.stale_after_ms(), 4_500);
}

#[test]
fn refusal_lock_view_with_same_owner_is_read_as_a_status() {
    let lock = with(held_status(), "same_owner", json!(true));

    let status = LockStatus::parse(&lock.to_string()).unwrap();
    assert_eq!(status.holder.unwrap().owner.as_str(), "alice");
}

#[test]
fn never_locked_project_has_fence_zero_but_a_held_one_needs_fence_one() {
    let never = with(free_status(), "fence", json!(0));
    assert_eq!(LockStatus::parse(&never.to_string()).unwrap().fence, 0);

    let held_zero = with(held_status(), "fence", json!(0));
    assert_eq!(field_of(&status_error(&held_zero)), "fence");
}

#[test]
fn held_status_serialises_flat_with_the_derived_threshold() {
    let status = LockStatus::parse(&held_status().to_string()).unwrap();

    let written = serde_json::to_value(&status).unwrap();
    assert_eq!(
        written,
        json!({
            "project_id": "apollo", "held": true, "owner": "alice", "session_id": "tab-1",
            "fence": 7, "acquired_at": T, "heartbeat_at": T + 60_000,
            "expires_at": T + 240_000, "heartbeat_interval_s": 60, "stale_after_s": 180,
            "stale": false, "server_time": T + 61_000,
        })
    );
}

#[test]
fn status_field_errors_are_named() {
    let cases = [
        (without(held_status(), "held"), "held"),
        (with(held_status(), "held", json!("yes")), "held"),
        (with(held_status(), "owner", Value::Null), "owner"),
        (without(held_status(), "stale"), "stale"),
        (
            with(
                held_status(),
                "expires_at",
                json!("2023-11-14T22:17:20.500Z"),
            ),
            "expires_at",
        ),
        (
            with(
                held_status(),
                "expires_at",
                json!("2023-11-14T22:14:20.000Z"),
            ),
            "expires_at",
        ),
        (
            with(held_status(), "stale_after_s", json!(120)),
            "expires_at",
        ),
        (
            with(held_status(), "stale_after_s", json!(-1)),
            "stale_after_s",
        ),
        (with(free_status(), "owner", json!("alice")), "owner"),
        (with(free_status(), "stale", json!(true)), "stale"),
        (
            with(free_status(), "heartbeat_interval_s", json!(60)),
            "heartbeat_interval_s",
        ),
        (without(free_status(), "server_time"), "server_time"),
        (
            with(free_status(), "project_id", json!("a/b")),
            "project_id",
        ),
    ];

    for (document, field) in cases {
        let err = status_error(&document);
        assert_eq!(field_of(&err), field, "{err}");
    }
}

#[test]
fn status_may_state_the_threshold_when_it_agrees_with_the_expiry() {
    let document = with(held_status(), "stale_after_s", json!(180));

    let status = LockStatus::parse(&document.to_string()).unwrap();
    assert_eq!(status.holder.unwrap().terms.stale_after_ms(), 180_000);
}

// Limits.

#[test]
fn documents_larger_than_the_limit_are_refused_before_parsing() {
    let padding = "x".repeat(MAX_DOCUMENT_BYTES);
    let document = with(grant_document(), "padding", json!(padding));

    let err = grant_error(&document);
    assert_eq!(field_of(&err), "$");
    assert!(err.to_string().contains("65536 bytes"), "{err}");
}

#[test]
fn nesting_is_limited_but_brackets_inside_strings_do_not_count() {
    let at_limit = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse_document(&at_limit).is_ok());

    let beyond = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    let err = parse_document(&beyond).unwrap_err();
    assert!(err.to_string().contains("at most 16 deep"), "{err}");

    let quoted = json!({"text": "[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{{"}).to_string();
    assert!(parse_document(&quoted).is_ok(), "{quoted}");
}

// Records and timings.

#[test]
fn flat_records_round_trip_and_bad_ones_are_invalid_records() {
    let text = r#"{"fence":3,"state":"vacant"}"#;
    assert_eq!(record_to_json(&record_from_json(text).unwrap()), text);

    for bad in [
        r#"{"fence": 0, "state": "held"}"#,
        r#"{"fence": 1, "state": "vacant", "colour": "red"}"#,
        "[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]",
        "",
    ] {
        let err = record_from_json(bad).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_record", "{bad}: {err}");
    }
}

#[test]
fn lease_timing_accepts_the_cores_terms_only() {
    let timing = lease_timing(at(T), 30_000, 90_000).unwrap();
    assert_eq!(
        (timing.interval_ms, timing.stale_after_ms),
        (30_000, 90_000)
    );

    assert_eq!(
        lease_timing(at(T), 999, 2_997).unwrap_err().code().as_str(),
        "invalid_interval"
    );
    for stale_after_ms in [30_000, 90_001, 330_000, -90_000] {
        let err = lease_timing(at(T), 30_000, stale_after_ms).unwrap_err();
        assert_eq!(field_of(&err), "stale_after_ms");
    }
}

proptest! {
    #[test]
    fn parsers_refuse_any_text_without_panicking(text in ".{0,300}") {
        let _ = Grant::parse(&text);
        let _ = LockStatus::parse(&text);
        let _ = record_from_json(&text);
    }

    #[test]
    fn grants_with_any_numbers_are_parsed_or_refused_by_name(
        field in prop::sample::select(vec!["fence", "heartbeat_interval_s", "stale_after_s"]),
        number in any::<f64>(),
    ) {
        let Some(number) = serde_json::Number::from_f64(number) else {
            return Ok(());
        };
        let document = with(grant_document(), field, Value::Number(number));
        if let Err(err) = Grant::parse(&document.to_string()) {
            prop_assert_eq!(err.code().as_str(), "invalid_document");
        }
    }
}
