//! Manual actions: suspend, resume (with SPEC's resume table) and cancel.

use jiff::Timestamp;

use crate::run::{MilestoneKind, MilestoneRecord, RunStatus, StageStatus, StepStatus};

use super::{Ctx, EventError, Trigger};

impl Ctx<'_> {
    /// Suspends an In Progress run and its stage; awaited evaluations are dropped (conditions
    /// are re-evaluated on resume).
    pub(super) fn suspend(&mut self) -> Result<(), EventError> {
        let status = self.run.status;
        let cur = match (status, self.run.current) {
            (RunStatus::InProgress, Some(cur)) => cur,
            _ => return Err(EventError::CannotSuspend { status }),
        };
        self.run.status = RunStatus::Suspended;
        self.stage_run_mut(cur)?.status = StageStatus::Suspended;
        self.run.evaluations.clear();
        self.milestone(MilestoneRecord::Run, MilestoneKind::SuspendRun);
        self.stage_milestone(cur, MilestoneKind::SuspendStage);
        Ok(())
    }

    /// Resumes a Suspended run, or a run in Error whose error is recoverable and whose
    /// recovery window is open.
    pub(super) fn resume(&mut self) -> Result<(), EventError> {
        let status = self.run.status;
        let cur = match (status, self.run.current) {
            (RunStatus::Suspended | RunStatus::Error, Some(cur)) => cur,
            _ => return Err(EventError::CannotResume { status }),
        };
        if status == RunStatus::Error {
            self.check_recoverable()?;
        }
        self.run.status = RunStatus::InProgress;
        self.run.error = None;
        let stage_run = self.stage_run_mut(cur)?;
        stage_run.status = StageStatus::InProgress;
        stage_run.ended_at = None;
        self.milestone(MilestoneRecord::Run, MilestoneKind::ResumeRun);
        self.milestone(MilestoneRecord::Run, MilestoneKind::StartRun);
        self.stage_milestone(cur, MilestoneKind::StartStage);
        self.trigger(Trigger::Resumed);
        let count = self.stage_run(cur)?.steps.len();
        for index in 0..count {
            if self.run.status != RunStatus::InProgress || self.run.current != Some(cur) {
                break;
            }
            self.resume_step(cur, index)?;
        }
        Ok(())
    }

    /// Applies the resume table to one step: pending results are processed; errored or
    /// discontinued steps restart (interactive ones with a replacement work item).
    fn resume_step(&mut self, cur: usize, index: usize) -> Result<(), EventError> {
        let step = self.step_run_mut(cur, index)?;
        let pending = step.pending.take();
        match (step.status, pending) {
            (StepStatus::InProgress | StepStatus::Discontinued, Some(result)) => {
                self.apply_result(cur, index, result)
            }
            // An entry condition's evaluation failed before the step ever ran: it waits again.
            (StepStatus::Error, _) if step.attempt == 0 => {
                step.status = StepStatus::NotStarted;
                step.error = None;
                step.ended_at = None;
                Ok(())
            }
            (StepStatus::Error | StepStatus::Discontinued, _) => self.start_step(cur, index),
            (StepStatus::NotStarted | StepStatus::InProgress | StepStatus::Completed, _) => Ok(()),
        }
    }

    fn check_recoverable(&self) -> Result<(), EventError> {
        let Some(error) = &self.run.error else {
            return Err(EventError::inconsistent(
                "run in Error without an error".to_owned(),
            ));
        };
        if !error.recoverable() {
            return Err(EventError::NotRecoverable {
                kind: error.kind.clone(),
                message: error.message.clone(),
            });
        }
        // A window too large to represent never closes.
        let deadline = error
            .at
            .checked_add(self.plan.limits().recovery_window)
            .unwrap_or(Timestamp::MAX);
        if self.now > deadline {
            return Err(EventError::WindowExpired {
                error_at: error.at,
                deadline,
            });
        }
        Ok(())
    }

    /// Cancels a run that is In Progress, Suspended or in Error; its running stage is
    /// Canceled (Discontinue Stage), running steps Discontinued, work items closed.
    pub(super) fn cancel(&mut self) -> Result<(), EventError> {
        let status = self.run.status;
        if !matches!(
            status,
            RunStatus::InProgress | RunStatus::Suspended | RunStatus::Error
        ) {
            return Err(EventError::CannotCancel { status });
        }
        self.run.status = RunStatus::Canceled;
        self.milestone(MilestoneRecord::Run, MilestoneKind::CancelRun);
        if let Some(cur) = self.run.current.take()
            && matches!(
                self.stage_run(cur)?.status,
                StageStatus::InProgress | StageStatus::Suspended
            )
        {
            self.stop_steps(cur, StepStatus::Discontinued, "run canceled")?;
            let now = self.now;
            let stage_run = self.stage_run_mut(cur)?;
            stage_run.status = StageStatus::Canceled;
            stage_run.ended_at = Some(now);
            self.stage_milestone(cur, MilestoneKind::DiscontinueStage);
        }
        self.run.evaluations.clear();
        Ok(())
    }
}
