//! C-DURABLE (the core's part): after a crash the engine reloads a committed run and performs
//! `outstanding_actions` again; they must be exactly the actions still awaited, as issued.

use proptest::prelude::*;
use serde_json::json;
use stagecraft_core::run::{EvalTarget, Principal};
use stagecraft_core::{
    Action, Actor, Event, EventError, FlowFailureKind, Plan, Run, RunStatus, outstanding_actions,
};

use crate::properties::{Choice, check_invariants, choice, definition, event, stage_spec, who};
use crate::support::{Driver, bg, failure, interactive, orchestration, plan, stage, user, with};

/// The run as the store reloads it after a crash: through its JSON form.
fn reloaded(run: &Run) -> Run {
    let text = serde_json::to_string(run).expect("run serializes");
    serde_json::from_str(&text).expect("run parses")
}

/// What a restarted engine would perform for the run the driver holds.
fn recovered(run: &Driver) -> Vec<Action> {
    outstanding_actions(&reloaded(&run.run), &run.plan)
}

/// The actions issued so far that match `keep`, in issue order.
fn issued(run: &Driver, keep: impl Fn(&Action) -> bool) -> Vec<Action> {
    run.actions.iter().filter(|a| keep(a)).cloned().collect()
}

/// C-DURABLE: in-flight work is re-derived from committed state. A stage waiting on two
/// parallel background steps yields their two RunFlow actions exactly as first issued, even
/// though an input of one references a status that changed since; the re-run's result is
/// recorded once.
#[test]
fn c_durable_in_flight_flows_are_rederived_as_issued() {
    let watcher = with(
        bg("c"),
        "inputs",
        json!({"a_was": {"ref": "step.work.a.status"}}),
    );
    let mut run = Driver::of(orchestration(json!([stage(
        "work",
        json!([bg("a"), bg("b"), watcher]),
        json!(null)
    )])));
    assert_eq!(
        recovered(&run),
        run.last,
        "everything issued at start is in flight"
    );
    run.finish("a");
    let expected = issued(
        &run,
        |a| matches!(a, Action::RunFlow { step, .. } if step.step != "a"),
    );
    assert_eq!(expected.len(), 2);
    assert!(matches!(&expected[1], Action::RunFlow { inputs, .. }
        if inputs == &json!({"a_was": "in_progress"})));
    assert_eq!(recovered(&run), expected);

    // The restarted engine runs b again and reports it; a late report of the lost run is
    // refused: completion is recorded once.
    run.finish("b");
    let late = run.send(run.flow_event("b", Ok(json!({}))));
    assert!(matches!(late, Err(EventError::AlreadyRecorded { .. })));
    assert_eq!(recovered(&run), expected[1..]);
    run.finish("c");
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(recovered(&run), []);
}

/// An awaited evaluation is re-requested with its request id and the inputs it was sent
/// with; an answered one is not.
#[test]
fn outstanding_evaluations_keep_their_request_and_inputs() {
    let gated = with(
        bg("x"),
        "entry",
        json!({"evaluation_flow": {"flow": "eval"}}),
    );
    let mut run = Driver::of(orchestration(json!([with(
        stage("check", json!([gated]), json!(null)),
        "exit",
        json!({"evaluation_flow": {"flow": "eval",
            "inputs": {"x": {"ref": "step.check.x.status"}}}})
    )])));
    let exit_request = run.evaluation(&EvalTarget::StageExit);
    assert_eq!(recovered(&run), run.last, "both requests are awaited");

    // The entry condition holds: x starts, which re-evaluates nothing, so the stage-exit
    // request stays awaited with the status x had when it was sent.
    run.answer(
        &EvalTarget::StepEntry {
            step: "x".to_owned(),
        },
        true,
    );
    let expected: Vec<Action> = [
        issued(&run, |a| matches!(a, Action::RunFlow { .. })),
        issued(
            &run,
            |a| matches!(a, Action::Evaluate { request, .. } if *request == exit_request),
        ),
    ]
    .concat();
    assert!(matches!(&expected[1], Action::Evaluate { inputs, .. }
        if inputs == &json!({"x": "not_started"})));
    assert_eq!(recovered(&run), expected);
}

/// A Suspended run still awaits its running flows (results become pending outputs) and its
/// work items, but no evaluation; a run in Error awaits the outputs of the steps its failure
/// discontinued.
#[test]
fn suspended_and_failed_runs_await_what_they_would_accept() {
    let mut run = Driver::of(orchestration(json!([with(
        stage(
            "s",
            json!([bg("a"), interactive("r", json!({"user": "alice"}))]),
            json!(null)
        ),
        "exit",
        json!({"evaluation_flow": {"flow": "eval"}})
    )])));
    run.ok(Event::Suspend { by: "sam".into() });
    let expected = issued(&run, |a| {
        matches!(a, Action::RunFlow { .. } | Action::CreateWorkItem { .. })
    });
    assert_eq!(expected.len(), 2);
    assert_eq!(recovered(&run), expected);
    run.finish("a");
    assert_eq!(recovered(&run), expected[1..], "a's result is pending");
    run.complete("r", user("alice"), json!({}))
        .expect("alice completes while suspended");
    assert_eq!(recovered(&run), []);

    let mut run = Driver::of(orchestration(json!([stage(
        "s",
        json!([bg("a"), bg("b")]),
        json!(null)
    )])));
    run.trap("a", FlowFailureKind::Trap);
    assert_eq!(run.status(), RunStatus::Error);
    let b = issued(
        &run,
        |a| matches!(a, Action::RunFlow { step, .. } if step.step == "b"),
    );
    assert_eq!(recovered(&run), b);
    run.finish("b");
    assert_eq!(recovered(&run), [], "b's outputs are pending for resume");
}

/// Finished runs, and plans the run is not pinned to, await nothing.
#[test]
fn finished_runs_await_nothing() {
    let two = || {
        Driver::of(orchestration(json!([stage(
            "s",
            json!([bg("a"), interactive("r", json!({"user": "alice"}))]),
            json!(null)
        )])))
    };
    let mut run = two();
    assert_eq!(recovered(&run).len(), 2);
    let other_version = run.plan.clone().with_version(2);
    assert_eq!(outstanding_actions(&run.run, &other_version), []);
    run.finish("a");
    run.complete("r", user("alice"), json!({}))
        .expect("alice completes");
    assert_eq!(run.status(), RunStatus::Completed);
    assert_eq!(recovered(&run), []);

    let mut run = two();
    run.ok(Event::Cancel { by: "carl".into() });
    assert_eq!(recovered(&run), []);
}

/// Results the engine could report for `action`, each with whether the machine must accept
/// it while `action` is outstanding in a run of `status`.
fn answers(action: &Action, status: RunStatus) -> Vec<(Event, bool)> {
    let in_progress = status == RunStatus::InProgress;
    match action.clone() {
        Action::RunFlow { step, attempt, .. } => vec![
            (
                Event::FlowFinished {
                    step: step.clone(),
                    attempt,
                    flow_version: 1,
                    result: Ok(json!({"n": 1})),
                },
                true,
            ),
            // A run in Error keeps only the outputs of a step its failure discontinued.
            (
                Event::FlowFinished {
                    step,
                    attempt,
                    flow_version: 1,
                    result: Err(failure(FlowFailureKind::Trap)),
                },
                status != RunStatus::Error,
            ),
        ],
        Action::CallAction { step, attempt, .. } => vec![
            (
                Event::ActionFinished {
                    step: step.clone(),
                    attempt,
                    result: Ok(json!({})),
                },
                true,
            ),
            (
                Event::ActionFinished {
                    step,
                    attempt,
                    result: Err("boom".into()),
                },
                status != RunStatus::Error,
            ),
        ],
        Action::Evaluate { request, .. } => {
            [Ok(true), Ok(false), Err(failure(FlowFailureKind::Trap))]
                .into_iter()
                .map(|result| (Event::EvaluationFinished { request, result }, true))
                .collect()
        }
        Action::CreateWorkItem {
            work_item,
            assignee,
            ..
        } => {
            let by = match assignee {
                Principal::User(user) => Actor {
                    user,
                    ..Actor::default()
                },
                Principal::Group(group) => Actor {
                    user: "member".into(),
                    groups: vec![group],
                    ..Actor::default()
                },
                Principal::Queue(queue) => Actor {
                    user: "member".into(),
                    queues: vec![queue],
                    ..Actor::default()
                },
            };
            vec![
                (
                    Event::WorkItemCompleted {
                        work_item: work_item.clone(),
                        by,
                        answers: json!({}),
                        result: Ok(json!({})),
                    },
                    true,
                ),
                // The engine's assignee check may fail again; the machine takes that only
                // while the run is In Progress.
                (
                    Event::AssigneeUnavailable {
                        work_item,
                        reason: stagecraft_core::Unavailability::Frozen,
                    },
                    in_progress,
                ),
            ]
        }
        Action::CloseWorkItem { .. } => Vec::new(),
    }
}

/// Whether an accepted `event` reports the result of `action`.
fn answers_action(event: &Event, action: &Action) -> bool {
    match (event, action) {
        (
            Event::FlowFinished { step, attempt, .. },
            Action::RunFlow {
                step: s,
                attempt: a,
                ..
            },
        )
        | (
            Event::ActionFinished { step, attempt, .. },
            Action::CallAction {
                step: s,
                attempt: a,
                ..
            },
        ) => step == s && attempt == a,
        (Event::EvaluationFinished { request, .. }, Action::Evaluate { request: r, .. }) => {
            request == r
        }
        (
            Event::WorkItemCompleted { work_item, .. }
            | Event::AssigneeUnavailable { work_item, .. },
            Action::CreateWorkItem { work_item: w, .. },
        ) => work_item == w,
        _ => false,
    }
}

/// Records the actions a transition issued in `open`; a closure answers its work item.
fn issue(open: &mut Vec<Action>, actions: &[Action]) {
    for action in actions {
        match action {
            Action::CloseWorkItem { work_item } => open.retain(
                |a| !matches!(a, Action::CreateWorkItem { work_item: w, .. } if w == work_item),
            ),
            _ => open.push(action.clone()),
        }
    }
}

fn accepted(plan: &Plan, run: &Run, event: Event, now: jiff::Timestamp) -> bool {
    stagecraft_core::handle(run, plan, event, now).is_ok()
}

/// The recovery contract for the driver's run, given the actions issued and not answered:
/// `outstanding_actions` of the reloaded run is a duplicate-free subset of them, each as
/// issued; the machine accepts the results of each of its actions, and refuses every result
/// of the other unanswered ones (those the machine made moot: superseded, discontinued with
/// their stage, closed, or of a finished run).
fn check_recovery(run: &Driver, open: &[Action]) -> Result<(), TestCaseError> {
    let stored = reloaded(&run.run);
    let outstanding = outstanding_actions(&stored, &run.plan);
    for (i, action) in outstanding.iter().enumerate() {
        prop_assert!(
            !outstanding[..i].contains(action),
            "re-derived twice: {action:?}"
        );
        prop_assert!(
            open.contains(action),
            "re-derived {action:?}, which was not issued or was answered; unanswered: {open:#?}"
        );
        for (event, expected) in answers(action, stored.status) {
            prop_assert_eq!(
                accepted(&run.plan, &stored, event.clone(), run.now),
                expected,
                "outstanding {:?}, {:?} run, answer {:?}",
                action,
                stored.status,
                event
            );
        }
    }
    for action in open.iter().filter(|a| !outstanding.contains(a)) {
        for (event, _) in answers(action, stored.status) {
            prop_assert!(
                !accepted(&run.plan, &stored, event.clone(), run.now),
                "{action:?} is not outstanding, but {event:?} is accepted by the {:?} run",
                stored.status
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// C-DURABLE: after every transition of random orchestrations under random events (the
    /// generators of the table property), `outstanding_actions` is exactly the set of issued,
    /// unanswered actions whose results the machine still accepts, each as first issued.
    #[test]
    fn c_durable_outstanding_actions_are_exactly_the_awaited_ones(
        stages in prop::collection::vec(stage_spec(), 1..4),
        amount in 0i64..10,
        who in who(),
        choices in prop::collection::vec(choice(), 0..40),
    ) {
        let mut run = Driver::start(plan(definition(&stages)), json!({"amount": amount, "who": who}));
        let mut open = Vec::new();
        issue(&mut open, &run.last);
        check_recovery(&run, &open)?;
        for choice in &choices {
            if let Choice::Wait(minutes) = choice {
                run.wait(*minutes);
                continue;
            }
            let Some(event) = event(&run, choice) else { continue };
            if run.send(event.clone()).is_ok() {
                open.retain(|action| !answers_action(&event, action));
                issue(&mut open, &run.last);
            }
            check_invariants(&run.run);
            check_recovery(&run, &open)?;
        }
    }
}
