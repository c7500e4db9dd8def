//! Realistic runs built by driving the pure state machine of
//! `stagecraft-core`, and the records the conformance tests write.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use stagecraft_core::run::{Principal, WorkItem, WorkItemId};
use stagecraft_core::{
    Action, Actor, Catalog, Event, FlowKind, Orchestration, Plan, Run, RunId, RunStatus,
};
use stagecraft_store::{AuditAction, AuditRecord};

/// The flows the test definitions use.
struct Flows;

impl Catalog for Flows {
    fn flow_kind(&self, name: &str) -> Option<FlowKind> {
        match name {
            "auto" => Some(FlowKind::Autolaunched),
            "screen" => Some(FlowKind::Screen),
            _ => None,
        }
    }
    fn has_action(&self, _name: &str) -> bool {
        false
    }
}

/// An audit record for writes that take one.
pub fn audit() -> AuditRecord {
    AuditRecord::done(t(0), "admin", AuditAction::UserPut, "test:write".to_owned())
}

/// `t(0)` is a fixed instant with a sub-microsecond part, so timestamp round
/// trips are checked to the nanosecond; `t(n)` is `n` minutes later.
pub fn t(minutes: i64) -> Timestamp {
    let base: Timestamp = "2025-01-06T09:00:00.123456789Z"
        .parse()
        .expect("valid timestamp");
    base.checked_add(SignedDuration::from_mins(minutes))
        .expect("in range")
}

/// Two stages: a background step and a review by alice, then a sign-off by
/// the underwriters group.
pub fn loan_plan() -> Plan {
    let definition = json!({
        "format": 1,
        "name": "loan",
        "inputs": [{"name": "amount", "type": "number"}],
        "elements": [
            {"type": "stage", "name": "intake", "next": "approval", "steps": [
                {"name": "score", "kind": {"type": "background", "flow": "auto"}},
                {"name": "review", "kind": {"type": "interactive", "flow": "screen",
                    "assignee": {"user": "alice"}},
                 "outputs": [{"name": "approved", "type": "boolean"}]}
            ]},
            {"type": "stage", "name": "approval", "next": null, "steps": [
                {"name": "sign_off", "kind": {"type": "interactive", "flow": "screen",
                    "assignee": {"group": "underwriters"}}}
            ]}
        ]
    });
    let definition: Orchestration = serde_json::from_value(definition).expect("definition parses");
    stagecraft_core::validate(&definition, &Flows).expect("definition is valid")
}

/// A run of the loan plan, driven by the state machine.
pub struct Loan {
    /// The loan plan.
    pub plan: Plan,
    /// The run's latest state.
    pub run: Run,
    /// The instant of its latest event.
    pub now: Timestamp,
    actions: Vec<Action>,
}

impl Loan {
    /// Starts run `id` at `t(0)`.
    pub fn start(id: &str) -> Self {
        let plan = loan_plan();
        let transition =
            stagecraft_core::start(&plan, RunId(id.to_owned()), json!({"amount": 1200}), t(0))
                .expect("run starts");
        Self {
            plan,
            run: transition.run,
            now: t(0),
            actions: transition.actions,
        }
    }

    /// Started, its background step finished: waiting on alice's review.
    pub fn waiting_for_review(id: &str) -> Self {
        let mut loan = Self::start(id);
        loan.finish_score();
        loan
    }

    fn send(&mut self, event: Event) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_mins(1))
            .expect("in range");
        let transition = stagecraft_core::handle(&self.run, &self.plan, event, self.now)
            .expect("event accepted");
        self.run = transition.run;
        self.actions.extend(transition.actions);
    }

    /// Finishes the background step's flow.
    pub fn finish_score(&mut self) {
        let (step, attempt) = self
            .actions
            .iter()
            .find_map(|action| match action {
                Action::RunFlow { step, attempt, .. } if step.step == "score" => {
                    Some((step.clone(), *attempt))
                }
                _ => None,
            })
            .expect("the score flow was requested");
        self.send(Event::FlowFinished {
            step,
            attempt,
            flow_version: 1,
            result: Ok(json!({"score": 712})),
        });
    }

    /// The latest work item of `step`.
    pub fn work_item(&self, step: &str) -> WorkItem {
        self.run
            .work_items
            .iter()
            .rev()
            .find(|item| item.step.step == step)
            .cloned()
            .expect("the step has a work item")
    }

    /// Alice completes the review.
    pub fn approve(&mut self) {
        let work_item = self.work_item("review").id;
        self.send(Event::WorkItemCompleted {
            work_item,
            by: Actor {
                user: "alice".to_owned(),
                ..Actor::default()
            },
            answers: json!({"decision": "approve"}),
            result: Ok(json!({"approved": true})),
        });
    }

    /// The run, shared as the engine hands it to the store.
    pub fn shared(&self) -> Arc<Run> {
        Arc::new(self.run.clone())
    }
}

/// A user principal.
pub fn user(id: &str) -> Principal {
    Principal::User(id.to_owned())
}

/// A group principal.
pub fn group(id: &str) -> Principal {
    Principal::Group(id.to_owned())
}

/// A stand-in orchestration definition, told apart by `marker`.
pub fn definition(name: &str, marker: i64) -> Value {
    json!({"format": 1, "name": name, "marker": marker})
}

/// A copy of `template` as run `id`, its work items renamed to match (a work
/// item id starts with its run's id).
pub fn renamed(template: &Run, id: &str) -> Arc<Run> {
    let rename = |item: &WorkItemId| {
        let suffix = item.0.rsplit('/').next().unwrap_or_default();
        WorkItemId(format!("{id}/{suffix}"))
    };
    let mut run = template.clone();
    run.id = RunId(id.to_owned());
    for item in &mut run.work_items {
        item.id = rename(&item.id);
    }
    for step in run.stages.iter_mut().flat_map(|stage| &mut stage.steps) {
        step.work_item = step.work_item.as_ref().map(rename);
    }
    Arc::new(run)
}

/// The stage a live run is in.
pub fn stage_of(run: &Run) -> String {
    run.current_stage().expect("a stage").stage.clone()
}

/// `run` under another id, with another status and orchestration, started
/// `minutes` after `t(0)`.
pub fn variant(id: &str, status: RunStatus, orchestration: &str, minutes: i64) -> Arc<Run> {
    let mut run = Loan::start(id).run;
    run.status = status;
    run.orchestration = orchestration.to_owned();
    for milestone in &mut run.history {
        milestone.at = t(minutes);
    }
    Arc::new(run)
}

/// The ids of listed runs, in order.
pub fn ids(summaries: &[stagecraft_store::RunSummary]) -> Vec<&str> {
    summaries.iter().map(|s| s.id.0.as_str()).collect()
}
