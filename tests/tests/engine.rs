//! The durable engine end to end, on the example plugins.

use serde_json::{Value, json};
use stagecraft_core::run::{Run, RunStatus, StepStatus, WorkItemStatus};
use stagecraft_engine::{
    ActionCall, Completion, Engine, EngineConfig, EngineError, FlowKind, Group, SqliteStore, User,
    UserStatus,
};
use stagecraft_tests::{CREDIT_CHECK, LOAN_REVIEW, RISK_SCORE, RISK_SCORE_FIXED, bytes};
use tempfile::TempDir;

const LOAN: &str = include_str!("../../example-plugins/loan_approval.json");

/// An engine on a fresh data directory with the loan orchestration deployed.
async fn loan_engine() -> (Engine<SqliteStore>, TempDir) {
    let dir = tempfile::tempdir().expect("test setup");
    let engine = open(&dir).await;
    for (id, status) in [("ada", UserStatus::Active), ("bob", UserStatus::Active)] {
        engine
            .put_user(
                User {
                    id: id.into(),
                    name: id.into(),
                    status,
                },
                "admin",
            )
            .await
            .expect("test setup");
    }
    engine
        .put_group(
            Group {
                id: "underwriters".into(),
                name: "Underwriters".into(),
                members: vec!["ada".into()],
            },
            "admin",
        )
        .await
        .expect("test setup");
    for (name, kind, path) in [
        ("risk_score", FlowKind::Autolaunched, RISK_SCORE),
        ("credit_check", FlowKind::Evaluation, CREDIT_CHECK),
        ("loan_review", FlowKind::Screen, LOAN_REVIEW),
    ] {
        engine
            .deploy_flow(name, kind, bytes(path), "admin")
            .await
            .expect("test setup");
    }
    engine
        .deploy_orchestration(serde_json::from_str(LOAN).expect("test setup"), "admin")
        .await
        .expect("test setup");
    (engine, dir)
}

async fn open(dir: &TempDir) -> Engine<SqliteStore> {
    Engine::builder(EngineConfig::new(dir.path()))
        .action("book_loan", |call: ActionCall| async move {
            match call.inputs["applicant"].as_str() {
                Some("mallory") => Err("the booking system refused the loan".to_owned()),
                _ => Ok(json!({"reference": "LN-1"})),
            }
        })
        .open()
        .await
        .expect("test setup")
}

fn application(applicant: &str, income: u64) -> Value {
    json!({"applicant": applicant, "income": income, "debt": 10000, "amount": 20000})
}

/// Starts a loan application and waits until it settles or waits for a person.
async fn apply_for_loan(
    engine: &Engine<SqliteStore>,
    applicant: &str,
    income: u64,
) -> std::sync::Arc<Run> {
    let run = engine
        .start_run("loan_approval", application(applicant, income), "admin")
        .await
        .expect("the run starts");
    engine
        .wait_for(&run.id, waiting)
        .await
        .expect("the run settles")
}

fn waiting(run: &Run) -> bool {
    run.status != RunStatus::InProgress
        || run
            .work_items
            .iter()
            .any(|item| item.status == WorkItemStatus::Assigned)
}

fn step<'r>(run: &'r Run, stage: &str, step: &str) -> &'r stagecraft_core::run::StepRun {
    run.latest_stage_run(stage)
        .and_then(|s| s.steps.iter().find(|s| s.name == step))
        .expect("test setup")
}

#[tokio::test]
async fn a_low_risk_loan_completes_without_a_person() {
    let (engine, _dir) = loan_engine().await;
    let run = apply_for_loan(&engine, "grace", 200_000).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
    assert_eq!(step(&run, "booking", "book").status, StepStatus::Completed);
    assert_eq!(
        step(&run, "booking", "book").outputs,
        Some(json!({"reference": "LN-1"}))
    );
    assert!(run.latest_stage_run("review").is_none());
}

/// C-RESUME-SWAP end to end: the flow traps, a fixed version is deployed
/// without a restart, resume reruns the step on it and the run completes.
#[tokio::test]
async fn c_resume_swap_trap_hot_swap_resume_completes() {
    let (engine, _dir) = loan_engine().await;
    let failed = apply_for_loan(&engine, "zero", 0).await;
    let run = std::sync::Arc::clone(&failed);
    assert_eq!(failed.status, RunStatus::Error);
    let error = failed.error.as_ref().unwrap();
    assert!(error.recoverable(), "{error:?}");
    assert!(error.message.contains("unreachable"), "{}", error.message);
    assert_eq!(step(&failed, "scoring", "score").status, StepStatus::Error);
    // The panic message the flow printed is in the step's log.
    let logs = engine.step_logs(&run.id).await.unwrap();
    assert_eq!(
        (logs.len(), logs[0].attempt, logs[0].flow_version),
        (1, 1, 1)
    );
    assert!(
        logs[0]
            .lines
            .iter()
            .any(|l| l.stream == "stderr" && l.message.contains("divide by zero")),
        "{logs:?}"
    );

    let fixed = engine
        .deploy_flow(
            "risk_score",
            FlowKind::Autolaunched,
            bytes(RISK_SCORE_FIXED),
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(fixed.version, 2);
    engine.resume(&run.id, "operator").await.unwrap();
    let resumed = engine.wait_for(&run.id, waiting).await.unwrap();
    let score = step(&resumed, "scoring", "score");
    assert_eq!(score.status, StepStatus::Completed);
    assert_eq!(score.flow_version, Some(2));
    assert_eq!(score.outputs.as_ref().unwrap()["risk"], 100);

    // Risk 100 goes to an underwriter, who rejects: the run ends declined.
    let items = engine.work_items_for("ada").await.unwrap();
    assert_eq!(items.len(), 1);
    let done = engine
        .complete_work_item(
            &items[0].item.id,
            "ada",
            json!({"decision": "reject", "comment": "no income"}),
        )
        .await
        .unwrap();
    assert!(matches!(done, Completion::Completed(_)));
    let run = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.latest_stage_run("booking").is_none());
}

/// C-STEP-INTERACTIVE through the engine: only a member of the assigned
/// group may complete the work item; invalid answers leave it open.
#[tokio::test]
async fn c_step_interactive_only_members_complete_work_items() {
    let (engine, _dir) = loan_engine().await;
    let run = apply_for_loan(&engine, "linus", 30_000).await;
    assert!(engine.work_items_for("bob").await.unwrap().is_empty());
    let items = engine.work_items_for("ada").await.unwrap();
    let item = &items[0].item.id;

    let refused = engine
        .complete_work_item(item, "bob", json!({"decision": "approve"}))
        .await
        .unwrap_err();
    assert!(matches!(refused, EngineError::Forbidden(_)), "{refused}");

    let form = engine.work_item_form(item, "ada").await.unwrap();
    assert!(
        form.title.starts_with("Review linus's loan"),
        "{}",
        form.title
    );
    let invalid = engine
        .complete_work_item(item, "ada", json!({"decision": "maybe"}))
        .await
        .unwrap();
    assert!(matches!(invalid, Completion::Invalid(ref e) if e[0].field == "decision"));
    assert_eq!(engine.work_items_for("ada").await.unwrap().len(), 1);

    engine
        .complete_work_item(item, "ada", json!({"decision": "approve"}))
        .await
        .unwrap();
    let run = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(step(&run, "booking", "book").status, StepStatus::Completed);
    let again = engine
        .complete_work_item(item, "ada", json!({"decision": "approve"}))
        .await
        .unwrap_err();
    assert!(matches!(again, EngineError::Refused(_)), "{again}");
}

/// C-ERR-RECOVERABLE through the engine: a frozen assignee errors the run;
/// unfrozen and resumed, a replacement work item is created.
#[tokio::test]
async fn c_err_recoverable_frozen_assignee_then_resume() {
    let (engine, _dir) = loan_engine().await;
    let definition = LOAN.replace(
        r#""assignee": { "group": "underwriters" }"#,
        r#""assignee": { "user": "carol" }"#,
    );
    engine
        .put_user(
            User {
                id: "carol".into(),
                name: "Carol".into(),
                status: UserStatus::Frozen,
            },
            "admin",
        )
        .await
        .unwrap();
    engine
        .deploy_orchestration(serde_json::from_str(&definition).unwrap(), "admin")
        .await
        .unwrap();
    // The work item exists first; the assignee check then fails the run.
    let run = apply_for_loan(&engine, "linus", 30_000).await;
    let failed = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(failed.status, RunStatus::Error);
    assert!(failed.error.as_ref().unwrap().recoverable());

    engine
        .put_user(
            User {
                id: "carol".into(),
                name: "Carol".into(),
                status: UserStatus::Active,
            },
            "admin",
        )
        .await
        .unwrap();
    engine.resume(&run.id, "operator").await.unwrap();
    let resumed = engine.wait_for(&run.id, waiting).await.unwrap();
    assert_eq!(resumed.status, RunStatus::InProgress);
    let items = engine.work_items_for("carol").await.unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0].item.replacement_of.is_some());
}

/// C-ERR-FATAL through the engine: an assignee that resolves to nothing and
/// a failing external action both end the run for good.
#[tokio::test]
async fn c_err_fatal_unresolvable_assignee_and_external_action() {
    let (engine, _dir) = loan_engine().await;
    let definition = LOAN.replace(
        r#""assignee": { "group": "underwriters" }"#,
        r#""assignee": { "group": "nobody" }"#,
    );
    engine
        .deploy_orchestration(serde_json::from_str(&definition).unwrap(), "admin")
        .await
        .unwrap();
    // The work item exists first; the assignee check then fails the run.
    let run = apply_for_loan(&engine, "linus", 30_000).await;
    let failed = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(failed.status, RunStatus::Error);
    let refused = engine.resume(&run.id, "operator").await.unwrap_err();
    assert!(matches!(refused, EngineError::Refused(_)), "{refused}");

    let failed = apply_for_loan(&engine, "mallory", 500_000).await;
    assert_eq!(failed.status, RunStatus::Error);
    assert!(
        failed
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("refused the loan")
    );
    let refused = engine.resume(&failed.id, "operator").await.unwrap_err();
    assert!(matches!(refused, EngineError::Refused(_)), "{refused}");
}

/// C-VERSION-PIN through the engine: a run keeps the orchestration version
/// it started with; new runs take the new one.
#[tokio::test]
async fn c_version_pin_runs_keep_their_orchestration_version() {
    let (engine, _dir) = loan_engine().await;
    let first = apply_for_loan(&engine, "linus", 30_000).await;
    let v2 = engine
        .deploy_orchestration(
            serde_json::from_str(&LOAN.replace("Underwriter review", "Second look")).unwrap(),
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let second = engine
        .start_run("loan_approval", application("linus", 30_000), "admin")
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    let item = &engine.work_items_for("ada").await.unwrap()[0].item.id;
    engine
        .complete_work_item(item, "ada", json!({"decision": "approve"}))
        .await
        .unwrap();
    let first = engine.wait_until_settled(&first.id).await.unwrap();
    assert_eq!((first.version, first.status), (1, RunStatus::Completed));
}

/// C-DEPLOY-REJECT through the engine: nothing is stored for a bad deploy.
#[tokio::test]
async fn c_deploy_reject_through_the_engine() {
    let (engine, _dir) = loan_engine().await;
    let err = engine
        .deploy_flow("junk", FlowKind::Autolaunched, b"junk".to_vec(), "admin")
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::FlowRejected { .. }), "{err}");
    let err = engine
        .deploy_flow(
            "risk_score",
            FlowKind::Evaluation,
            bytes(CREDIT_CHECK),
            "admin",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("autolaunched"), "{err}");
    let err = engine
        .deploy_orchestration(
            json!({"format": 1, "name": "empty", "elements": []}),
            "admin",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::DefinitionInvalid(_)), "{err}");
    let err = engine
        .deploy_orchestration(json!({"name": 7}), "admin")
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::DefinitionSyntax(_)), "{err}");
    let flows = engine.flows().await.unwrap();
    assert_eq!(flows.len(), 3, "{flows:?}");
    assert_eq!(engine.orchestrations().await.unwrap().len(), 1);
}

/// Rollback: an older flow version can be made active again.
#[tokio::test]
async fn an_older_flow_version_can_be_activated_again() {
    let (engine, _dir) = loan_engine().await;
    engine
        .deploy_flow(
            "risk_score",
            FlowKind::Autolaunched,
            bytes(RISK_SCORE_FIXED),
            "admin",
        )
        .await
        .unwrap();
    let record = engine
        .activate_flow("risk_score", 1, "admin")
        .await
        .unwrap();
    assert!(record.active);
    let run = apply_for_loan(&engine, "zero", 0).await;
    assert_eq!(run.status, RunStatus::Error, "v1 traps again");
    let flows = engine.flows().await.unwrap();
    let active: Vec<_> = flows
        .iter()
        .filter(|f| f.name == "risk_score" && f.active)
        .map(|f| f.version)
        .collect();
    assert_eq!(active, [1]);
}

/// Everything survives a restart: flows, orchestrations, runs and work items.
#[tokio::test]
async fn a_restarted_engine_picks_up_where_it_stopped() {
    let (engine, dir) = loan_engine().await;
    let run = apply_for_loan(&engine, "linus", 30_000).await;
    engine.shutdown().await;

    let engine = open(&dir).await;
    let items = engine.work_items_for("ada").await.unwrap();
    assert_eq!(items.len(), 1);
    engine
        .complete_work_item(&items[0].item.id, "ada", json!({"decision": "approve"}))
        .await
        .unwrap();
    let run = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
}

/// C-CANCEL through the engine: a finished run refuses manual actions (a
/// conflict with its state), an unknown run is not found.
#[tokio::test]
async fn c_cancel_finished_runs_refuse_manual_actions() {
    let (engine, _dir) = loan_engine().await;
    let run = apply_for_loan(&engine, "grace", 200_000).await;
    let run = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    for refused in [
        engine.cancel(&run.id, "operator").await,
        engine.suspend(&run.id, "operator").await,
        engine.resume(&run.id, "operator").await,
        engine.publish_event(&run.id, "poke", "admin").await,
    ] {
        let error = refused.unwrap_err();
        assert!(matches!(error, EngineError::Refused(_)), "{error}");
    }
    let unknown = stagecraft_core::run::RunId("no-such-run".into());
    let error = engine.cancel(&unknown, "operator").await.unwrap_err();
    assert!(matches!(error, EngineError::NotFound(_)), "{error}");
}

/// Two members of a queue complete its work item at the same moment: one
/// wins, the other is refused (a 409 through the API) and audited as
/// refused, whatever the timing. The completion ends the run, so the
/// loser's command arrives while the winner's commit is still pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_completing_one_queue_item_at_once_yield_one_winner() {
    let (engine, _dir) = loan_engine().await;
    engine
        .put_queue(
            stagecraft_engine::Queue {
                id: "desk".into(),
                name: "Desk".into(),
                members: vec!["ada".into(), "bob".into()],
            },
            "admin",
        )
        .await
        .expect("test setup");
    let desk = json!({
        "format": 1, "name": "desk_review",
        "elements": [{
            "type": "stage", "name": "review", "next": null,
            "steps": [{
                "name": "decide",
                "kind": {"type": "interactive", "flow": "loan_review", "assignee": {"queue": "desk"}},
                "inputs": {"applicant": {"value": "linus"}, "amount": {"value": 1000}, "risk": {"value": 50}}
            }]
        }]
    });
    engine
        .deploy_orchestration(desk, "admin")
        .await
        .expect("test setup");
    for round in 0..20 {
        let run = engine
            .start_run("desk_review", json!({}), "admin")
            .await
            .expect("the run starts");
        let run = engine.wait_for(&run.id, waiting).await.expect("it waits");
        let item = run.work_items[0].id.clone();
        let answers = json!({"decision": "reject", "comment": "too risky"});
        let (ada, bob) = tokio::join!(
            engine.complete_work_item(&item, "ada", answers.clone()),
            engine.complete_work_item(&item, "bob", answers.clone()),
        );
        let outcomes = [&ada, &bob];
        let won = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Completion::Completed(_))))
            .count();
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, Err(EngineError::Refused(_))))
            .count();
        let said = |outcome: &Result<Completion, EngineError>| match outcome {
            Ok(Completion::Completed(run)) => format!("completed ({:?})", run.status),
            Ok(_) => "not completed".to_owned(),
            Err(error) => format!("refused: {error}"),
        };
        assert_eq!(
            (won, refused),
            (1, 1),
            "round {round}: ada {}, bob {}",
            said(&ada),
            said(&bob)
        );
        let audit = engine
            .audit(stagecraft_engine::AuditFilter {
                target: Some(format!("work_item:{item}")),
                ..Default::default()
            })
            .await
            .expect("the audit log reads");
        let done = audit
            .iter()
            .filter(|e| e.record.outcome == stagecraft_engine::AuditOutcome::Done)
            .count();
        assert_eq!(
            (audit.len(), done),
            (2, 1),
            "round {round}: one completion done, one refused: {audit:?}"
        );
    }
}
