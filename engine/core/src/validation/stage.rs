//! Checks of stages, their steps, and decisions.

use std::collections::{BTreeSet, HashMap};

use crate::catalog::{Catalog, FlowKind};
use crate::definition::{
    Assignee, Decision, InteractiveExit, Stage, StageExit, Step, StepEntry, StepKind,
};
use crate::plan::{
    ElementId, Exit, FaultOutlet, PlanAssignee, PlanDecision, PlanEntry, PlanStage, PlanStep,
    PlanStepKind,
};
use crate::run::Principal;

use super::flatten::valid_name;
use super::{Path, Problem, Segment, Validator};

impl<'a, C: Catalog> Validator<'a, C> {
    /// Checks a stage and builds its plan node.
    pub(super) fn stage(
        &mut self,
        stage: &Stage,
        id: ElementId,
        path: &Path,
        scope: Option<ElementId>,
    ) -> Option<PlanStage> {
        if stage.steps.is_empty() {
            self.report(path, Problem::EmptyStage);
        }
        let mut names = BTreeSet::new();
        for step in &stage.steps {
            let step_path = path.join(Segment::Step(step.name.clone()));
            if !valid_name(&step.name) {
                let name = step.name.clone();
                self.report(&step_path, Problem::InvalidName { name });
            }
            if !names.insert(step.name.as_str()) {
                let name = step.name.clone();
                self.report(&step_path, Problem::DuplicateStep { name });
            }
        }
        // Step name to index (first occurrence), so that `after_step` lookups
        // stay linear in the number of steps.
        let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(stage.steps.len());
        for (index, step) in stage.steps.iter().enumerate() {
            by_name.entry(step.name.as_str()).or_insert(index);
        }
        let steps: Vec<Option<PlanStep>> = stage
            .steps
            .iter()
            .map(|step| self.step(&by_name, step, &path.join(Segment::Step(step.name.clone()))))
            .collect();
        self.check_after_step_chains(stage, &by_name, path);
        let exit = match &stage.exit {
            StageExit::AllStepsCompleted => Some(Exit::Natural),
            StageExit::Requirements(r) => self
                .requirements(r, &path.join(Segment::Field("exit")))
                .map(Exit::Requirements),
            StageExit::EvaluationFlow(call) => self
                .evaluation(call, &path.join(Segment::Field("exit")))
                .map(Exit::Evaluation),
        };
        let next = self.connector(
            scope,
            stage.next.as_deref(),
            &path.join(Segment::Field("next")),
        );
        let fault_path = match &stage.fault_path {
            None => Some(None),
            Some(fault) => self
                .connector(
                    Some(id),
                    fault.next.as_deref(),
                    &path.join(Segment::FaultPath).join(Segment::Field("next")),
                )
                .map(|next| Some(FaultOutlet { next })),
        };
        Some(PlanStage {
            name: stage.name.clone(),
            steps: steps.into_iter().collect::<Option<Vec<_>>>()?,
            exit: exit?,
            next: next?,
            fault_path: fault_path?,
        })
    }

    fn step(
        &mut self,
        by_name: &HashMap<&str, usize>,
        step: &Step,
        path: &Path,
    ) -> Option<PlanStep> {
        let entry_path = path.join(Segment::Field("entry"));
        let entry = match &step.entry {
            StepEntry::StageStart => Some(PlanEntry::StageStart),
            StepEntry::AfterStep { step: other } => match by_name.get(other.as_str()) {
                Some(&index) => Some(PlanEntry::AfterStep(index)),
                None => {
                    let step = other.clone();
                    self.report(&entry_path, Problem::AfterUnknownStep { step });
                    None
                }
            },
            StepEntry::Requirements(r) => self
                .requirements(r, &entry_path)
                .map(PlanEntry::Requirements),
            StepEntry::EvaluationFlow(call) => self
                .evaluation(call, &entry_path)
                .map(PlanEntry::Evaluation),
        };
        let kind = self.step_kind(&step.kind, path);
        let inputs = self.operands(&step.inputs, path);
        let mut outputs = BTreeSet::new();
        for output in &step.outputs {
            if !outputs.insert(output.name.as_str()) {
                let name = output.name.clone();
                self.report(
                    &path.join(Segment::Output(name.clone())),
                    Problem::DuplicateOutput { name },
                );
            }
        }
        Some(PlanStep {
            name: step.name.clone(),
            entry: entry?,
            kind: kind?,
            inputs: inputs?,
            outputs: step.outputs.clone(),
        })
    }

    fn step_kind(&mut self, kind: &StepKind, path: &Path) -> Option<PlanStepKind> {
        match kind {
            StepKind::Background { flow } => self
                .flow(flow, FlowKind::Autolaunched, path)
                .then(|| PlanStepKind::Background { flow: flow.clone() }),
            StepKind::External { action } => {
                if self.catalog.has_action(action) {
                    Some(PlanStepKind::External {
                        action: action.clone(),
                    })
                } else {
                    let action = action.clone();
                    self.report(path, Problem::UnknownAction { action });
                    None
                }
            }
            StepKind::Interactive {
                flow,
                assignee,
                exit,
            } => {
                let flow_ok = self.flow(flow, FlowKind::Screen, path);
                let assignee = self.assignee(assignee, &path.join(Segment::Field("assignee")));
                let exit_path = path.join(Segment::Field("exit"));
                let exit = match exit {
                    InteractiveExit::ScreenCompleted => Some(Exit::Natural),
                    InteractiveExit::Requirements(r) => {
                        self.requirements(r, &exit_path).map(Exit::Requirements)
                    }
                    InteractiveExit::EvaluationFlow(call) => {
                        self.evaluation(call, &exit_path).map(Exit::Evaluation)
                    }
                };
                flow_ok.then_some(())?;
                Some(PlanStepKind::Interactive {
                    flow: flow.clone(),
                    assignee: assignee?,
                    exit: exit?,
                })
            }
        }
    }

    fn assignee(&mut self, assignee: &Assignee, path: &Path) -> Option<PlanAssignee> {
        let fixed = |principal: Principal, id: &str| (!id.is_empty()).then_some(principal);
        let result = match assignee {
            Assignee::User(id) => fixed(Principal::User(id.clone()), id),
            Assignee::Group(id) => fixed(Principal::Group(id.clone()), id),
            Assignee::Queue(id) => fixed(Principal::Queue(id.clone()), id),
            Assignee::Ref(text) => return self.reference(text, path).map(PlanAssignee::Ref),
        };
        if result.is_none() {
            self.report(path, Problem::EmptyAssignee);
        }
        result.map(PlanAssignee::Fixed)
    }

    /// Reports steps whose `after_step` chain loops back before reaching a step that starts
    /// otherwise: their entry can never be met. (Unknown steps are reported by the entry check.)
    ///
    /// Each step waits on at most one other, so the chains form a functional graph: one walk
    /// per unvisited step, remembering where each step's chain ends, is linear overall.
    fn check_after_step_chains(
        &mut self,
        stage: &Stage,
        by_name: &HashMap<&str, usize>,
        path: &Path,
    ) {
        let waits_on: Vec<Option<usize>> = stage
            .steps
            .iter()
            .map(|s| match &s.entry {
                StepEntry::AfterStep { step } => by_name.get(step.as_str()).copied(),
                _ => None,
            })
            .collect();
        #[derive(Clone, Copy, PartialEq)]
        enum Chain {
            Unknown,
            Walking,
            Ends,
            Loops,
        }
        let mut chain = vec![Chain::Unknown; waits_on.len()];
        for start in 0..waits_on.len() {
            let mut walked = Vec::new();
            let mut current = Some(start);
            let outcome = loop {
                let Some(at) = current else { break Chain::Ends };
                match chain[at] {
                    Chain::Unknown => {
                        chain[at] = Chain::Walking;
                        walked.push(at);
                        current = waits_on[at];
                    }
                    Chain::Walking => break Chain::Loops,
                    known => break known,
                }
            };
            for at in walked {
                chain[at] = outcome;
            }
        }
        let name = |i: usize| stage.steps.get(i).map_or("?", |s| s.name.as_str());
        for start in (0..waits_on.len()).filter(|&i| chain[i] == Chain::Loops) {
            self.report(
                &path
                    .join(Segment::Step(name(start).to_owned()))
                    .join(Segment::Field("entry")),
                Problem::EntryNeverMet {
                    chain: loop_text(start, &waits_on, name),
                },
            );
        }
    }

    /// Checks a decision and builds its plan node.
    pub(super) fn decision(
        &mut self,
        decision: &Decision,
        path: &Path,
        scope: Option<ElementId>,
    ) -> Option<PlanDecision> {
        let mut names = BTreeSet::new();
        let mut outcomes = Some(Vec::with_capacity(decision.outcomes.len()));
        for outcome in &decision.outcomes {
            let path = path.join(Segment::Outcome(outcome.name.clone()));
            if !names.insert(outcome.name.as_str()) {
                let name = outcome.name.clone();
                self.report(&path, Problem::DuplicateOutcome { name });
            }
            let when = self.requirements(&outcome.when, &path.join(Segment::Field("when")));
            let next = self.connector(
                scope,
                outcome.next.as_deref(),
                &path.join(Segment::Field("next")),
            );
            match (when, next, outcomes.as_mut()) {
                (Some(when), Some(next), Some(list)) => list.push((when, next)),
                _ => outcomes = None,
            }
        }
        let default = match &decision.default {
            Some(default) => self.connector(
                scope,
                default.next.as_deref(),
                &path.join(Segment::Field("default")),
            ),
            None => {
                self.report(path, Problem::NoDefault);
                None
            }
        };
        Some(PlanDecision {
            outcomes: outcomes?,
            default: default?,
        })
    }
}

/// The chain from `start` until a step repeats, as `a → b → a`; long ones
/// are cut after [`SHOWN_IN_CHAIN`] steps.
fn loop_text<'n>(
    start: usize,
    waits_on: &[Option<usize>],
    name: impl Fn(usize) -> &'n str,
) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut current = Some(start);
    while let Some(at) = current {
        if names.len() == SHOWN_IN_CHAIN {
            names.push("…");
            break;
        }
        names.push(name(at));
        if !seen.insert(at) {
            break;
        }
        current = waits_on.get(at).copied().flatten();
    }
    names.join(" → ")
}

/// Steps named in the text of a looping `after_step` chain, at most.
const SHOWN_IN_CHAIN: usize = 12;
