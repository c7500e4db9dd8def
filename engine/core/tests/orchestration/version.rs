//! C-VERSION-PIN, and exactly-once recording of results.

use serde_json::json;
use stagecraft_core::run::StepStatus;
use stagecraft_core::{Event, EventError, RunStatus};

use crate::support::{Driver, bg, orchestration, plan, stage, t};

fn def() -> serde_json::Value {
    orchestration(json!([
        stage("s", json!([bg("a")]), json!("t")),
        stage("t", json!([bg("b")]), json!(null))
    ]))
}

/// C-VERSION-PIN: a run keeps the orchestration version it started with; a plan of another
/// version (or orchestration) is refused.
#[test]
fn c_version_pin_run_keeps_its_orchestration_version() {
    let v3 = plan(def()).with_version(3);
    let mut run = Driver::start(v3, json!({}));
    assert_eq!(run.run.version, 3);
    let event = run.flow_event("a", Ok(json!({})));
    let v4 = plan(def()).with_version(4);
    let refused = stagecraft_core::handle(&run.run, &v4, event.clone(), run.now);
    assert!(matches!(refused, Err(EventError::WrongPlan { .. })));
    let mut other = def();
    other["name"] = json!("other");
    let other = plan(other).with_version(3);
    let refused = stagecraft_core::handle(&run.run, &other, event.clone(), run.now);
    assert!(matches!(refused, Err(EventError::WrongPlan { .. })));
    run.ok(event);
    assert_eq!(run.step_status("s", "a"), StepStatus::Completed);
}

/// C-VERSION-PIN: a step records the flow version it ran, which the engine picked when the
/// step started.
#[test]
fn c_version_pin_step_records_the_flow_version_it_started_with() {
    let mut run = Driver::of(def());
    let (step, attempt) = run.call("a");
    run.ok(Event::FlowFinished {
        step,
        attempt,
        flow_version: 7,
        result: Ok(json!({})),
    });
    assert_eq!(run.stage("s").steps[0].flow_version, Some(7));
}

/// Results are recorded exactly once: duplicates, unknown steps and past stage runs are refused.
#[test]
fn duplicate_and_stale_results_are_refused() {
    let mut run = Driver::of(def());
    let event = run.flow_event("a", Ok(json!({})));
    run.ok(event.clone());
    let duplicate = run.send(event);
    assert!(matches!(duplicate, Err(EventError::StepNotCurrent { .. })));
    let (mut key, attempt) = run.call("b");
    key.step = "nope".into();
    let unknown = run.send(Event::FlowFinished {
        step: key,
        attempt,
        flow_version: 1,
        result: Ok(json!({})),
    });
    assert!(matches!(unknown, Err(EventError::UnknownStep { .. })));
    let twice = run.flow_event("b", Ok(json!({})));
    run.ok(twice.clone());
    assert_eq!(run.status(), RunStatus::Completed);
    assert!(matches!(
        run.send(twice),
        Err(EventError::RunFinished { .. })
    ));
}

/// A duplicate result within the same stage run is refused as already recorded.
#[test]
fn duplicate_result_in_current_stage_is_refused() {
    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a"), bg("b")]),
        json!(null)
    )])));
    let event = run.flow_event("a", Ok(json!({})));
    run.ok(event.clone());
    assert!(matches!(
        run.send(event),
        Err(EventError::AlreadyRecorded { .. })
    ));
}

/// C-VERSION-PIN: `pin_flows` records in the starting transition the version active for each
/// step it starts, and `pinned_version` reads it back; a flow nobody knows leaves it unpinned.
#[test]
fn c_version_pin_a_starting_step_is_pinned_in_its_transition() {
    use stagecraft_core::{FlowPin, pin_flows, pinned_flow};
    let plan = plan(def());
    let mut transition =
        stagecraft_core::start(&plan, stagecraft_core::RunId("r".into()), json!({}), t(0))
            .expect("starts");
    pin_flows(&mut transition, |flow| {
        (flow == "auto").then(|| FlowPin {
            version: 4,
            digest: "d4".into(),
        })
    });
    let step = &transition.run.stages[0].steps[0];
    assert_eq!(
        (step.flow_version, step.flow_digest.as_deref()),
        (Some(4), Some("d4"))
    );
    let key = stagecraft_core::run::StepKey {
        stage: "s".into(),
        stage_run: 0,
        step: "a".into(),
    };
    assert_eq!(
        pinned_flow(&transition.run, &key),
        Some((4, Some("d4".to_owned())))
    );

    pin_flows(&mut transition, |_| None);
    let step = &transition.run.stages[0].steps[0];
    assert_eq!(
        (step.flow_version, step.flow_digest.as_deref()),
        (None, None)
    );
}

/// Values nested deeper than MAX_VALUE_DEPTH never enter a run: start inputs are refused, and
/// flow outputs fail their step as undecodable output, so every state can be read back.
#[test]
fn values_nested_too_deeply_are_refused_where_they_enter() {
    use stagecraft_core::{FlowFailureKind, InputProblem, MAX_VALUE_DEPTH, value_depth};
    let nested = |depth: usize| (0..depth).fold(json!(1), |inner, _| json!([inner]));
    assert_eq!(value_depth(&json!(1)), 0);
    assert_eq!(value_depth(&json!({"a": [1, {"b": []}]})), 4);
    assert_eq!(value_depth(&nested(MAX_VALUE_DEPTH)), MAX_VALUE_DEPTH);

    let plan = plan(def());
    let refused = stagecraft_core::start(
        &plan,
        stagecraft_core::RunId("r".into()),
        json!({"who": nested(MAX_VALUE_DEPTH + 1)}),
        t(0),
    );
    assert!(
        matches!(&refused, Err(EventError::InvalidInputs { problems })
            if problems == &[InputProblem::TooDeep { name: "who".into() }]),
        "{refused:?}"
    );
    let fine = Driver::start(plan, json!({"who": nested(MAX_VALUE_DEPTH)}));
    assert_eq!(fine.status(), RunStatus::InProgress);

    let mut run = Driver::of(def());
    let event = run.flow_event("a", Ok(json!({"deep": nested(MAX_VALUE_DEPTH)})));
    run.ok(event);
    let step = &run.stage("s").steps[0];
    assert_eq!(step.status, StepStatus::Error);
    assert!(
        step.error
            .as_deref()
            .is_some_and(|e| e.contains("deeper than 64")),
        "{step:?}"
    );
    assert!(matches!(
        run.run.error.as_ref().map(|e| e.kind.clone()),
        Some(stagecraft_core::run::ErrorKind::Flow(
            FlowFailureKind::BadOutput
        ))
    ));
}
