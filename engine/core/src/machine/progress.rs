//! Sequencing: entering elements, conditions, completing stages and the run.

use crate::action::Action;
use crate::plan::{
    ElementId, Exit, PlanDecision, PlanEntry, PlanEvaluation, PlanNode, PlanStage, PlanStepKind,
};
use crate::run::{
    ErrorKind, EvalRequestId, EvalTarget, MilestoneKind, MilestoneRecord, PendingEvaluation,
    RunStatus, SYSTEM_PRINCIPAL, StageRun, StageStatus, StepKey, StepRun, StepStatus,
};

use super::resolve::{map_inputs, resolve};
use super::{Ctx, EventError, Trigger};

impl Ctx<'_> {
    /// Advances the current stage until it waits for work: starts eligible steps, completes
    /// steps and stages whose conditions hold, and on a trigger issues evaluation requests.
    pub(super) fn settle(&mut self) -> Result<(), EventError> {
        loop {
            let Some(cur) = self.active_stage() else {
                return Ok(());
            };
            let stage = self.plan_stage(cur)?;
            if self.start_eligible_step(cur, stage)? || self.complete_satisfied_step(cur, stage)? {
                continue;
            }
            if self.stage_exit_met(cur, stage)? {
                self.complete_stage(cur, stage)?;
                continue;
            }
            if self.trigger.take().is_none() {
                return Ok(());
            }
            self.issue_evaluations(cur, stage)?;
        }
    }

    /// The current stage run, when the run and it are In Progress.
    fn active_stage(&self) -> Option<usize> {
        if self.run.status != RunStatus::InProgress {
            return None;
        }
        let cur = self.run.current?;
        (self.run.stages.get(cur)?.status == StageStatus::InProgress).then_some(cur)
    }

    fn condition_met(&self, requirements: &crate::requirement::PlanRequirements) -> bool {
        requirements.met(&|reference| resolve(&self.run, reference))
    }

    /// Starts the first Not Started step whose entry condition holds.
    fn start_eligible_step(&mut self, cur: usize, stage: &PlanStage) -> Result<bool, EventError> {
        let steps = &self.stage_run(cur)?.steps;
        let eligible = stage.steps.iter().enumerate().position(|(i, step)| {
            steps
                .get(i)
                .is_some_and(|s| s.status == StepStatus::NotStarted)
                && match &step.entry {
                    PlanEntry::StageStart => true,
                    PlanEntry::AfterStep(j) => steps
                        .get(*j)
                        .is_some_and(|s| s.status == StepStatus::Completed),
                    PlanEntry::Requirements(requirements) => self.condition_met(requirements),
                    PlanEntry::Evaluation(_) => false,
                }
        });
        match eligible {
            Some(index) => {
                self.start_step(cur, index)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Completes the first In Progress interactive step whose requirements exit holds.
    fn complete_satisfied_step(
        &mut self,
        cur: usize,
        stage: &PlanStage,
    ) -> Result<bool, EventError> {
        let steps = &self.stage_run(cur)?.steps;
        let satisfied = stage.steps.iter().enumerate().position(|(i, step)| {
            steps
                .get(i)
                .is_some_and(|s| s.status == StepStatus::InProgress)
                && matches!(&step.kind, PlanStepKind::Interactive {
                    exit: Exit::Requirements(requirements),
                    ..
                } if self.condition_met(requirements))
        });
        match satisfied {
            Some(index) => {
                self.complete_step(cur, index, None)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn stage_exit_met(&self, cur: usize, stage: &PlanStage) -> Result<bool, EventError> {
        Ok(match &stage.exit {
            Exit::Natural => self
                .stage_run(cur)?
                .steps
                .iter()
                .all(|s| s.status == StepStatus::Completed),
            Exit::Requirements(requirements) => self.condition_met(requirements),
            Exit::Evaluation(_) => false,
        })
    }

    /// Completes stage run `cur`: In Progress steps are Discontinued, their work items closed;
    /// then the run moves on.
    pub(super) fn complete_stage(
        &mut self,
        cur: usize,
        stage: &PlanStage,
    ) -> Result<(), EventError> {
        self.stop_steps(cur, StepStatus::Discontinued, "stage completed")?;
        let now = self.now;
        let stage_run = self.stage_run_mut(cur)?;
        stage_run.status = StageStatus::Completed;
        stage_run.ended_at = Some(now);
        self.stage_milestone(cur, MilestoneKind::EndStage);
        self.run.current = None;
        self.advance(stage.next)
    }

    /// Sets every In Progress step of stage run `cur` to `status` (Discontinue Step), closes
    /// its Assigned work items, and drops its awaited evaluations.
    pub(super) fn stop_steps(
        &mut self,
        cur: usize,
        status: StepStatus,
        reason: &str,
    ) -> Result<(), EventError> {
        let count = self.stage_run(cur)?.steps.len();
        for index in 0..count {
            let now = self.now;
            let step = self.step_run_mut(cur, index)?;
            if step.status == StepStatus::InProgress {
                step.status = status;
                step.ended_at = Some(now);
                self.step_milestone(cur, index, MilestoneKind::DiscontinueStep);
            }
        }
        self.close_work_items(cur, None, reason);
        self.run.evaluations.retain(|e| e.stage_run != cur);
        Ok(())
    }

    /// Runs the element `target` and what follows it up to the next stage; `None` ends the run.
    pub(super) fn advance(&mut self, mut target: Option<ElementId>) -> Result<(), EventError> {
        // Validation forbids loops of decisions, so this visits each element at most once.
        for _ in 0..=self.plan.element_count() {
            let Some(id) = target else {
                self.complete_run();
                return Ok(());
            };
            let element = self
                .plan
                .element(id)
                .ok_or_else(|| EventError::inconsistent(format!("no element {id}")))?;
            match &element.node {
                PlanNode::End => {
                    self.complete_run();
                    return Ok(());
                }
                PlanNode::Stage(stage) => return self.enter_stage(stage),
                PlanNode::Decision(decision) => target = self.decide(decision),
            }
        }
        Err(EventError::inconsistent("decisions loop".to_owned()))
    }

    /// The first outcome whose requirements are met, else the default (C-DECISION).
    fn decide(&self, decision: &PlanDecision) -> Option<ElementId> {
        decision
            .outcomes
            .iter()
            .find(|(when, _)| self.condition_met(when))
            .map_or(decision.default, |(_, next)| *next)
    }

    fn enter_stage(&mut self, stage: &PlanStage) -> Result<(), EventError> {
        let cur = self.run.stages.len();
        self.run.stages.push(StageRun {
            stage: stage.name.clone(),
            status: StageStatus::InProgress,
            owner: SYSTEM_PRINCIPAL.to_owned(),
            started_at: self.now,
            ended_at: None,
            steps: stage
                .steps
                .iter()
                .map(|s| StepRun::not_started(&s.name))
                .collect(),
        });
        self.run.current = Some(cur);
        self.stage_milestone(cur, MilestoneKind::StartStage);
        self.trigger(Trigger::StageEntered);
        self.stage_entries += 1;
        if self.stage_entries > self.plan.limits().max_stage_entries_per_event {
            let message = format!(
                "more than {} stages entered without waiting for any work",
                self.plan.limits().max_stage_entries_per_event
            );
            self.fail(None, ErrorKind::Looping, message)?;
        }
        Ok(())
    }

    fn complete_run(&mut self) {
        self.run.status = RunStatus::Completed;
        self.run.current = None;
        self.run.evaluations.clear();
        self.milestone(MilestoneRecord::Run, MilestoneKind::EndRun);
    }

    /// Issues an evaluation request for every open condition decided by an evaluation flow,
    /// superseding earlier requests of this stage run.
    fn issue_evaluations(&mut self, cur: usize, stage: &PlanStage) -> Result<(), EventError> {
        self.run.evaluations.retain(|e| e.stage_run != cur);
        let steps = self.stage_run(cur)?.steps.clone();
        for (index, (plan_step, step)) in stage.steps.iter().zip(&steps).enumerate() {
            let target = match (&plan_step.entry, &plan_step.kind, step.status) {
                (PlanEntry::Evaluation(call), _, StepStatus::NotStarted) => Some((
                    EvalTarget::StepEntry {
                        step: step.name.clone(),
                    },
                    call,
                )),
                (
                    _,
                    PlanStepKind::Interactive {
                        exit: Exit::Evaluation(call),
                        ..
                    },
                    StepStatus::InProgress,
                ) => Some((
                    EvalTarget::StepExit {
                        step: step.name.clone(),
                    },
                    call,
                )),
                _ => None,
            };
            if let Some((target, call)) = target
                && !self.evaluate(cur, Some(index), target, call)?
            {
                return Ok(());
            }
        }
        if let Exit::Evaluation(call) = &stage.exit {
            self.evaluate(cur, None, EvalTarget::StageExit, call)?;
        }
        Ok(())
    }

    /// Requests one evaluation; `false` when preparing its inputs failed the stage.
    fn evaluate(
        &mut self,
        cur: usize,
        step: Option<usize>,
        target: EvalTarget,
        call: &PlanEvaluation,
    ) -> Result<bool, EventError> {
        let inputs = match map_inputs(&self.run, &call.inputs) {
            Ok(inputs) => inputs,
            Err(message) => {
                self.fail(step, ErrorKind::InputMapping, message)?;
                return Ok(false);
            }
        };
        self.run.evaluations_issued += 1;
        let request = EvalRequestId(self.run.evaluations_issued);
        self.run.evaluations.push(PendingEvaluation {
            request,
            stage_run: cur,
            target: target.clone(),
            flow: call.flow.clone(),
            inputs: inputs.clone(),
        });
        self.actions.push(Action::Evaluate {
            request,
            target,
            flow: call.flow.clone(),
            inputs,
        });
        Ok(true)
    }

    /// The key actions and events use for step `index` of stage run `cur`.
    pub(super) fn step_key(&self, cur: usize, index: usize) -> Result<StepKey, EventError> {
        let stage = self.stage_run(cur)?;
        let step = stage
            .steps
            .get(index)
            .ok_or_else(|| EventError::inconsistent(format!("no step {index}")))?;
        Ok(StepKey {
            stage: stage.stage.clone(),
            stage_run: cur,
            step: step.name.clone(),
        })
    }
}
