//! Replays every conformance vector in `core/vectors/` through the Rust core.
//!
//! The Python and JavaScript sides replay the same files; this test is the reference run. It
//! also checks the vector set itself (enough scenarios, unique names, every rule and every known
//! failure covered) and that the replayer really reports a wrong expectation.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use leasekit_core::vectors::{replay, replay_file, Expectation, OpName, Scenario, VectorFile};
use serde_json::json;

/// The failures of other lease systems the issue lists; each must have its scenario.
const KNOWN_FAILURES: &[&str] = &[
    "two_contenders_both_judging_stale_only_one_wins",
    "late_release_after_expiry_and_reacquire_by_other_does_not_free_new_holder",
    "heartbeat_after_takeover_is_lost_and_leaves_new_holder_untouched",
    "heartbeat_after_expiry_with_nobody_in_between_is_expired_not_revived",
    "sixty_heartbeats_one_second_apart_expire_at_last_beat_plus_threshold",
    "intervals_zero_negative_and_thirty_days_are_refused_never_wrapped",
    "fence_never_goes_back_after_release_reacquire_and_reload",
    "second_browser_tab_is_busy_then_takes_over_and_first_tab_learns_it_lost",
];

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn vector_files() -> Vec<(String, VectorFile)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(vector_dir())
        .expect("core/vectors exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();

    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path).expect("readable vector file");
            let file = VectorFile::parse(&text).unwrap_or_else(|err| panic!("{name}: {err}"));
            (name, file)
        })
        .collect()
}

fn all_scenarios() -> Vec<(String, Scenario)> {
    vector_files()
        .into_iter()
        .flat_map(|(name, file)| {
            file.scenarios
                .into_iter()
                .map(move |scenario| (name.clone(), scenario))
        })
        .collect()
}

fn scenario_named(name: &str) -> Scenario {
    all_scenarios()
        .into_iter()
        .map(|(_, scenario)| scenario)
        .find(|scenario| scenario.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

#[test]
fn every_vector_replays_through_the_core() {
    let files = vector_files();
    assert!(!files.is_empty(), "no vector files in {:?}", vector_dir());

    let failures: Vec<String> = files
        .iter()
        .flat_map(|(name, file)| {
            replay_file(file)
                .into_iter()
                .map(move |mismatch| format!("{name}: {mismatch}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} scenarios failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn vector_set_has_at_least_forty_uniquely_named_scenarios() {
    let scenarios = all_scenarios();
    assert!(scenarios.len() >= 40, "only {} scenarios", scenarios.len());

    let mut seen = BTreeMap::new();
    for (file, scenario) in &scenarios {
        let name = &scenario.name;
        let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(snake, "{file}: {name} is not snake_case");
        if let Some(other) = seen.insert(name.clone(), file.clone()) {
            panic!("{name} appears in {other} and {file}");
        }
    }
}

#[test]
fn every_rule_and_every_known_failure_has_a_scenario() {
    let scenarios = all_scenarios();
    let mut covered = BTreeSet::new();
    for (file, scenario) in &scenarios {
        assert!(
            !scenario.rules.is_empty(),
            "{file}: {} names no rule",
            scenario.name
        );
        for rule in &scenario.rules {
            assert!(
                (1..=12).contains(rule),
                "{file}: {} names rule {rule}",
                scenario.name
            );
            covered.insert(*rule);
        }
    }
    let missing: Vec<u8> = (1..=12).filter(|rule| !covered.contains(rule)).collect();
    assert!(missing.is_empty(), "rules without a scenario: {missing:?}");

    let names: BTreeSet<&str> = scenarios.iter().map(|(_, s)| s.name.as_str()).collect();
    for known in KNOWN_FAILURES {
        assert!(
            names.contains(known),
            "known failure {known} has no scenario"
        );
    }
}

#[test]
fn every_checked_in_step_states_its_expectation_and_every_scenario_its_final_record() {
    for (file, scenario) in all_scenarios() {
        assert!(
            !scenario.description.trim().is_empty(),
            "{file}: {}",
            scenario.name
        );
        assert!(
            !scenario.steps.is_empty(),
            "{file}: {} has no step",
            scenario.name
        );
        assert!(
            scenario.final_record.is_some(),
            "{file}: {} has no final record",
            scenario.name
        );
        for (index, step) in scenario.steps.iter().enumerate() {
            assert!(
                step.expect.is_some(),
                "{file}: {} steps[{index}] has no expect",
                scenario.name
            );
        }
    }
}

#[test]
fn every_number_in_the_vectors_is_an_integer_a_javascript_number_holds_exactly() {
    fn check(value: &serde_json::Value, path: &str) {
        match value {
            serde_json::Value::Number(number) => {
                let exact = number.as_i64().is_some_and(|n| (n as f64) as i64 == n);
                assert!(
                    exact,
                    "{path}: {number} is not an exactly representable integer"
                );
            }
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    check(item, &format!("{path}[{index}]"));
                }
            }
            serde_json::Value::Object(fields) => {
                for (key, item) in fields {
                    check(item, &format!("{path}.{key}"));
                }
            }
            _ => {}
        }
    }

    for entry in fs::read_dir(vector_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "json") {
            let value: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            check(&value, &path.display().to_string());
        }
    }
}

#[test]
fn every_accepted_time_lies_within_the_years_one_to_9999() {
    // Python's datetime holds years 1 to 9999; a replayer may pass times through it.
    let years_one_to_9999 = -62_135_596_800_000..=253_402_300_799_999;
    let time_fields = ["acquired_at", "heartbeat_at", "ended_at"];

    for (file, scenario) in all_scenarios() {
        let records = scenario.initial.iter().chain(&scenario.final_record);
        for (field, value) in records.flat_map(|record| record.as_object().unwrap()) {
            if time_fields.contains(&field.as_str()) {
                let ms = value.as_i64().unwrap();
                assert!(
                    years_one_to_9999.contains(&ms),
                    "{file}: {}: {field}",
                    scenario.name
                );
            }
        }
        for (index, step) in scenario.steps.iter().enumerate() {
            let refused = matches!(step.expect, Some(Expectation::Error(_)));
            let ignored = step.op == OpName::Reload;
            assert!(
                refused || ignored || years_one_to_9999.contains(&step.at),
                "{file}: {} steps[{index}] at {}",
                scenario.name,
                step.at
            );
        }
    }
}

#[test]
fn replay_names_scenario_step_and_field_of_a_wrong_expectation() {
    let mut scenario =
        scenario_named("takeover_by_second_session_grants_next_fence_and_ends_first_as_taken_over");
    let Some(Expectation::Answer(answer)) = &mut scenario.steps[1].expect else {
        panic!("steps[1] expects an answer");
    };
    answer["lease"]["fence"] = json!(3);

    let mismatch = replay(&scenario).unwrap_err();
    assert_eq!(mismatch.scenario, scenario.name);
    assert_eq!(mismatch.step, Some(1));
    assert_eq!(mismatch.field, "expect.lease.fence");
    assert_eq!(
        (mismatch.expected.as_str(), mismatch.actual.as_str()),
        ("3", "2")
    );
    let message = mismatch.to_string();
    assert!(
        message.contains("steps[1]") && message.contains(&scenario.name),
        "{message}"
    );
}

#[test]
fn replay_reports_a_wrong_event_list() {
    let mut scenario =
        scenario_named("sweep_one_millisecond_after_stale_after_ends_the_lease_as_expired");
    scenario.steps[1].events = Some(Vec::new());

    let mismatch = replay(&scenario).unwrap_err();
    assert_eq!(
        (mismatch.step, mismatch.field.as_str()),
        (Some(1), "events")
    );
}

#[test]
fn replay_reports_an_error_where_an_answer_was_expected() {
    let mut scenario = scenario_named("acquire_with_zero_interval_is_refused_as_invalid_interval");
    scenario.steps[0].expect = Some(Expectation::Answer(json!({"kind": "granted"})));

    let mismatch = replay(&scenario).unwrap_err();
    assert_eq!(
        (mismatch.step, mismatch.field.as_str()),
        (Some(0), "expect")
    );
    assert!(mismatch.actual.contains("invalid_interval"), "{mismatch}");
}

#[test]
fn replay_reports_a_wrong_final_record_field() {
    let mut scenario =
        scenario_named("heartbeat_on_live_lease_moves_only_heartbeat_at_and_emits_no_event");
    let final_record = scenario.final_record.as_mut().unwrap();
    final_record["token"] = json!("tok-someone-else");

    let mismatch = replay(&scenario).unwrap_err();
    assert_eq!(mismatch.step, None);
    assert_eq!(mismatch.field, "final.token_digest");
}

#[test]
fn replay_refuses_an_argument_the_operation_does_not_take() {
    let mut scenario = scenario_named("sweep_of_vacant_or_released_resource_is_untouched");
    scenario.steps[0].token = Some("tok-alice-1".to_owned());

    let mismatch = replay(&scenario).unwrap_err();
    assert_eq!((mismatch.step, mismatch.field.as_str()), (Some(0), "token"));
}

#[test]
fn unknown_fields_and_formats_are_refused_when_parsing_a_vector_file() {
    let typo = r#"{"format": 1, "scenarios": [{"name": "x", "rules": [1], "description": "d",
        "steps": [{"at": 0, "op": "sweep", "expct": {"kind": "untouched"}}]}]}"#;
    let err = VectorFile::parse(typo).unwrap_err();
    assert_eq!(err.code().as_str(), "invalid_document");
    assert!(err.to_string().contains("expct"), "{err}");

    let future = r#"{"format": 2, "scenarios": []}"#;
    let err = VectorFile::parse(future).unwrap_err();
    assert!(err.to_string().starts_with("format"), "{err}");
}
