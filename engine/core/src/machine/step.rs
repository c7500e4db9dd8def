//! Steps: starting (and restarting) them, processing their results, completing them.

use serde_json::Value;

use crate::action::Action;
use crate::definition::OutputSpec;
use crate::plan::{Exit, PlanStepKind};
use crate::run::{
    Closure, ErrorKind, MilestoneKind, PendingResult, StepStatus, WorkItem, WorkItemId,
    WorkItemStatus,
};

use super::resolve::{assignee, map_inputs};
use super::{Ctx, EventError, Trigger};

impl Ctx<'_> {
    /// Starts (or restarts) step `index` of stage run `cur`: a new attempt, its inputs mapped,
    /// and the action that runs it. Input-mapping and assignee problems fail the step.
    pub(super) fn start_step(&mut self, cur: usize, index: usize) -> Result<(), EventError> {
        let plan_step = self.plan_step(cur, index)?;
        let now = self.now;
        let step = self.step_run_mut(cur, index)?;
        step.status = StepStatus::InProgress;
        step.attempt = step.attempt.saturating_add(1);
        step.started_at = Some(now);
        step.ended_at = None;
        step.error = None;
        step.pending = None;
        step.inputs = None;
        let attempt = step.attempt;
        let previous_work_item = step.work_item.clone();
        self.step_milestone(cur, index, MilestoneKind::StartStep);
        let key = self.step_key(cur, index)?;
        let inputs = match map_inputs(&self.run, &plan_step.inputs) {
            Ok(inputs) => inputs,
            Err(message) => return self.fail(Some(index), ErrorKind::InputMapping, message),
        };
        self.step_run_mut(cur, index)?.inputs = Some(inputs.clone());
        let action = match &plan_step.kind {
            PlanStepKind::Background { flow } => Action::RunFlow {
                step: key,
                attempt,
                flow: flow.clone(),
                inputs,
            },
            PlanStepKind::External { action } => Action::CallAction {
                step: key,
                attempt,
                action: action.clone(),
                inputs,
            },
            PlanStepKind::Interactive {
                flow,
                assignee: who,
                ..
            } => {
                let principal = match assignee(&self.run, who) {
                    Ok(principal) => principal,
                    Err(message) => {
                        return self.fail(Some(index), ErrorKind::MisconfiguredAssignee, message);
                    }
                };
                let id = WorkItemId(format!(
                    "{}/wi-{}",
                    self.run.id,
                    self.run.work_items.len() + 1
                ));
                self.run.work_items.push(WorkItem {
                    id: id.clone(),
                    step: key.clone(),
                    attempt,
                    assignee: principal.clone(),
                    screen_flow: flow.clone(),
                    status: WorkItemStatus::Assigned,
                    created_at: now,
                    closed_at: None,
                    closed_by: None,
                    replacement_of: previous_work_item,
                    answers: None,
                });
                self.step_run_mut(cur, index)?.work_item = Some(id.clone());
                Action::CreateWorkItem {
                    work_item: id,
                    step: key,
                    assignee: principal,
                    screen_flow: flow.clone(),
                    inputs,
                }
            }
        };
        self.actions.push(action);
        Ok(())
    }

    /// Marks step `index` Completed (End Step) with `outputs` if given, closes its open work
    /// item, and asks for conditions to be re-evaluated.
    pub(super) fn complete_step(
        &mut self,
        cur: usize,
        index: usize,
        outputs: Option<Value>,
    ) -> Result<(), EventError> {
        let now = self.now;
        let step = self.step_run_mut(cur, index)?;
        step.status = StepStatus::Completed;
        step.ended_at = Some(now);
        if outputs.is_some() {
            step.outputs = outputs;
        }
        self.step_milestone(cur, index, MilestoneKind::EndStep);
        self.close_work_items(cur, Some(index), "step completed");
        self.trigger(Trigger::StepCompleted);
        Ok(())
    }

    /// Closes the Assigned work items of stage run `cur` (only step `only`'s, if given).
    pub(super) fn close_work_items(&mut self, cur: usize, only: Option<usize>, reason: &str) {
        let step_name = only.and_then(|index| {
            let stage = self.run.stages.get(cur)?;
            Some(stage.steps.get(index)?.name.clone())
        });
        for item in &mut self.run.work_items {
            if item.status == WorkItemStatus::Assigned
                && item.step.stage_run == cur
                && step_name
                    .as_ref()
                    .is_none_or(|name| &item.step.step == name)
            {
                item.status = WorkItemStatus::Completed;
                item.closed_at = Some(self.now);
                item.closed_by = Some(Closure::System {
                    reason: reason.to_owned(),
                });
                self.actions.push(Action::CloseWorkItem {
                    work_item: item.id.clone(),
                });
            }
        }
    }

    /// Processes a result of step `index`: outputs complete it (or, for an interactive step
    /// with another exit condition, are kept); failures fail it as SPEC §3 says.
    pub(super) fn apply_result(
        &mut self,
        cur: usize,
        index: usize,
        result: PendingResult,
    ) -> Result<(), EventError> {
        let plan_step = self.plan_step(cur, index)?;
        let outputs = match result {
            PendingResult::Flow {
                flow_version,
                result,
            } => {
                self.step_run_mut(cur, index)?.flow_version = Some(flow_version);
                result.map_err(|f| (ErrorKind::Flow(f.kind), f.message))
            }
            PendingResult::Screen { result } => {
                result.map_err(|f| (ErrorKind::Flow(f.kind), f.message))
            }
            PendingResult::Action { result } => result.map_err(|m| (ErrorKind::ExternalAction, m)),
        };
        let outputs = match outputs {
            Ok(outputs) => check_outputs(&plan_step.outputs, outputs)
                .map_err(|message| (ErrorKind::OutputProcessing, message)),
            Err(error) => Err(error),
        };
        match outputs {
            Err((kind, message)) => self.fail(Some(index), kind, message),
            Ok(outputs) => match &plan_step.kind {
                PlanStepKind::Interactive { exit, .. } if *exit != Exit::Natural => {
                    // The screen is done but the step's own exit condition decides.
                    self.step_run_mut(cur, index)?.outputs = Some(outputs);
                    self.trigger(Trigger::ScreenSubmitted);
                    Ok(())
                }
                _ => self.complete_step(cur, index, Some(outputs)),
            },
        }
    }
}

/// Checks outputs against the declared ones: a JSON object with every required field, each
/// declared field of its type. No declaration accepts any object.
fn check_outputs(declared: &[OutputSpec], outputs: Value) -> Result<Value, String> {
    let Value::Object(fields) = &outputs else {
        return Err(format!("outputs must be a JSON object, got {outputs}"));
    };
    let mut problems = Vec::new();
    for spec in declared {
        match fields.get(&spec.name) {
            None | Some(Value::Null) if spec.required => {
                problems.push(format!("output {:?} is missing", spec.name));
            }
            Some(value) if !value.is_null() && !spec.r#type.admits(value) => {
                problems.push(format!(
                    "output {:?} must be of type {}",
                    spec.name, spec.r#type
                ));
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(outputs)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::definition::ValueType;

    fn spec(name: &str, r#type: ValueType, required: bool) -> OutputSpec {
        OutputSpec {
            name: name.into(),
            r#type,
            required,
        }
    }

    #[test]
    fn outputs_must_match_the_declaration() {
        let declared = [
            spec("score", ValueType::Integer, true),
            spec("note", ValueType::Text, false),
        ];
        assert!(check_outputs(&declared, json!({"score": 3})).is_ok());
        assert!(check_outputs(&declared, json!({"score": 3, "note": "x", "extra": 1})).is_ok());
        let missing = check_outputs(&declared, json!({"note": "x"})).unwrap_err();
        assert!(missing.contains("\"score\" is missing"), "{missing}");
        let mistyped = check_outputs(&declared, json!({"score": 1.5, "note": 2})).unwrap_err();
        assert!(
            mistyped.contains("\"score\" must be of type integer"),
            "{mistyped}"
        );
        assert!(
            mistyped.contains("\"note\" must be of type text"),
            "{mistyped}"
        );
        assert!(check_outputs(&[], json!([1])).is_err());
        assert!(check_outputs(&[], json!({})).is_ok());
    }
}
