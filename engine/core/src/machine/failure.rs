//! Errors: the error table of SPEC §3, and fault paths.

use crate::run::{
    ErrorKind, FailedEvaluation, FailedFlow, MilestoneKind, MilestoneRecord, RunError, RunStatus,
    StageStatus, StepStatus,
};

use super::{Ctx, EventError};

impl Ctx<'_> {
    /// Fails the current stage (and its step `step`, if given). Errored step and stage go to
    /// Error, other In Progress steps to Discontinued, Assigned work items to Completed. With a
    /// fault path the run goes on there; without one the run goes to Error.
    pub(super) fn fail(
        &mut self,
        step: Option<usize>,
        kind: ErrorKind,
        message: String,
    ) -> Result<(), EventError> {
        self.fail_with(step, kind, message, None)
    }

    /// [`Ctx::fail`] for an evaluation flow that failed deciding `evaluation`.
    pub(super) fn fail_evaluation(
        &mut self,
        step: Option<usize>,
        kind: ErrorKind,
        message: String,
        flow: String,
        evaluation: FailedEvaluation,
    ) -> Result<(), EventError> {
        let flow = FailedFlow {
            name: flow,
            version: None,
            evaluation: Some(evaluation),
        };
        self.fail_with(step, kind, message, Some(flow))
    }

    fn fail_with(
        &mut self,
        step: Option<usize>,
        kind: ErrorKind,
        message: String,
        mut flow: Option<FailedFlow>,
    ) -> Result<(), EventError> {
        let cur = self
            .run
            .current
            .ok_or_else(|| EventError::inconsistent("an error outside any stage".to_owned()))?;
        let stage = self.plan_stage(cur)?;
        let now = self.now;
        let mut step_name = None;
        if let Some(index) = step {
            let step_run = self.step_run_mut(cur, index)?;
            step_run.status = StepStatus::Error;
            step_run.error = Some(message.clone());
            step_run.ended_at = Some(now);
            let version = step_run.flow_version;
            let name = step_run.name.clone();
            if matches!(kind, ErrorKind::Flow(_))
                && let Some((_, flow_name)) = self.plan.step_flow(&stage.name, &name)
            {
                flow = Some(FailedFlow {
                    name: flow_name.to_owned(),
                    version,
                    evaluation: None,
                });
            }
            step_name = Some(name);
            self.step_milestone(cur, index, MilestoneKind::FailStep);
        }
        self.stop_steps(cur, StepStatus::Discontinued, "stage failed")?;
        let stage_run = self.stage_run_mut(cur)?;
        stage_run.status = StageStatus::Error;
        stage_run.ended_at = Some(now);
        let error = RunError {
            at: now,
            stage: stage_run.stage.clone(),
            stage_run: cur,
            step: step_name,
            kind,
            message,
            flow,
        };
        self.stage_milestone(cur, MilestoneKind::FailStage);
        // A looping orchestration is not handed to a fault path: it would loop again.
        match &stage.fault_path {
            Some(outlet) if error.kind != ErrorKind::Looping => {
                self.run.handled_errors.push(error);
                self.run.current = None;
                self.advance(outlet.next)
            }
            _ => {
                self.run.status = RunStatus::Error;
                self.run.error = Some(error);
                self.milestone(MilestoneRecord::Run, MilestoneKind::FailRun);
                Ok(())
            }
        }
    }
}
