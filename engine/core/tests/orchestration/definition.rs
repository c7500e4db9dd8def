//! The definition format: the example, the committed JSON Schema, strict parsing.

use std::path::PathBuf;

use serde_json::{Value, json};
use stagecraft_core::run::{EvalTarget, Principal, StageStatus};
use stagecraft_core::{Event, Orchestration, RunStatus};

use crate::support::{Driver, FakeCatalog, user};

fn core_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn loan_approval() -> Orchestration {
    let text = std::fs::read_to_string(core_dir().join("examples/loan_approval.json"))
        .expect("example exists");
    serde_json::from_str(&text).expect("example parses")
}

/// The committed schema matches the types. Regenerate it with
/// `UPDATE_SCHEMA=1 cargo test -p stagecraft-core --test orchestration schema`.
#[test]
fn committed_json_schema_is_up_to_date() {
    let path = core_dir().join("orchestration.schema.json");
    let generated = serde_json::to_string_pretty(&stagecraft_core::json_schema())
        .expect("schema serializes")
        + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("schema written");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "orchestration.schema.json is stale: run UPDATE_SCHEMA=1 cargo test -p stagecraft-core --test orchestration schema"
    );
}

/// The schema describes the format's key parts.
#[test]
fn json_schema_covers_the_format() {
    let schema = stagecraft_core::json_schema().to_string();
    for word in [
        "evaluation_flow",
        "after_step",
        "fault_path",
        "all_steps_completed",
        "is_null",
    ] {
        assert!(schema.contains(word), "schema lacks {word}");
    }
}

/// C-DEPLOY-REJECT (definition side): the loan-approval example parses, validates, and runs
/// through a happy path.
#[test]
fn loan_approval_example_parses_validates_and_runs() {
    let def = loan_approval();
    let plan = stagecraft_core::validate(&def, &FakeCatalog::standard())
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(plan.name(), "loan_approval");
    let inputs = json!({"applicant": {"name": "Ada", "email": "ada@example.com"}, "amount": 5000});
    let mut run = Driver::start(plan, inputs);
    run.finish_with("risk", json!({"score": 420, "band": "low"}));
    run.action_done("credit_check", Ok(json!({"rating": "A"})));
    assert_eq!(
        run.work_item("review").assignee,
        Principal::Group("underwriters".into())
    );
    let underwriter = stagecraft_core::Actor {
        groups: vec!["underwriters".into()],
        ..user("uma")
    };
    run.complete("review", underwriter, json!({"approved": true}))
        .expect("underwriter completes");
    assert_eq!(run.stage_status("disbursement"), StageStatus::InProgress);
    run.finish("disburse");
    run.action_done("notify", Ok(json!({})));
    run.answer(&EvalTarget::StageExit, true);
    assert_eq!(run.status(), RunStatus::Completed);
    run.send(Event::EventPublished {
        name: "late".into(),
    })
    .expect_err("a completed run takes no events");
}

/// Definitions round-trip through JSON unchanged.
#[test]
fn definition_round_trips() {
    let def = loan_approval();
    let text = serde_json::to_string(&def).expect("serializes");
    let back: Orchestration = serde_json::from_str(&text).expect("parses back");
    assert_eq!(back, def);
}

/// Unknown fields are rejected (typos surface at deploy time), at any depth.
#[test]
fn unknown_fields_are_rejected() {
    let mut def: Value = serde_json::to_value(loan_approval()).expect("serializes");
    def["elements"][0]["steps"][0]["entery"] = json!("stage_start");
    assert!(serde_json::from_value::<Orchestration>(def.clone()).is_err());
    def["elements"][0]["steps"][0]
        .as_object_mut()
        .expect("step object")
        .remove("entery");
    def["elements"][0]["exitt"] = json!("all_steps_completed");
    let error = serde_json::from_value::<Orchestration>(def).unwrap_err();
    assert!(error.to_string().contains("exitt"), "{error}");
}
