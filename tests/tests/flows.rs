//! The example flows run through the host, and every kind of failure comes
//! back typed.

use serde_json::json;
use stagecraft_host::{FieldType, FlowFailure, FlowKind, LogLevel, LogStream, Submission};
use stagecraft_tests::{
    CREDIT_CHECK, CREDIT_CHECK_LENIENT, HOSTILE, LOAN_REVIEW, NOOP, REVIEW_TRAP, RISK_SCORE,
    RISK_SCORE_FIXED, flow,
};

#[tokio::test]
async fn autolaunched_flow_computes_outputs_and_logs() {
    let score = flow(FlowKind::Autolaunched, RISK_SCORE);
    let invocation = score
        .run(&json!({"income": 1000, "debt": 200, "amount": 100}))
        .await;
    assert_eq!(
        invocation.outcome,
        Ok(json!({"risk": 30, "debt_to_income_pct": 30}))
    );
    assert!(invocation.fuel_consumed > 0);
    let line = &invocation.log[0];
    assert_eq!(line.stream, LogStream::Log(LogLevel::Info));
    assert_eq!(line.message, "debt-to-income 30%");
}

/// The trap of the demo: division by zero is a trap whose message and
/// panic text reach the operator.
#[tokio::test]
async fn buggy_flow_traps_on_zero_income_and_the_fix_does_not() {
    let inputs = json!({"income": 0, "debt": 200, "amount": 100});
    let buggy = flow(FlowKind::Autolaunched, RISK_SCORE).run(&inputs).await;
    let Err(FlowFailure::Trap { message }) = &buggy.outcome else {
        panic!("expected a trap, got {:?}", buggy.outcome);
    };
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        buggy
            .log
            .iter()
            .any(|l| l.stream == LogStream::Stderr && l.message.contains("divide by zero")),
        "{:?}",
        buggy.log
    );

    let fixed = flow(FlowKind::Autolaunched, RISK_SCORE_FIXED)
        .run(&inputs)
        .await;
    assert_eq!(
        fixed.outcome,
        Ok(json!({"risk": 100, "debt_to_income_pct": u64::MAX}))
    );
    assert_eq!(fixed.log[0].stream, LogStream::Log(LogLevel::Warn));
}

#[tokio::test]
async fn stdout_is_captured_into_the_log() {
    let fixed = flow(FlowKind::Autolaunched, RISK_SCORE_FIXED)
        .run(&json!({"income": 100, "debt": 10, "amount": 10}))
        .await;
    assert!(fixed.outcome.is_ok());
    assert!(fixed.log.iter().any(|l| l.stream == LogStream::Stdout
        && l.message == "scored an application: debt-to-income 20%"));

    let shout = flow(FlowKind::Autolaunched, HOSTILE)
        .run(&json!({"attack": "shout"}))
        .await;
    let lines: Vec<_> = shout
        .log
        .iter()
        .map(|l| (l.stream, l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (LogStream::Stdout, "to stdout"),
            (LogStream::Stderr, "to stderr")
        ]
    );
}

#[tokio::test]
async fn inputs_of_the_wrong_shape_are_a_flow_error() {
    let invocation = flow(FlowKind::Autolaunched, RISK_SCORE)
        .run(&json!({"income": "lots"}))
        .await;
    let Err(FlowFailure::FlowError { code, message }) = invocation.outcome else {
        panic!("expected a flow error, got {:?}", invocation.outcome);
    };
    assert_eq!(code, "invalid-input");
    assert!(message.contains("income"), "{message}");
}

/// The fix of credit_check clamps a risk out of range where v1 refused it.
#[tokio::test]
async fn the_lenient_evaluation_flow_clamps_an_out_of_range_risk() {
    let check = flow(FlowKind::Evaluation, CREDIT_CHECK_LENIENT);
    for risk in [500, -3] {
        let inputs = json!({"risk": risk, "threshold": 100});
        assert_eq!(check.evaluate(&inputs).await.outcome, Ok(true), "{risk}");
    }
    assert_eq!(
        check.evaluate(&json!({"risk": 500})).await.outcome,
        Ok(false),
        "clamped to 100, over the default threshold of 40"
    );
}

#[tokio::test]
async fn evaluation_flow_returns_the_condition_or_an_error() {
    let check = flow(FlowKind::Evaluation, CREDIT_CHECK);
    assert_eq!(check.evaluate(&json!({"risk": 40})).await.outcome, Ok(true));
    assert_eq!(
        check.evaluate(&json!({"risk": 41})).await.outcome,
        Ok(false)
    );
    assert_eq!(
        check
            .evaluate(&json!({"risk": 50, "threshold": 60}))
            .await
            .outcome,
        Ok(true)
    );
    let invocation = check.evaluate(&json!({"risk": 500})).await;
    assert_eq!(
        invocation.outcome,
        Err(FlowFailure::FlowError {
            code: "invalid-input".into(),
            message: "risk must be between 0 and 100, got 500".into()
        })
    );
}

#[tokio::test]
async fn screen_flow_renders_a_form_and_validates_answers() {
    let review = flow(FlowKind::Screen, LOAN_REVIEW);
    let inputs = json!({"applicant": "Ada", "amount": 5000, "risk": 30});
    let form = review.render(&inputs).await.outcome.unwrap();
    assert_eq!(form.title, "Review Ada's loan of 5000 (risk 30)");
    assert_eq!(form.fields.len(), 2);
    assert_eq!(form.fields[0].name, "decision");
    assert_eq!(form.fields[0].field_type, FieldType::Choice);
    assert!(form.fields[0].required);
    assert_eq!(form.fields[0].choices.len(), 2);
    assert_eq!(
        form.fields[1].help.as_deref(),
        Some("Required when rejecting.")
    );

    let accepted = review
        .submit(&inputs, &json!({"decision": "approve"}))
        .await;
    assert_eq!(
        accepted.outcome,
        Ok(Submission::Accepted(
            json!({"approved": true, "comment": ""})
        ))
    );

    let invalid = review.submit(&inputs, &json!({"decision": "reject"})).await;
    let Ok(Submission::Invalid(errors)) = invalid.outcome else {
        panic!("expected invalid answers, got {:?}", invalid.outcome);
    };
    assert_eq!(errors[0].field, "comment");

    let garbage = review.submit(&inputs, &json!({"decision": 7})).await;
    assert!(
        matches!(garbage.outcome, Ok(Submission::Invalid(_))),
        "{:?}",
        garbage.outcome
    );
}

#[tokio::test]
async fn outputs_that_do_not_decode_are_bad_output() {
    let hostile = flow(FlowKind::Autolaunched, HOSTILE);
    for (attack, expected) in [("bad-json", "not JSON"), ("not-an-object", "an array")] {
        let invocation = hostile.run(&json!({"attack": attack})).await;
        let Err(FlowFailure::BadOutput { reason }) = &invocation.outcome else {
            panic!(
                "{attack}: expected bad output, got {:?}",
                invocation.outcome
            );
        };
        assert!(reason.contains(expected), "{attack}: {reason}");
    }
}

#[tokio::test]
async fn a_panicking_flow_is_a_trap() {
    let invocation = flow(FlowKind::Autolaunched, HOSTILE)
        .run(&json!({"attack": "panic"}))
        .await;
    assert!(
        matches!(invocation.outcome, Err(FlowFailure::Trap { .. })),
        "{:?}",
        invocation.outcome
    );
    assert!(
        invocation
            .log
            .iter()
            .any(|l| l.message.contains("hostile flow panicked on purpose"))
    );
}

#[tokio::test]
async fn calling_a_flow_as_another_kind_fails_cleanly() {
    let check = flow(FlowKind::Evaluation, CREDIT_CHECK);
    let invocation = check.run(&json!({})).await;
    assert!(
        matches!(invocation.outcome, Err(FlowFailure::Instantiation { .. })),
        "{:?}",
        invocation.outcome
    );
}

#[tokio::test]
async fn noop_flow_echoes_its_inputs() {
    let inputs = json!({"nested": {"list": [1, 2.5, "three", null, true]}});
    let invocation = flow(FlowKind::Autolaunched, NOOP).run(&inputs).await;
    assert_eq!(invocation.outcome, Ok(inputs));
}

/// The broken review the version-pinning tests deploy as a second version
/// of a screen flow: its own form, and a trap on every submission.
#[tokio::test]
async fn broken_review_renders_its_own_form_and_traps_on_submit() {
    let broken = flow(FlowKind::Screen, REVIEW_TRAP);
    let inputs = json!({"applicant": "Ada", "amount": 5000, "risk": 30});
    let form = broken.render(&inputs).await.outcome.expect("a form");
    assert_eq!(form.title, "Broken review");
    let submitted = broken
        .submit(&inputs, &json!({"decision": "approve"}))
        .await;
    let Err(FlowFailure::Trap { message }) = &submitted.outcome else {
        panic!("expected a trap, got {:?}", submitted.outcome);
    };
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        submitted
            .log
            .iter()
            .any(|line| line.message.contains("review is broken")),
        "the panic text is in the log: {:?}",
        submitted.log
    );
}

/// Every example plugin is exercised by some test in this directory.
#[test]
fn every_example_plugin_has_a_test() {
    let sources: String = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    for plugin in stagecraft_example_plugins::ALL {
        let constant = plugin.name.to_uppercase().replace('-', "_");
        let uses = sources.matches(&format!("{constant})")).count()
            + sources.matches(&format!("{constant},")).count();
        assert!(uses > 0, "no test loads the {} plugin", plugin.name);
    }
}
