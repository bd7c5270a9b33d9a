//! The `.lock` judge: every row of its decision table, the 180 s and 30 s boundaries, and every
//! way a record can be invalid.
//!
//! Records are stamped at `T` (2023-11-14T22:13:20.000Z) unless a test says otherwise, so they
//! are live until `T + 179 999 ms` and expired from `T + 180 000 ms` on.

use leasekit_core::gitlock::{
    judge, LockAnswer, LockIntent, LockJudgement, LockQuestion, LockRecordState, LEASE_MS,
    MAX_AHEAD_MS,
};
use leasekit_core::wire::MAX_DOCUMENT_BYTES;
use leasekit_core::UnixMillis;
use proptest::prelude::*;
use serde_json::{json, Value};

const T: i64 = 1_700_000_000_000;
const T_ISO: &str = "2023-11-14T22:13:20.000Z";

use LockAnswer::{Busy, Changed, Expired, Free, Invalid, Lost, Owner};
use LockIntent::{Acquire, Check, Heartbeat, TakeOver};

fn at(ms: i64) -> UnixMillis {
    UnixMillis::new(ms).unwrap()
}

/// Alice's record from browser `b-1`, acquisition `lease-1`, revision `rev-1`, stamped at `T`.
fn alice_record() -> Value {
    json!({
        "editor_id": "alice",
        "browser_instance_id": "b-1",
        "heartbeat_at": T_ISO,
        "target": "deployments/apollo",
        "lease_id": "lease-1",
        "revision": "rev-1",
    })
}

fn with(mut record: Value, field: &str, value: Value) -> Value {
    record[field] = value;
    record
}

fn without(mut record: Value, field: &str) -> Value {
    record.as_object_mut().unwrap().remove(field);
    record
}

fn alice(intent: LockIntent) -> LockQuestion {
    LockQuestion {
        lease_id: Some("lease-1".into()),
        last_revision: Some("rev-1".into()),
        ..LockQuestion::new("alice", "b-1", intent)
    }
}

fn bob(intent: LockIntent) -> LockQuestion {
    LockQuestion::new("bob", "b-2", intent)
}

fn judged(record: Option<&Value>, question: &LockQuestion, now: i64) -> LockJudgement {
    let text = record.map(Value::to_string);
    judge(text.as_deref(), question, at(now)).unwrap()
}

/// Checks one row of the decision table: for each intent, the answer and whether to write.
fn assert_row(
    record: Option<&Value>,
    asker: fn(LockIntent) -> LockQuestion,
    now: i64,
    row: [(LockAnswer, bool); 5],
) {
    for (intent, expected) in LockIntent::ALL.into_iter().zip(row) {
        let judgement = judged(record, &asker(intent), now);
        assert_eq!(
            (judgement.answer, judgement.write),
            expected,
            "intent {}: {judgement:?}",
            intent.as_str()
        );
    }
}

// The decision table, row by row.

#[test]
fn row_1_absent_record_is_free_to_acquire_and_has_nothing_to_beat_or_release() {
    let row = [
        (Free, false),
        (Owner, true),
        (Owner, true),
        (Lost, false),
        (Free, false),
    ];
    assert_row(None, alice, T, row);

    let judgement = judged(None, &bob(Check), T);
    assert_eq!(judgement.record, LockRecordState::Absent);
    assert_eq!((judgement.holder, judgement.expires_in_ms), (None, None));
}

#[test]
fn row_2_tombstone_is_free_and_names_its_last_holder() {
    let tombstone = with(alice_record(), "released", json!(true));
    let row = [
        (Free, false),
        (Owner, true),
        (Owner, true),
        (Lost, false),
        (Free, false),
    ];
    assert_row(Some(&tombstone), alice, T + 1_000, row);
    assert_row(Some(&tombstone), bob, T + 1_000, row);

    let judgement = judged(Some(&tombstone), &bob(Check), T + 1_000);
    assert_eq!(judgement.record, LockRecordState::Released);
    assert_eq!(judgement.holder.unwrap().editor_id, "alice");
    assert_eq!(judgement.expires_in_ms, None);
}

#[test]
fn row_3_invalid_record_is_replaced_only_by_an_explicit_take_over() {
    let broken = without(alice_record(), "heartbeat_at");
    let row = [
        (Invalid, false),
        (Invalid, false),
        (Owner, true),
        (Invalid, false),
        (Invalid, false),
    ];
    assert_row(Some(&broken), alice, T, row);
    assert_row(Some(&broken), bob, T, row);

    let judgement = judged(Some(&broken), &alice(Check), T);
    assert_eq!(judgement.record, LockRecordState::Invalid);
    assert!(!judgement.mine, "an unreadable record names nobody");
    assert_eq!(judgement.problem.unwrap().field, "heartbeat_at");
}

#[test]
fn row_4_own_record_rewritten_since_the_last_write_is_changed_for_every_intent() {
    let rewritten = with(alice_record(), "revision", json!("rev-2"));
    let row = [(Changed, false); 5];
    assert_row(Some(&rewritten), alice, T + 1_000, row);
    assert_row(Some(&rewritten), alice, T + LEASE_MS, row);

    let judgement = judged(Some(&rewritten), &alice(Check), T + 1_000);
    assert!(judgement.mine);
    assert_eq!(judgement.holder.unwrap().revision.as_deref(), Some("rev-2"));
}

#[test]
fn row_5_own_live_lease_is_owned_and_may_be_renewed_or_released() {
    let row = [
        (Owner, false),
        (Owner, true),
        (Owner, true),
        (Owner, true),
        (Owner, true),
    ];
    assert_row(Some(&alice_record()), alice, T + 60_000, row);

    let judgement = judged(Some(&alice_record()), &alice(Check), T + 60_000);
    assert_eq!(judgement.record, LockRecordState::Live);
    assert!(judgement.mine && judgement.same_editor);
    assert_eq!(judgement.expires_in_ms, Some(120_000));
}

#[test]
fn row_6_own_expired_lease_is_not_revived_but_may_be_taken_over_or_released() {
    let row = [
        (Expired, false),
        (Expired, false),
        (Owner, true),
        (Expired, false),
        (Owner, true),
    ];
    assert_row(Some(&alice_record()), alice, T + LEASE_MS, row);

    let judgement = judged(Some(&alice_record()), &alice(Heartbeat), T + 500_000);
    assert_eq!(judgement.record, LockRecordState::Expired);
    assert_eq!(judgement.expires_in_ms, Some(0));
}

#[test]
fn row_7_another_editors_live_lease_is_busy_to_acquire_and_lost_otherwise() {
    let row = [
        (Lost, false),
        (Busy, false),
        (Busy, false),
        (Lost, false),
        (Lost, false),
    ];
    assert_row(Some(&alice_record()), bob, T + 1_000, row);

    let judgement = judged(Some(&alice_record()), &bob(Acquire), T + 1_000);
    assert!(!judgement.mine && !judgement.same_editor);
    let holder = judgement.holder.unwrap();
    assert_eq!(
        (holder.editor_id.as_str(), holder.heartbeat_at),
        ("alice", at(T))
    );
    assert_eq!(holder.expires_at, at(T + LEASE_MS));
    assert_eq!(holder.target.as_deref(), Some("deployments/apollo"));
    assert_eq!(judgement.expires_in_ms, Some(LEASE_MS - 1_000));
}

#[test]
fn row_8_another_editors_expired_lease_needs_an_explicit_take_over() {
    let row = [
        (Expired, false),
        (Expired, false),
        (Owner, true),
        (Lost, false),
        (Lost, false),
    ];
    assert_row(Some(&alice_record()), bob, T + LEASE_MS, row);
}

// The boundaries.

#[test]
fn lease_is_live_one_millisecond_before_180_s_and_expired_at_exactly_180_s() {
    let before = judged(Some(&alice_record()), &bob(Acquire), T + LEASE_MS - 1);
    assert_eq!(
        (before.answer, before.record),
        (Busy, LockRecordState::Live)
    );
    assert_eq!(before.expires_in_ms, Some(1));

    let exactly = judged(Some(&alice_record()), &bob(Acquire), T + LEASE_MS);
    assert_eq!(
        (exactly.answer, exactly.record),
        (Expired, LockRecordState::Expired)
    );
    assert_eq!(exactly.expires_in_ms, Some(0));

    let own = judged(Some(&alice_record()), &alice(Heartbeat), T + LEASE_MS);
    assert_eq!(
        own.answer, Expired,
        "a heartbeat at exactly 180 s does not revive"
    );
}

#[test]
fn heartbeat_exactly_30_s_ahead_is_valid_and_one_millisecond_more_is_invalid() {
    let record = alice_record();

    let exactly = judged(Some(&record), &bob(Acquire), T - MAX_AHEAD_MS);
    assert_eq!(
        (exactly.answer, exactly.record),
        (Busy, LockRecordState::Live)
    );
    assert_eq!(exactly.expires_in_ms, Some(LEASE_MS + MAX_AHEAD_MS));

    let beyond = judged(Some(&record), &bob(Acquire), T - MAX_AHEAD_MS - 1);
    assert_eq!(
        (beyond.answer, beyond.record),
        (Invalid, LockRecordState::Invalid)
    );
    let problem = beyond.problem.unwrap();
    assert_eq!(problem.field, "heartbeat_at");
    assert!(problem.rule.contains("30001 ms"), "{}", problem.rule);
    assert_eq!(
        beyond.holder.unwrap().editor_id,
        "alice",
        "the holder is still named"
    );
    assert!(!beyond.mine);
}

#[test]
fn tombstone_stamped_far_in_the_future_is_still_released() {
    let tombstone = with(
        with(alice_record(), "released", json!(true)),
        "heartbeat_at",
        json!("2030-01-01T00:00:00Z"),
    );

    let judgement = judged(Some(&tombstone), &bob(Acquire), T);
    assert_eq!(judgement.record, LockRecordState::Released);
    assert_eq!((judgement.answer, judgement.write), (Owner, true));
}

#[test]
fn released_false_is_an_ordinary_lease() {
    let record = with(alice_record(), "released", json!(false));

    assert_eq!(judged(Some(&record), &bob(Acquire), T).answer, Busy);
}

// Who the record names.

#[test]
fn same_editor_in_another_browser_is_busy_and_told_so() {
    let other_browser = LockQuestion::new("alice", "b-9", Acquire);

    let judgement = judged(Some(&alice_record()), &other_browser, T + 1_000);
    assert_eq!(judgement.answer, Busy);
    assert!(judgement.same_editor && !judgement.mine);
}

#[test]
fn another_acquisition_of_the_same_browser_is_not_mine() {
    let stale_tab = LockQuestion {
        lease_id: Some("lease-0".into()),
        ..LockQuestion::new("alice", "b-1", Heartbeat)
    };

    let judgement = judged(Some(&alice_record()), &stale_tab, T + 1_000);
    assert_eq!((judgement.answer, judgement.mine), (Lost, false));
}

#[test]
fn a_lease_id_asked_for_is_not_found_in_a_record_without_one() {
    let record = without(alice_record(), "lease_id");

    let judgement = judged(Some(&record), &alice(Heartbeat), T + 1_000);
    assert_eq!((judgement.answer, judgement.mine), (Lost, false));
}

#[test]
fn without_a_lease_id_the_editor_and_browser_decide_ownership() {
    let question = LockQuestion::new("alice", "b-1", Check);

    let judgement = judged(Some(&alice_record()), &question, T + 1_000);
    assert_eq!((judgement.answer, judgement.mine), (Owner, true));
}

#[test]
fn a_record_without_revision_is_changed_for_a_caller_that_wrote_one() {
    let record = without(alice_record(), "revision");

    assert_eq!(judged(Some(&record), &alice(Check), T).answer, Changed);

    let no_revision_asked = LockQuestion {
        last_revision: None,
        ..alice(Check)
    };
    assert_eq!(judged(Some(&record), &no_revision_asked, T).answer, Owner);
}

// Reading the record.

#[test]
fn optional_fields_may_be_null_or_absent_and_unknown_fields_are_ignored() {
    let minimal = json!({"editor_id": "alice", "browser_instance_id": "b-1",
                         "heartbeat_at": T_ISO});
    let nulls = json!({"editor_id": "alice", "browser_instance_id": "b-1",
                       "heartbeat_at": T_ISO, "target": null, "lease_id": null,
                       "revision": null, "released": null, "schema": {"v": [2]}});
    let question = LockQuestion::new("alice", "b-1", Check);

    for record in [minimal, nulls] {
        let judgement = judged(Some(&record), &question, T);
        assert_eq!(
            (judgement.answer, judgement.record),
            (Owner, LockRecordState::Live)
        );
        assert_eq!(judgement.holder.unwrap().target, None);
    }
}

#[test]
fn heartbeat_at_with_an_offset_and_microseconds_is_read_in_utc_to_the_millisecond() {
    let record = with(
        alice_record(),
        "heartbeat_at",
        json!("2023-11-15T00:13:20.000999+02:00"),
    );

    let judgement = judged(Some(&record), &alice(Check), T);
    assert_eq!(judgement.holder.unwrap().heartbeat_at, at(T));
}

#[test]
fn every_missing_or_mistyped_field_makes_the_record_invalid_and_is_named() {
    let cases = [
        (without(alice_record(), "editor_id"), "editor_id"),
        (
            without(alice_record(), "browser_instance_id"),
            "browser_instance_id",
        ),
        (with(alice_record(), "editor_id", json!(7)), "editor_id"),
        (with(alice_record(), "editor_id", json!("")), "editor_id"),
        (
            with(alice_record(), "editor_id", json!("a\u{7}b")),
            "editor_id",
        ),
        (
            with(alice_record(), "editor_id", json!("e".repeat(257))),
            "editor_id",
        ),
        (
            with(alice_record(), "browser_instance_id", json!(["b-1"])),
            "browser_instance_id",
        ),
        (
            with(alice_record(), "heartbeat_at", json!(T)),
            "heartbeat_at",
        ),
        (
            with(alice_record(), "heartbeat_at", json!("yesterday")),
            "heartbeat_at",
        ),
        (
            with(alice_record(), "heartbeat_at", json!("2023-11-14 22:13")),
            "heartbeat_at",
        ),
        (with(alice_record(), "target", json!(false)), "target"),
        (
            with(alice_record(), "target", json!("t".repeat(1025))),
            "target",
        ),
        (with(alice_record(), "lease_id", json!(1)), "lease_id"),
        (with(alice_record(), "lease_id", json!("")), "lease_id"),
        (
            with(alice_record(), "revision", json!({"n": 1})),
            "revision",
        ),
        (with(alice_record(), "released", json!("true")), "released"),
        (with(alice_record(), "released", json!(1)), "released"),
    ];

    for (record, field) in cases {
        let judgement = judged(Some(&record), &bob(Check), T);
        assert_eq!(judgement.answer, Invalid, "{record}");
        let problem = judgement.problem.unwrap();
        assert_eq!(problem.field, field, "{record}: {}", problem.rule);
        assert!(!problem.rule.is_empty());
    }
}

#[test]
fn text_that_is_not_a_json_object_is_invalid_as_a_whole() {
    for text in [
        "",
        "not json",
        "[]",
        "null",
        "\"alice\"",
        "{\"editor_id\": \"a\"",
    ] {
        let judgement = judge(Some(text), &bob(Check), at(T)).unwrap();
        assert_eq!(judgement.answer, Invalid, "{text:?}");
        assert_eq!(judgement.problem.unwrap().field, "$", "{text:?}");
        assert_eq!(judgement.holder, None);
    }
}

#[test]
fn oversized_and_deeply_nested_records_are_invalid_not_errors() {
    let padding = "x".repeat(MAX_DOCUMENT_BYTES);
    let oversized = with(alice_record(), "padding", json!(padding)).to_string();
    let deep = format!(
        r#"{{"editor_id":"alice","browser_instance_id":"b-1","heartbeat_at":"{T_ISO}","x":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );

    for text in [oversized, deep] {
        let judgement = judge(Some(&text), &bob(TakeOver), at(T)).unwrap();
        assert_eq!(judgement.record, LockRecordState::Invalid);
        assert_eq!((judgement.answer, judgement.write), (Owner, true));
        assert_eq!(judgement.problem.unwrap().field, "$");
    }
}

// Bad questions are errors.

#[test]
fn a_bad_question_is_an_error_naming_its_field() {
    let cases = [
        (LockQuestion::new("", "b-1", Check), "editor_id"),
        (
            LockQuestion::new("alice", "b\n1", Check),
            "browser_instance_id",
        ),
        (
            LockQuestion {
                lease_id: Some("l".repeat(257)),
                ..LockQuestion::new("alice", "b-1", Check)
            },
            "lease_id",
        ),
        (
            LockQuestion {
                last_revision: Some(String::new()),
                ..LockQuestion::new("alice", "b-1", Check)
            },
            "last_revision",
        ),
    ];

    for (question, field) in cases {
        let err = judge(None, &question, at(T)).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_document");
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

#[test]
fn intents_parse_from_their_snake_case_names_only() {
    for intent in LockIntent::ALL {
        assert_eq!(LockIntent::parse(intent.as_str()).unwrap(), intent);
    }
    let err = LockIntent::parse("takeover").unwrap_err();
    assert!(err.to_string().starts_with("intent"), "{err}");
}

#[test]
fn judgement_serialises_with_snake_case_kinds_and_millisecond_times() {
    let judgement = judged(Some(&alice_record()), &bob(TakeOver), T + 1_000);

    let expected = json!({
        "answer": "busy", "write": false, "record": "live", "mine": false,
        "same_editor": false, "expires_in_ms": LEASE_MS - 1_000, "problem": null,
        "holder": {"editor_id": "alice", "browser_instance_id": "b-1",
                   "target": "deployments/apollo", "revision": "rev-1",
                   "heartbeat_at": T, "expires_at": T + LEASE_MS},
    });
    assert_eq!(serde_json::to_value(&judgement).unwrap(), expected);
}

// Whatever the text and the time, the judge answers, and its answers keep the table's shape.

proptest! {
    #[test]
    fn judge_answers_any_text_without_panicking(
        text in ".{0,200}",
        offset in -1_000_000i64..1_000_000,
        intent in prop::sample::select(LockIntent::ALL.to_vec()),
    ) {
        let judgement = judge(Some(&text), &bob(intent), at(T + offset)).unwrap();
        prop_assert!(!judgement.write || judgement.answer == Owner);
    }

    #[test]
    fn writes_follow_the_table_at_any_time(
        offset in -100_000i64..400_000,
        intent in prop::sample::select(LockIntent::ALL.to_vec()),
        mine in any::<bool>(),
    ) {
        let question = if mine { alice(intent) } else { bob(intent) };
        let judgement = judged(Some(&alice_record()), &question, T + offset);

        prop_assert!(!(intent == Check && judgement.write), "a check never writes");
        prop_assert_eq!(judgement.write, judgement.answer == Owner && intent != Check);
        if judgement.record == LockRecordState::Live && !mine {
            prop_assert!(!judgement.write, "nobody writes over another's live lease");
        }
        if judgement.record == LockRecordState::Expired && intent == Heartbeat {
            prop_assert!(!judgement.write, "a heartbeat never revives");
        }
    }
}
