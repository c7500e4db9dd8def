//! Crash recovery: the actions a committed run still awaits, re-derived from its state alone.

use serde_json::Value;

use crate::action::Action;
use crate::plan::{Plan, PlanStepKind};
use crate::run::{Run, RunStatus, StepKey, StepRun, StepStatus, WorkItemStatus};

/// The actions in flight for `run`: issued by an earlier transition and still awaited, that is
/// exactly those whose result [`crate::handle`] would accept now.
///
/// The engine commits a run before it performs the actions of the transition, and holds those
/// actions only in memory; a crash loses them. After a restart the engine reloads each
/// unfinished run and performs these actions again (at least once, SPEC §7). Completion is
/// still recorded once: a result quotes its step attempt, request id or work item, and the
/// machine refuses a second one.
///
/// Each action equals the one originally issued, inputs included: inputs are kept in the run
/// as resolved when the action was issued ([`crate::run::StepRun::inputs`],
/// [`crate::run::PendingEvaluation::inputs`]), because the resources they reference may have
/// changed since. In this order:
/// - [`Action::RunFlow`] or [`Action::CallAction`] for each background or external step of
///   the current stage run whose current attempt has no result recorded, when the step is In
///   Progress and the run In Progress or Suspended (a result then waits as pending outputs),
///   or when the step was Discontinued by its stage's failure and the run is in Error (its
///   outputs are then kept as pending outputs for resume; a failure is refused, as resume
///   reruns the step anyway);
/// - [`Action::CreateWorkItem`] for each Assigned work item of an In Progress or Suspended run
///   (the item already exists in the run: the engine re-creates it idempotently and checks its
///   assignee again; an unavailable assignee is only accepted while the run is In Progress);
/// - [`Action::Evaluate`] for each awaited evaluation request of an In Progress run.
///
/// Never [`Action::CloseWorkItem`]: no result answers it, and the closure is already in the
/// committed run (the item is Completed). Nothing for a Completed or Canceled run, nor for a
/// plan other than the orchestration version the run is pinned to (`handle` refuses every
/// event then).
pub fn outstanding_actions(run: &Run, plan: &Plan) -> Vec<Action> {
    if plan.name() != run.orchestration || plan.version() != run.version {
        return Vec::new();
    }
    let Some((cur, stage_run)) = run
        .current
        .and_then(|cur| Some((cur, run.stages.get(cur)?)))
    else {
        return Vec::new();
    };
    let Some(stage) = plan.stage(&stage_run.stage) else {
        return Vec::new();
    };
    let key = |step: &StepRun| StepKey {
        stage: stage_run.stage.clone(),
        stage_run: cur,
        step: step.name.clone(),
    };
    let mut actions = Vec::new();
    for (plan_step, step) in stage.steps.iter().zip(&stage_run.steps) {
        if !awaits_step_result(run.status, step) {
            continue;
        }
        let inputs = recorded_inputs(step);
        match &plan_step.kind {
            PlanStepKind::Background { flow } => actions.push(Action::RunFlow {
                step: key(step),
                attempt: step.attempt,
                flow: flow.clone(),
                inputs,
            }),
            PlanStepKind::External { action } => actions.push(Action::CallAction {
                step: key(step),
                attempt: step.attempt,
                action: action.clone(),
                inputs,
            }),
            PlanStepKind::Interactive { .. } => {}
        }
    }
    if matches!(run.status, RunStatus::InProgress | RunStatus::Suspended) {
        for item in &run.work_items {
            let open_step = stage_run.steps.iter().find(|step| {
                step.name == item.step.step
                    && step.status == StepStatus::InProgress
                    && step.attempt == item.attempt
            });
            if let Some(step) = open_step
                && item.status == WorkItemStatus::Assigned
                && item.step.stage_run == cur
                && item.step.stage == stage_run.stage
            {
                actions.push(Action::CreateWorkItem {
                    work_item: item.id.clone(),
                    step: item.step.clone(),
                    assignee: item.assignee.clone(),
                    screen_flow: item.screen_flow.clone(),
                    inputs: recorded_inputs(step),
                });
            }
        }
    }
    if run.status == RunStatus::InProgress {
        actions.extend(
            run.evaluations
                .iter()
                .filter(|pending| pending.stage_run == cur)
                .map(|pending| Action::Evaluate {
                    request: pending.request,
                    target: pending.target.clone(),
                    flow: pending.flow.clone(),
                    inputs: pending.inputs.clone(),
                }),
        );
    }
    actions
}

/// Whether a flow or action result for `step`'s current attempt would be accepted (the rules
/// of `Ctx::step_result`, for a step of the current stage run).
fn awaits_step_result(run: RunStatus, step: &StepRun) -> bool {
    if step.pending.is_some() {
        return false;
    }
    matches!(
        (run, step.status),
        (
            RunStatus::InProgress | RunStatus::Suspended,
            StepStatus::InProgress
        ) | (RunStatus::Error, StepStatus::Discontinued)
    )
}

/// The inputs `step`'s current attempt was started with. Every started attempt records them;
/// `null` (which no flow accepts as its input object) marks a run committed without them,
/// rather than guessing them from a state that may have changed.
fn recorded_inputs(step: &StepRun) -> Value {
    step.inputs.clone().unwrap_or(Value::Null)
}
