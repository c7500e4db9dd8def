//! The state machine: `(run, event, now) → (new run, actions)`, free of I/O.

mod depth;
mod error;
mod failure;
mod inputs;
mod manual;
mod pin;
mod progress;
mod recovery;
mod resolve;
mod results;
mod step;

use jiff::Timestamp;
use serde_json::Value;

pub use depth::{MAX_VALUE_DEPTH, value_depth};
pub use error::{EventError, InputProblem};
pub use pin::{FlowPin, flow_pins, pin_flows, pinned_flow};
pub use recovery::outstanding_actions;

use crate::action::Action;
use crate::event::Event;
use crate::plan::{Plan, PlanStage, PlanStep};
use crate::run::{
    Milestone, MilestoneKind, MilestoneRecord, Run, RunId, RunStatus, StageRun, StepRun,
};

/// A run's new state and the side effects to perform once it is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The new state.
    pub run: Run,
    /// What the engine must do, in order.
    pub actions: Vec<Action>,
}

/// Starts a run of `plan` (pinned to its version) with `inputs`, checked against the declared
/// input variables.
pub fn start(
    plan: &Plan,
    run_id: RunId,
    inputs: Value,
    now: Timestamp,
) -> Result<Transition, EventError> {
    inputs::check(plan, &inputs)?;
    let run = Run {
        id: run_id,
        orchestration: plan.name().to_owned(),
        version: plan.version(),
        status: RunStatus::InProgress,
        inputs,
        stages: Vec::new(),
        current: None,
        work_items: Vec::new(),
        evaluations: Vec::new(),
        evaluations_issued: 0,
        error: None,
        handled_errors: Vec::new(),
        history: Vec::new(),
    };
    let mut ctx = Ctx::new(plan, run, now, None);
    ctx.milestone(MilestoneRecord::Run, MilestoneKind::StartRun);
    ctx.advance(Some(0))?;
    ctx.finish()
}

/// Applies `event` to `run` at `now`. On error the event was illegal and `run` stays as it is.
pub fn handle(
    run: &Run,
    plan: &Plan,
    event: Event,
    now: Timestamp,
) -> Result<Transition, EventError> {
    if plan.name() != run.orchestration || plan.version() != run.version {
        return Err(EventError::WrongPlan {
            run: format!("{} v{}", run.orchestration, run.version),
            plan: format!("{} v{}", plan.name(), plan.version()),
        });
    }
    let actor = match &event {
        Event::Suspend { by } | Event::Resume { by } | Event::Cancel { by } => Some(by.clone()),
        _ => None,
    };
    let mut ctx = Ctx::new(plan, run.clone(), now, actor);
    match depth::bound(event) {
        Event::FlowFinished {
            step,
            attempt,
            flow_version,
            result,
        } => ctx.flow_finished(&step, attempt, flow_version, result)?,
        Event::ActionFinished {
            step,
            attempt,
            result,
        } => ctx.action_finished(&step, attempt, result)?,
        Event::EvaluationFinished { request, result } => {
            ctx.evaluation_finished(request, result)?;
        }
        Event::WorkItemCompleted {
            work_item,
            by,
            answers,
            result,
        } => ctx.work_item_completed(&work_item, &by, answers, result)?,
        Event::AssigneeUnavailable { work_item, reason } => {
            ctx.assignee_unavailable(&work_item, reason)?;
        }
        Event::EventPublished { .. } => ctx.event_published()?,
        Event::Suspend { .. } => ctx.suspend()?,
        Event::Resume { .. } => ctx.resume()?,
        Event::Cancel { .. } => ctx.cancel()?,
    }
    ctx.finish()
}

/// What makes a stage's exit conditions (and its steps' own) be evaluated
/// again, evaluation flows included (C-EXIT-EVAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The stage was entered: its conditions are evaluated a first time.
    StageEntered,
    /// The run was resumed into the stage.
    Resumed,
    /// One of its steps completed.
    StepCompleted,
    /// A screen was submitted to a step whose own exit condition decides
    /// when it completes.
    ScreenSubmitted,
    /// An event was published to the run.
    EventPublished,
}

/// The working state of one transition.
struct Ctx<'p> {
    plan: &'p Plan,
    run: Run,
    actions: Vec<Action>,
    now: Timestamp,
    /// The user behind a manual action; recorded on every milestone it causes.
    actor: Option<String>,
    /// Why the current stage's conditions must be evaluated again,
    /// evaluation flows included; `None` while nothing happened that could
    /// change them.
    trigger: Option<Trigger>,
    /// Stages entered during this transition (loop guard).
    stage_entries: usize,
}

impl<'p> Ctx<'p> {
    fn new(plan: &'p Plan, run: Run, now: Timestamp, actor: Option<String>) -> Self {
        Self {
            plan,
            run,
            actions: Vec::new(),
            now,
            actor,
            trigger: None,
            stage_entries: 0,
        }
    }

    /// Asks for the current stage's conditions to be evaluated again.
    fn trigger(&mut self, why: Trigger) {
        self.trigger = Some(why);
    }

    /// Runs until the run waits for work, then hands out the result.
    fn finish(mut self) -> Result<Transition, EventError> {
        self.settle()?;
        Ok(Transition {
            run: self.run,
            actions: self.actions,
        })
    }

    fn milestone(&mut self, record: MilestoneRecord, kind: MilestoneKind) {
        self.run.history.push(Milestone {
            at: self.now,
            record,
            kind,
            actor: self.actor.clone(),
        });
    }

    fn step_milestone(&mut self, cur: usize, index: usize, kind: MilestoneKind) {
        let names = self.run.stages.get(cur).and_then(|stage| {
            let step = stage.steps.get(index)?;
            Some((stage.stage.clone(), step.name.clone()))
        });
        if let Some((stage, step)) = names {
            self.milestone(MilestoneRecord::Step { stage, step }, kind);
        }
    }

    fn stage_milestone(&mut self, cur: usize, kind: MilestoneKind) {
        if let Some(name) = self.run.stages.get(cur).map(|s| s.stage.clone()) {
            self.milestone(MilestoneRecord::Stage { name }, kind);
        }
    }

    fn stage_run(&self, cur: usize) -> Result<&StageRun, EventError> {
        self.run
            .stages
            .get(cur)
            .ok_or_else(|| EventError::inconsistent(format!("no stage run {cur}")))
    }

    fn stage_run_mut(&mut self, cur: usize) -> Result<&mut StageRun, EventError> {
        self.run
            .stages
            .get_mut(cur)
            .ok_or_else(|| EventError::inconsistent(format!("no stage run {cur}")))
    }

    fn step_run_mut(&mut self, cur: usize, index: usize) -> Result<&mut StepRun, EventError> {
        self.stage_run_mut(cur)?
            .steps
            .get_mut(index)
            .ok_or_else(|| EventError::inconsistent(format!("no step {index} in stage run {cur}")))
    }

    /// The plan's stage for stage run `cur`.
    fn plan_stage(&self, cur: usize) -> Result<&'p PlanStage, EventError> {
        let name = &self.stage_run(cur)?.stage;
        self.plan
            .stage(name)
            .ok_or_else(|| EventError::inconsistent(format!("the plan has no stage {name:?}")))
    }

    fn plan_step(&self, cur: usize, index: usize) -> Result<&'p PlanStep, EventError> {
        self.plan_stage(cur)?
            .steps
            .get(index)
            .ok_or_else(|| EventError::inconsistent(format!("the plan has no step {index}")))
    }
}
