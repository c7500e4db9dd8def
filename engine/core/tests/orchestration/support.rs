//! Test support: a fake catalog, definition builders, and a driver that plays the engine.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use stagecraft_core::run::{
    EvalRequestId, EvalTarget, MilestoneKind, MilestoneRecord, StageRun, StageStatus, StepKey,
    StepStatus, WorkItem, WorkItemId,
};
use stagecraft_core::{
    Action, Actor, Catalog, Event, EventError, FlowFailure, FlowFailureKind, FlowKind,
    Orchestration, Plan, Run, RunId, RunStatus, ValidationErrors,
};

/// Flows and actions the tests deploy.
pub struct FakeCatalog {
    flows: BTreeMap<String, FlowKind>,
    actions: BTreeSet<String>,
}

impl FakeCatalog {
    /// Everything the tests and the loan example use.
    pub fn standard() -> Self {
        let flows = [
            ("auto", FlowKind::Autolaunched),
            ("auto2", FlowKind::Autolaunched),
            ("risk_score", FlowKind::Autolaunched),
            ("disburse_funds", FlowKind::Autolaunched),
            ("eval", FlowKind::Evaluation),
            ("funds_settled", FlowKind::Evaluation),
            ("screen", FlowKind::Screen),
            ("review_form", FlowKind::Screen),
            ("intake_form", FlowKind::Screen),
        ];
        Self {
            flows: flows.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect(),
            actions: ["notify", "credit_bureau", "send_email"]
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
        }
    }
}

impl Catalog for FakeCatalog {
    fn flow_kind(&self, name: &str) -> Option<FlowKind> {
        self.flows.get(name).copied()
    }
    fn has_action(&self, name: &str) -> bool {
        self.actions.contains(name)
    }
}

/// A fixed instant plus `minutes`.
pub fn t(minutes: i64) -> Timestamp {
    let base: Timestamp = "2025-01-06T09:00:00Z".parse().expect("valid timestamp");
    base.checked_add(SignedDuration::from_mins(minutes))
        .expect("in range")
}

/// Parses and validates a definition.
pub fn try_plan(def: Value) -> Result<Plan, ValidationErrors> {
    let def: Orchestration = serde_json::from_value(def).expect("definition parses");
    stagecraft_core::validate(&def, &FakeCatalog::standard())
}

/// Parses and validates a definition that must be valid.
pub fn plan(def: Value) -> Plan {
    try_plan(def).unwrap_or_else(|errors| panic!("{errors}"))
}

/// The validation problems of an invalid definition, as display strings.
pub fn problems(def: Value) -> Vec<String> {
    match try_plan(def) {
        Ok(_) => panic!("the definition should be invalid"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// An orchestration with the given main-path elements and an `amount` number input.
pub fn orchestration(elements: Value) -> Value {
    json!({
        "format": 1,
        "name": "test",
        "inputs": [
            {"name": "amount", "type": "number"},
            {"name": "who", "type": "any"}
        ],
        "elements": elements,
    })
}

/// A stage with `steps` going to `next` (null ends).
pub fn stage(name: &str, steps: Value, next: Value) -> Value {
    json!({"type": "stage", "name": name, "steps": steps, "next": next})
}

/// A background step running flow `auto`.
pub fn bg(name: &str) -> Value {
    json!({"name": name, "kind": {"type": "background", "flow": "auto"}})
}

/// An external-action step calling `notify`.
pub fn ext(name: &str) -> Value {
    json!({"name": name, "kind": {"type": "external", "action": "notify"}})
}

/// An interactive step for `assignee` using screen flow `screen`.
pub fn interactive(name: &str, assignee: Value) -> Value {
    json!({"name": name, "kind": {"type": "interactive", "flow": "screen", "assignee": assignee}})
}

/// `value` with `key` set to `field`.
pub fn with(mut value: Value, key: &str, field: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.insert(key.to_owned(), field);
    }
    value
}

/// A requirements block with all conditions `resource operator value`.
pub fn requirements(conditions: &[(&str, &str, Value)]) -> Value {
    let conditions: Vec<Value> = conditions
        .iter()
        .map(|(resource, operator, value)| {
            json!({"resource": resource, "operator": operator, "value": {"value": value}})
        })
        .collect();
    json!({"conditions": conditions})
}

/// A user with no memberships.
pub fn user(name: &str) -> Actor {
    Actor {
        user: name.to_owned(),
        ..Actor::default()
    }
}

/// A failure of `kind`.
pub fn failure(kind: FlowFailureKind) -> FlowFailure {
    FlowFailure {
        kind,
        message: format!("{kind:?}"),
    }
}

/// Plays the engine: holds the run, feeds events, remembers every action.
pub struct Driver {
    pub plan: Plan,
    pub run: Run,
    pub now: Timestamp,
    /// Every action issued so far.
    pub actions: Vec<Action>,
    /// Actions of the last accepted event.
    pub last: Vec<Action>,
}

impl Driver {
    /// Starts a run of `plan` with `inputs` at `t(0)`.
    pub fn start(plan: Plan, inputs: Value) -> Self {
        let transition =
            stagecraft_core::start(&plan, RunId("run-1".into()), inputs, t(0)).expect("run starts");
        Self {
            plan,
            run: transition.run,
            now: t(0),
            actions: transition.actions.clone(),
            last: transition.actions,
        }
    }

    /// Starts a run of a definition that must be valid, with no inputs.
    pub fn of(def: Value) -> Self {
        Self::start(plan(def), json!({}))
    }

    /// Moves the clock forward.
    pub fn wait(&mut self, minutes: i64) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_mins(minutes))
            .expect("in range");
    }

    /// Feeds an event; an error must leave the run unchanged.
    pub fn send(&mut self, event: Event) -> Result<Vec<Action>, EventError> {
        let before = self.run.clone();
        match stagecraft_core::handle(&self.run, &self.plan, event, self.now) {
            Ok(transition) => {
                self.run = transition.run;
                self.actions.extend(transition.actions.clone());
                self.last = transition.actions.clone();
                Ok(transition.actions)
            }
            Err(error) => {
                assert_eq!(self.run, before, "a refused event changed the run");
                Err(error)
            }
        }
    }

    /// Feeds an event that must be accepted.
    pub fn ok(&mut self, event: Event) -> Vec<Action> {
        self.send(event)
            .unwrap_or_else(|e| panic!("event refused: {e}"))
    }

    /// The latest RunFlow or CallAction issued for step `step`: its key and attempt.
    pub fn call(&self, step: &str) -> (StepKey, u32) {
        self.actions
            .iter()
            .rev()
            .find_map(|action| match action {
                Action::RunFlow {
                    step: key, attempt, ..
                }
                | Action::CallAction {
                    step: key, attempt, ..
                } if key.step == step => Some((key.clone(), *attempt)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no flow or action was requested for step {step}"))
    }

    /// The event finishing step `step`'s latest flow with `result` on flow version 1.
    pub fn flow_event(&self, step: &str, result: Result<Value, FlowFailure>) -> Event {
        let (step, attempt) = self.call(step);
        Event::FlowFinished {
            step,
            attempt,
            flow_version: 1,
            result,
        }
    }

    /// Finishes step `step`'s latest flow with outputs `{}`.
    pub fn finish(&mut self, step: &str) -> Vec<Action> {
        self.ok(self.flow_event(step, Ok(json!({}))))
    }

    /// Finishes step `step`'s latest flow with `outputs`.
    pub fn finish_with(&mut self, step: &str, outputs: Value) -> Vec<Action> {
        self.ok(self.flow_event(step, Ok(outputs)))
    }

    /// Fails step `step`'s latest flow with `kind`.
    pub fn trap(&mut self, step: &str, kind: FlowFailureKind) -> Vec<Action> {
        self.ok(self.flow_event(step, Err(failure(kind))))
    }

    /// Finishes step `step`'s latest external action with `result`.
    pub fn action_done(&mut self, step: &str, result: Result<Value, String>) -> Vec<Action> {
        let (step, attempt) = self.call(step);
        self.ok(Event::ActionFinished {
            step,
            attempt,
            result,
        })
    }

    /// The latest work item of step `step`.
    pub fn work_item(&self, step: &str) -> WorkItem {
        self.run
            .work_items
            .iter()
            .rev()
            .find(|w| w.step.step == step)
            .cloned()
            .unwrap_or_else(|| panic!("no work item for step {step}"))
    }

    /// Completes step `step`'s latest work item as `by` with `outputs`.
    pub fn complete(
        &mut self,
        step: &str,
        by: Actor,
        outputs: Value,
    ) -> Result<Vec<Action>, EventError> {
        let work_item: WorkItemId = self.work_item(step).id;
        self.send(Event::WorkItemCompleted {
            work_item,
            by,
            answers: outputs.clone(),
            result: Ok(outputs),
        })
    }

    /// The latest evaluation request for `target`.
    pub fn evaluation(&self, target: &EvalTarget) -> EvalRequestId {
        self.actions
            .iter()
            .rev()
            .find_map(|action| match action {
                Action::Evaluate {
                    request, target: t, ..
                } if t == target => Some(*request),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no evaluation requested for {target:?}"))
    }

    /// Answers the latest evaluation request for `target`.
    pub fn answer(&mut self, target: &EvalTarget, result: bool) -> Vec<Action> {
        let request = self.evaluation(target);
        self.ok(Event::EvaluationFinished {
            request,
            result: Ok(result),
        })
    }

    /// The latest run of stage `name`.
    pub fn stage(&self, name: &str) -> &StageRun {
        self.run
            .latest_stage_run(name)
            .unwrap_or_else(|| panic!("stage {name} never ran"))
    }

    /// The status of stage `name`'s latest run.
    pub fn stage_status(&self, name: &str) -> StageStatus {
        self.stage(name).status
    }

    /// The status of step `step` in stage `stage`'s latest run.
    pub fn step_status(&self, stage: &str, step: &str) -> StepStatus {
        self.stage(stage)
            .steps
            .iter()
            .find(|s| s.name == step)
            .unwrap_or_else(|| panic!("no step {step}"))
            .status
    }

    /// The run status.
    pub fn status(&self) -> RunStatus {
        self.run.status
    }

    /// The history as `record: kind` strings.
    pub fn history(&self) -> Vec<String> {
        self.run
            .history
            .iter()
            .map(|m| {
                let record = match &m.record {
                    MilestoneRecord::Run => "run".to_owned(),
                    MilestoneRecord::Stage { name } => name.clone(),
                    MilestoneRecord::Step { stage, step } => format!("{stage}.{step}"),
                };
                format!("{record}: {:?}", m.kind)
            })
            .collect()
    }

    /// Whether `kind` was recorded for `record` (as printed by [`Self::history`]).
    pub fn recorded(&self, record: &str, kind: MilestoneKind) -> bool {
        self.history().contains(&format!("{record}: {kind:?}"))
    }
}
