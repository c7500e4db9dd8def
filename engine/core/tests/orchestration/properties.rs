//! Property tests: validation never panics; random valid orchestrations driven by random
//! events never panic, never run two stages at once, and keep statuses consistent with
//! SPEC's tables.

use proptest::prelude::*;
use serde_json::{Value, json};
use stagecraft_core::run::{SYSTEM_PRINCIPAL, StageStatus, StepStatus, WorkItemStatus};
use stagecraft_core::{
    Action, Actor, Event, FlowFailureKind, Orchestration, Run, RunStatus, Unavailability,
};

use crate::support::{Driver, FakeCatalog, failure, plan};

#[derive(Debug, Clone)]
pub(crate) struct StepSpec {
    kind: u8,
    assignee: u8,
    entry: u8,
    exit: u8,
    outputs: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct StageSpec {
    steps: Vec<StepSpec>,
    exit: u8,
    fault: u8,
    go_to: usize,
    decision: Option<(i64, usize)>,
}

pub(crate) fn step_spec() -> impl Strategy<Value = StepSpec> {
    (0u8..3, 0u8..4, 0u8..4, 0u8..3, any::<bool>()).prop_map(
        |(kind, assignee, entry, exit, outputs)| StepSpec {
            kind,
            assignee,
            entry,
            exit,
            outputs,
        },
    )
}

pub(crate) fn stage_spec() -> impl Strategy<Value = StageSpec> {
    (
        prop::collection::vec(step_spec(), 1..4),
        0u8..3,
        0u8..5,
        any::<usize>(),
        prop::option::of((0i64..10, any::<usize>())),
    )
        .prop_map(|(steps, exit, fault, go_to, decision)| StageSpec {
            steps,
            exit,
            fault,
            go_to,
            decision,
        })
}

fn completed(stage: &str, step: &str) -> Value {
    json!({"conditions": [{"resource": format!("step.{stage}.{step}.status"),
        "operator": "equals", "value": {"value": "completed"}}]})
}

fn step_json(stage: &str, index: usize, spec: &StepSpec) -> Value {
    let name = format!("s{index}");
    // The status of the stage's first step changes while other steps run and while
    // evaluations are awaited: inputs referencing it test that what was sent is kept.
    let first = json!({"ref": format!("step.{stage}.s0.status")});
    let kind = match spec.kind {
        0 => json!({"type": "background", "flow": "auto"}),
        1 => json!({"type": "external", "action": "notify"}),
        _ => {
            let assignee = match spec.assignee {
                0 => json!({"user": "alice"}),
                1 => json!({"group": "g"}),
                2 => json!({"queue": "q"}),
                _ => json!({"ref": "input.who"}),
            };
            let exit = match spec.exit {
                0 => json!("screen_completed"),
                1 => json!({"requirements": completed(stage, "s0")}),
                _ => {
                    json!({"evaluation_flow": {"flow": "eval", "inputs": {"first": first.clone()}}})
                }
            };
            json!({"type": "interactive", "flow": "screen", "assignee": assignee, "exit": exit})
        }
    };
    let entry = match spec.entry {
        1 if index > 0 => json!({"after_step": {"step": format!("s{}", index - 1)}}),
        2 => json!({"requirements": {"conditions": [
            {"resource": "input.amount", "operator": "greater_than", "value": {"value": 3}}]}}),
        3 => json!({"evaluation_flow": {"flow": "eval",
            "inputs": {"a": {"ref": "input.amount"}, "first": first.clone()}}}),
        _ => json!("stage_start"),
    };
    let outputs = if spec.outputs && spec.kind == 0 {
        json!([{"name": "n", "type": "integer"}])
    } else {
        json!([])
    };
    json!({"name": name, "entry": entry, "kind": kind, "outputs": outputs,
           "inputs": {"amount": {"ref": "input.amount"}, "first": first}})
}

/// Builds a valid definition: main stages m0..mN in sequence, optional decisions that may
/// loop back, fault paths (empty Go To, End, a stage, a stage with a nested fault path).
pub(crate) fn definition(stages: &[StageSpec]) -> Value {
    let count = stages.len();
    let main = |i: usize| (i < count).then(|| format!("m{i}"));
    let mut elements = Vec::new();
    let mut decisions = Vec::new();
    for (i, spec) in stages.iter().enumerate() {
        let name = format!("m{i}");
        let steps: Vec<Value> = spec
            .steps
            .iter()
            .enumerate()
            .map(|(j, s)| step_json(&name, j, s))
            .collect();
        let exit = match spec.exit {
            0 => json!("all_steps_completed"),
            1 => json!({"requirements": completed(&name, "s0")}),
            _ => json!({"evaluation_flow": {"flow": "eval",
                "inputs": {"first": {"ref": format!("step.{name}.s0.status")}}}}),
        };
        let next = match spec.decision {
            Some((threshold, back)) => {
                decisions.push(json!({"type": "decision", "name": format!("d{i}"),
                    "outcomes": [{"name": "again", "when": {"conditions": [
                        {"resource": "input.amount", "operator": "greater_than", "value": {"value": threshold}}]},
                        "next": main(back % (i + 1))}],
                    "default": {"next": main(i + 1)}}));
                Some(format!("d{i}"))
            }
            None => main(i + 1),
        };
        let go_to = main(spec.go_to % count);
        let fault_stage = |suffix: &str, next: Option<String>| {
            json!({"type": "stage", "name": format!("{suffix}{i}"),
                   "steps": [{"name": "f", "kind": {"type": "background", "flow": "auto2"}}],
                   "next": next})
        };
        let fault_path = match spec.fault {
            1 => Some(json!({"next": go_to})),
            2 => Some(json!({})),
            3 => Some(json!({"next": format!("f{i}"), "elements": [fault_stage("f", go_to)]})),
            4 => {
                let mut inner = fault_stage("f", go_to);
                inner["fault_path"] =
                    json!({"next": format!("ff{i}"), "elements": [fault_stage("ff", None)]});
                Some(json!({"next": format!("f{i}"), "elements": [inner]}))
            }
            _ => None,
        };
        let mut stage =
            json!({"type": "stage", "name": name, "steps": steps, "exit": exit, "next": next});
        if let Some(fault_path) = fault_path {
            stage["fault_path"] = fault_path;
        }
        elements.push(stage);
    }
    elements.extend(decisions);
    json!({"format": 1, "name": "prop", "inputs": [
        {"name": "amount", "type": "integer", "required": true},
        {"name": "who", "type": "any"}], "elements": elements})
}

/// The `who` input: a user, a group, or values that are no assignee.
pub(crate) fn who() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("user:alice")),
        Just(json!("group:g")),
        Just(json!("robot:x")),
        Just(json!(7))
    ]
}

#[derive(Debug, Clone)]
pub(crate) enum Choice {
    Flow(usize, u8),
    Action(usize, u8),
    Work(usize, bool, u8),
    Unavailable(usize, u8),
    Eval(usize, u8),
    Publish,
    Suspend,
    Resume,
    Cancel,
    Wait(i64),
}

pub(crate) fn choice() -> impl Strategy<Value = Choice> {
    prop_oneof![
        24 => (any::<usize>(), 0u8..6).prop_map(|(p, o)| Choice::Flow(p, o)),
        12 => (any::<usize>(), 0u8..4).prop_map(|(p, o)| Choice::Action(p, o)),
        16 => (any::<usize>(), any::<bool>(), 0u8..5).prop_map(|(p, r, o)| Choice::Work(p, r, o)),
        3 => (any::<usize>(), 0u8..3).prop_map(|(p, r)| Choice::Unavailable(p, r)),
        16 => (any::<usize>(), 0u8..4).prop_map(|(p, r)| Choice::Eval(p, r)),
        4 => Just(Choice::Publish),
        3 => Just(Choice::Suspend),
        8 => Just(Choice::Resume),
        1 => Just(Choice::Cancel),
        3 => (0i64..(20 * 24 * 60)).prop_map(Choice::Wait),
    ]
}

fn pick<T: Clone>(items: &[T], index: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[index % items.len()].clone())
}

/// Turns a choice into a concrete event, using the actions issued so far (old ones make
/// stale and duplicate results).
pub(crate) fn event(run: &Driver, choice: &Choice) -> Option<Event> {
    let trap = || failure(FlowFailureKind::Trap);
    Some(match choice {
        Choice::Flow(p, o) => {
            let calls: Vec<_> = run
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::RunFlow { step, attempt, .. } => Some((step.clone(), *attempt)),
                    _ => None,
                })
                .collect();
            let (step, attempt) = pick(&calls, *p)?;
            let result = match o {
                0..=2 => Ok(json!({"n": 1})),
                3 => Ok(json!({"n": "bad"})),
                _ => Err(trap()),
            };
            Event::FlowFinished {
                step,
                attempt,
                flow_version: 1,
                result,
            }
        }
        Choice::Action(p, o) => {
            let calls: Vec<_> = run
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::CallAction { step, attempt, .. } => Some((step.clone(), *attempt)),
                    _ => None,
                })
                .collect();
            let (step, attempt) = pick(&calls, *p)?;
            let result = if *o < 3 {
                Ok(json!({}))
            } else {
                Err("boom".into())
            };
            Event::ActionFinished {
                step,
                attempt,
                result,
            }
        }
        Choice::Work(p, right, o) => {
            let item = pick(&run.run.work_items, *p)?;
            let by = if *right {
                Actor {
                    user: "alice".into(),
                    groups: vec!["g".into()],
                    queues: vec!["q".into()],
                }
            } else {
                Actor {
                    user: "mallory".into(),
                    ..Actor::default()
                }
            };
            let result = if *o < 4 { Ok(json!({})) } else { Err(trap()) };
            Event::WorkItemCompleted {
                work_item: item.id,
                by,
                answers: serde_json::Value::Null,
                result,
            }
        }
        Choice::Unavailable(p, r) => {
            let item = pick(&run.run.work_items, *p)?;
            let reason = [
                Unavailability::Frozen,
                Unavailability::Inactive,
                Unavailability::Unresolvable,
            ][usize::from(*r) % 3];
            Event::AssigneeUnavailable {
                work_item: item.id,
                reason,
            }
        }
        Choice::Eval(p, r) => {
            let requests: Vec<_> = run
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::Evaluate { request, .. } => Some(*request),
                    _ => None,
                })
                .collect();
            let request = pick(&requests, *p)?;
            let result = match r {
                0 | 1 => Ok(true),
                2 => Ok(false),
                _ => Err(trap()),
            };
            Event::EvaluationFinished { request, result }
        }
        Choice::Publish => Event::EventPublished {
            name: "tick".into(),
        },
        Choice::Suspend => Event::Suspend { by: "sam".into() },
        Choice::Resume => Event::Resume { by: "rita".into() },
        Choice::Cancel => Event::Cancel { by: "carl".into() },
        Choice::Wait(_) => return None,
    })
}

/// The consistency rules of SPEC's tables that hold after every transition.
pub(crate) fn check_invariants(run: &Run) {
    let live = |s: StageStatus| matches!(s, StageStatus::InProgress | StageStatus::Suspended);
    let live_stages = run.stages.iter().filter(|s| live(s.status)).count();
    assert!(live_stages <= 1, "two stages in progress: {run:#?}");
    assert!(run.stages.iter().all(|s| s.owner == SYSTEM_PRINCIPAL));
    assert!(run.history.windows(2).all(|w| w[0].at <= w[1].at));
    let errored = run
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Error)
        .count();
    let current = run.current_stage();
    for (i, stage) in run.stages.iter().enumerate() {
        let running = stage
            .steps
            .iter()
            .any(|s| s.status == StepStatus::InProgress);
        if running {
            assert_eq!(
                run.current,
                Some(i),
                "a step runs outside the current stage"
            );
            assert!(
                live(stage.status),
                "a step runs in a {:?} stage",
                stage.status
            );
        }
    }
    for item in run
        .work_items
        .iter()
        .filter(|w| w.status == WorkItemStatus::Assigned)
    {
        assert_eq!(
            run.current,
            Some(item.step.stage_run),
            "open work item of a past stage"
        );
        let step = run.stages[item.step.stage_run]
            .steps
            .iter()
            .find(|s| s.name == item.step.step)
            .expect("work item step");
        assert_eq!(step.status, StepStatus::InProgress);
        assert_eq!(step.attempt, item.attempt);
    }
    match run.status {
        RunStatus::InProgress => {
            assert_eq!(current.map(|s| s.status), Some(StageStatus::InProgress));
            assert!(run.error.is_none());
        }
        RunStatus::Suspended => {
            assert_eq!(current.map(|s| s.status), Some(StageStatus::Suspended));
        }
        RunStatus::Error => {
            let error = run.error.as_ref().expect("a run in Error has its error");
            let stage = current.expect("a run in Error has a current stage");
            assert_eq!(stage.status, StageStatus::Error);
            assert_eq!(stage.stage, error.stage);
            assert_eq!(errored, run.handled_errors.len() + 1);
            if let Some(step) = &error.step {
                let step = stage.steps.iter().find(|s| &s.name == step).expect("step");
                assert_eq!(step.status, StepStatus::Error);
            }
            assert!(live_stages == 0);
        }
        RunStatus::Completed | RunStatus::Canceled => {
            assert_eq!(run.current, None);
            assert_eq!(live_stages, 0);
            assert!(
                run.stages
                    .iter()
                    .flat_map(|s| &s.steps)
                    .all(|s| s.status != StepStatus::InProgress)
            );
            assert!(
                run.work_items
                    .iter()
                    .all(|w| w.status != WorkItemStatus::Assigned)
            );
            assert!(run.evaluations.is_empty());
            if run.status == RunStatus::Completed {
                assert!(run.error.is_none());
                assert_eq!(errored, run.handled_errors.len());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random valid orchestrations under random events: no panic, at most one stage In
    /// Progress, statuses consistent with the tables, refused events change nothing, and the
    /// run survives a JSON round trip (the store persists it as JSON).
    #[test]
    fn random_runs_keep_the_tables(
        stages in prop::collection::vec(stage_spec(), 1..4),
        amount in 0i64..10,
        who in who(),
        choices in prop::collection::vec(choice(), 0..40),
    ) {
        let def = definition(&stages);
        let mut run = Driver::start(plan(def), json!({"amount": amount, "who": who}));
        check_invariants(&run.run);
        for choice in &choices {
            if let Choice::Wait(minutes) = choice {
                run.wait(*minutes);
                continue;
            }
            if let Some(event) = event(&run, choice) {
                // `send` asserts that a refused event leaves the run as it was.
                let _ = run.send(event);
            }
            check_invariants(&run.run);
        }
        let text = serde_json::to_string(&run.run).expect("run serializes");
        let back: Run = serde_json::from_str(&text).expect("run parses");
        prop_assert_eq!(back, run.run);
    }

    /// Validation never panics, whatever names, references, connectors and logic it is given,
    /// and a definition it accepts can be started.
    #[test]
    fn validation_never_panics(def in messy_definition(), inputs in json_leaf()) {
        if let Ok(def) = serde_json::from_value::<Orchestration>(def)
            && let Ok(plan) = stagecraft_core::validate(&def, &FakeCatalog::standard())
        {
            let _ = stagecraft_core::start(&plan, stagecraft_core::RunId("r".into()), inputs, crate::support::t(0));
        }
    }
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("m0".to_owned()),
        Just("".to_owned()),
        Just("x.y".to_owned()),
        "[a-c]{1,2}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        word().prop_map(Value::from),
        Just(json!({"a": 1, "amount": 2})),
    ]
}

fn reference() -> impl Strategy<Value = String> {
    let parts = prop_oneof![
        Just("input"),
        Just("stage"),
        Just("step"),
        Just("status"),
        Just("outputs"),
        Just("a"),
        Just("b"),
        Just("m0"),
        Just(""),
    ];
    prop::collection::vec(parts, 0..6).prop_map(|p| p.join("."))
}

fn requirements_json() -> impl Strategy<Value = Value> {
    let condition = (reference(), 0u8..10, prop::option::of(json_leaf())).prop_map(|(r, o, v)| {
        let operators = [
            "equals",
            "not_equals",
            "greater_than",
            "greater_or_equal",
            "less_than",
            "less_or_equal",
            "contains",
            "starts_with",
            "is_null",
            "is_null",
        ];
        let mut c = json!({"resource": r, "operator": operators[usize::from(o)]});
        if let Some(v) = v {
            c["value"] = json!({"value": v});
        }
        c
    });
    let logic = prop_oneof![
        Just(json!("all")),
        Just(json!("any")),
        "[0-9 ()ANDORNOT]{0,12}".prop_map(|s| json!({"custom": s})),
    ];
    (logic, prop::collection::vec(condition, 0..12))
        .prop_map(|(logic, conditions)| json!({"logic": logic, "conditions": conditions}))
}

fn condition_slot() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("stage_start")),
        Just(json!("all_steps_completed")),
        word().prop_map(|w| json!({"after_step": {"step": w}})),
        requirements_json().prop_map(|r| json!({"requirements": r})),
        word().prop_map(|f| json!({"evaluation_flow": {"flow": f}})),
        Just(json!({"evaluation_flow": {"flow": "eval", "inputs": {"x": {"ref": "input.a"}}}})),
    ]
}

fn messy_step() -> impl Strategy<Value = Value> {
    let flow = prop_oneof![Just("auto"), Just("eval"), Just("screen"), Just("ghost")];
    (word(), 0u8..3, flow, condition_slot(), condition_slot(), reference())
        .prop_map(|(name, kind, flow, entry, exit, r)| {
            let kind = match kind {
                0 => json!({"type": "background", "flow": flow}),
                1 => json!({"type": "external", "action": flow}),
                _ => json!({"type": "interactive", "flow": flow, "assignee": {"ref": r}, "exit": exit}),
            };
            json!({"name": name, "entry": entry, "kind": kind, "inputs": {"i": {"ref": r}},
                   "outputs": [{"name": "a", "type": "text"}]})
        })
}

fn messy_element() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (
            word(),
            prop::collection::vec(messy_step(), 0..3),
            condition_slot(),
            prop::option::of(word())
        )
            .prop_map(|(name, steps, exit, next)| {
                json!({"type": "stage", "name": name, "steps": steps, "exit": exit, "next": next})
            }),
        (
            word(),
            requirements_json(),
            prop::option::of(word()),
            any::<bool>()
        )
            .prop_map(|(name, when, next, default)| {
                let mut d = json!({"type": "decision", "name": name,
                    "outcomes": [{"name": "o", "when": when, "next": next}]});
                if default {
                    d["default"] = json!({"next": next});
                }
                d
            }),
        word().prop_map(|name| json!({"type": "end", "name": name})),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        (
            word(),
            prop::option::of(word()),
            prop::collection::vec(inner, 0..3),
            prop::option::of(word()),
        )
            .prop_map(|(name, fault_next, elements, next)| {
                json!({"type": "stage", "name": name,
                       "steps": [{"name": "s", "kind": {"type": "background", "flow": "auto"}}],
                       "next": next, "fault_path": {"next": fault_next, "elements": elements}})
            })
    })
}

fn messy_definition() -> impl Strategy<Value = Value> {
    (
        0u32..3,
        prop::collection::vec(messy_element(), 0..5),
        prop::collection::vec(word(), 0..3),
    )
        .prop_map(|(format, elements, inputs)| {
            let inputs: Vec<Value> = inputs
                .iter()
                .map(|name| json!({"name": name, "type": "any", "required": true}))
                .collect();
            json!({"format": format, "name": "messy", "inputs": inputs, "elements": elements})
        })
}
