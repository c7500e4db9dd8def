//! Events reporting the results of actions: flows, actions, work items, evaluations.

use serde_json::Value;

use crate::event::{Actor, FlowFailure, Unavailability};
use crate::plan::PlanStepKind;
use crate::run::{
    Closure, ErrorKind, EvalRequestId, EvalTarget, FailedEvaluation, PendingResult, Principal,
    RunStatus, StepKey, StepStatus, WorkItemId, WorkItemStatus,
};

use super::{Ctx, EventError, Trigger};

/// Which step kind a result is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ResultKind {
    Flow,
    Action,
}

impl Ctx<'_> {
    /// Refuses events for runs that are over.
    fn ensure_live(&self) -> Result<(), EventError> {
        let status = self.run.status;
        if status.is_final() {
            return Err(EventError::RunFinished { status });
        }
        Ok(())
    }

    fn ensure_in_progress(&self) -> Result<(), EventError> {
        self.ensure_live()?;
        match self.run.status {
            RunStatus::InProgress => Ok(()),
            status => Err(EventError::NotInProgress { status }),
        }
    }

    /// Finds the step `key` names in the current stage run.
    fn locate(&self, key: &StepKey) -> Result<(usize, usize), EventError> {
        let unknown = || EventError::UnknownStep { step: key.clone() };
        let stage = self.run.stages.get(key.stage_run).ok_or_else(unknown)?;
        if stage.stage != key.stage {
            return Err(unknown());
        }
        let index = stage
            .steps
            .iter()
            .position(|s| s.name == key.step)
            .ok_or_else(unknown)?;
        if self.run.current != Some(key.stage_run) {
            return Err(EventError::StepNotCurrent { step: key.clone() });
        }
        Ok((key.stage_run, index))
    }

    pub(super) fn flow_finished(
        &mut self,
        key: &StepKey,
        attempt: u32,
        flow_version: u32,
        result: Result<Value, FlowFailure>,
    ) -> Result<(), EventError> {
        let pending = PendingResult::Flow {
            flow_version,
            result,
        };
        self.step_result(key, attempt, ResultKind::Flow, pending)
    }

    pub(super) fn action_finished(
        &mut self,
        key: &StepKey,
        attempt: u32,
        result: Result<Value, String>,
    ) -> Result<(), EventError> {
        self.step_result(
            key,
            attempt,
            ResultKind::Action,
            PendingResult::Action { result },
        )
    }

    /// A background or external step's result: processed now, or kept as pending outputs
    /// while the run is Suspended, or (outputs only) for a Discontinued step of a failed run.
    fn step_result(
        &mut self,
        key: &StepKey,
        attempt: u32,
        kind: ResultKind,
        result: PendingResult,
    ) -> Result<(), EventError> {
        self.ensure_live()?;
        let (cur, index) = self.locate(key)?;
        let expected = match (kind, &self.plan_step(cur, index)?.kind) {
            (ResultKind::Flow, PlanStepKind::Background { .. })
            | (ResultKind::Action, PlanStepKind::External { .. }) => None,
            (ResultKind::Flow, _) => Some("background"),
            (ResultKind::Action, _) => Some("external action"),
        };
        if let Some(expected) = expected {
            return Err(EventError::WrongStepKind {
                step: key.clone(),
                expected,
            });
        }
        let step = self.step_run_mut(cur, index)?;
        if step.attempt != attempt {
            return Err(EventError::StaleAttempt {
                step: key.clone(),
                expected: step.attempt,
                got: attempt,
            });
        }
        if step.pending.is_some() || step.status == StepStatus::Completed {
            return Err(EventError::AlreadyRecorded { step: key.clone() });
        }
        let step_status = step.status;
        let succeeded = match &result {
            PendingResult::Flow { result, .. } | PendingResult::Screen { result } => result.is_ok(),
            PendingResult::Action { result } => result.is_ok(),
        };
        match (self.run.status, step_status) {
            (RunStatus::InProgress, StepStatus::InProgress) => {
                self.apply_result(cur, index, result)
            }
            (RunStatus::Suspended, StepStatus::InProgress) => {
                self.step_run_mut(cur, index)?.pending = Some(result);
                Ok(())
            }
            // Pending outputs: kept so that resume processes them instead of rerunning the
            // step. A failure of a discontinued step is not kept: resume reruns it anyway.
            (RunStatus::Error, StepStatus::Discontinued) if succeeded => {
                self.step_run_mut(cur, index)?.pending = Some(result);
                Ok(())
            }
            (_, status) => Err(EventError::NotAwaitingResult {
                step: key.clone(),
                status,
            }),
        }
    }

    pub(super) fn work_item_completed(
        &mut self,
        id: &WorkItemId,
        by: &Actor,
        answers: Value,
        result: Result<Value, FlowFailure>,
    ) -> Result<(), EventError> {
        self.ensure_live()?;
        let (cur, index, assignee) = self.open_work_item(id)?;
        if !by.may_work_on(&assignee) {
            return Err(EventError::NotAssignee {
                user: by.user.clone(),
                assignee,
            });
        }
        let status = self.run.status;
        if status == RunStatus::Error {
            return Err(EventError::NotInProgress { status });
        }
        let now = self.now;
        if let Some(item) = self.run.work_items.iter_mut().find(|w| &w.id == id) {
            item.status = WorkItemStatus::Completed;
            item.closed_at = Some(now);
            item.closed_by = Some(Closure::User {
                user: by.user.clone(),
            });
            item.answers = (crate::value_depth(&answers) <= crate::MAX_VALUE_DEPTH
                && !answers.is_null())
            .then_some(answers);
        }
        let result = PendingResult::Screen { result };
        if status == RunStatus::Suspended {
            self.step_run_mut(cur, index)?.pending = Some(result);
            return Ok(());
        }
        self.apply_result(cur, index, result)
    }

    /// The Assigned work item `id` of an In Progress step of the current stage run.
    fn open_work_item(&self, id: &WorkItemId) -> Result<(usize, usize, Principal), EventError> {
        let item = self
            .run
            .work_items
            .iter()
            .find(|w| &w.id == id)
            .ok_or_else(|| EventError::UnknownWorkItem {
                work_item: id.clone(),
            })?;
        let closed = || EventError::WorkItemClosed {
            work_item: id.clone(),
        };
        if item.status != WorkItemStatus::Assigned {
            return Err(closed());
        }
        let (cur, index) = self.locate(&item.step).map_err(|_| closed())?;
        let step = self.stage_run(cur)?.steps.get(index).ok_or_else(closed)?;
        if step.status != StepStatus::InProgress || step.attempt != item.attempt {
            return Err(closed());
        }
        Ok((cur, index, item.assignee.clone()))
    }

    pub(super) fn assignee_unavailable(
        &mut self,
        id: &WorkItemId,
        reason: Unavailability,
    ) -> Result<(), EventError> {
        self.ensure_in_progress()?;
        let (_, index, assignee) = self.open_work_item(id)?;
        let message = format!("assignee {assignee} is {reason}");
        self.fail(Some(index), ErrorKind::AssigneeUnavailable(reason), message)
    }

    pub(super) fn evaluation_finished(
        &mut self,
        request: EvalRequestId,
        result: Result<bool, FlowFailure>,
    ) -> Result<(), EventError> {
        self.ensure_live()?;
        let position = self
            .run
            .evaluations
            .iter()
            .position(|e| e.request == request)
            .ok_or(EventError::UnknownEvaluation { request })?;
        self.ensure_in_progress()?;
        let pending = self.run.evaluations.remove(position);
        let cur = pending.stage_run;
        if self.run.current != Some(cur) {
            return Err(EventError::UnknownEvaluation { request });
        }
        let step = match &pending.target {
            EvalTarget::StageExit => None,
            EvalTarget::StepEntry { step } | EvalTarget::StepExit { step } => Some(
                self.stage_run(cur)?
                    .steps
                    .iter()
                    .position(|s| &s.name == step)
                    .ok_or_else(|| EventError::inconsistent(format!("no step {step:?}")))?,
            ),
        };
        let met = match result {
            Ok(met) => met,
            Err(failure) => {
                let evaluation = FailedEvaluation {
                    target: pending.target,
                    inputs: pending.inputs,
                };
                return self.fail_evaluation(
                    step,
                    ErrorKind::Evaluation(failure.kind),
                    failure.message,
                    pending.flow,
                    evaluation,
                );
            }
        };
        if !met {
            return Ok(());
        }
        let status = |ctx: &Self, index: usize| {
            ctx.stage_run(cur)
                .ok()
                .and_then(|s| s.steps.get(index))
                .map(|s: &crate::run::StepRun| s.status)
        };
        match (&pending.target, step) {
            (EvalTarget::StageExit, _) => {
                let stage = self.plan_stage(cur)?;
                self.complete_stage(cur, stage)
            }
            (EvalTarget::StepEntry { .. }, Some(index))
                if status(self, index) == Some(StepStatus::NotStarted) =>
            {
                self.start_step(cur, index)
            }
            (EvalTarget::StepExit { .. }, Some(index))
                if status(self, index) == Some(StepStatus::InProgress) =>
            {
                self.complete_step(cur, index, None)
            }
            _ => Ok(()),
        }
    }

    pub(super) fn event_published(&mut self) -> Result<(), EventError> {
        self.ensure_in_progress()?;
        self.trigger(Trigger::EventPublished);
        Ok(())
    }
}
