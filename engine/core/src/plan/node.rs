//! Typed, indexed elements of a [`super::Plan`]: connectors are element ids, references parsed.

use crate::definition::OutputSpec;
use crate::reference::Reference;
use crate::requirement::PlanRequirements;
use crate::run::Principal;

use super::ElementId;

/// An element with its name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanElement {
    pub name: String,
    pub node: PlanNode,
}

/// What an element does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PlanNode {
    Stage(PlanStage),
    Decision(PlanDecision),
    End,
}

/// A validated stage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanStage {
    pub name: String,
    pub steps: Vec<PlanStep>,
    /// `Natural` means all steps completed.
    pub exit: Exit,
    pub next: Option<ElementId>,
    pub fault_path: Option<FaultOutlet>,
}

/// A stage's fault outlet: where the run goes when the stage errors (none ends the run).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultOutlet {
    pub next: Option<ElementId>,
}

/// A validated decision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanDecision {
    pub outcomes: Vec<(PlanRequirements, Option<ElementId>)>,
    pub default: Option<ElementId>,
}

/// A validated step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanStep {
    pub name: String,
    pub entry: PlanEntry,
    pub kind: PlanStepKind,
    pub inputs: Vec<(String, Operand)>,
    pub outputs: Vec<OutputSpec>,
}

/// When a step starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PlanEntry {
    StageStart,
    /// Index of the step, in the same stage, that must be Completed.
    AfterStep(usize),
    Requirements(PlanRequirements),
    Evaluation(PlanEvaluation),
}

/// An exit condition of a stage or an interactive step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exit {
    /// Stage: all steps completed. Interactive step: the screen flow was completed.
    Natural,
    Requirements(PlanRequirements),
    Evaluation(PlanEvaluation),
}

/// What a step runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PlanStepKind {
    Background {
        flow: String,
    },
    Interactive {
        flow: String,
        assignee: PlanAssignee,
        exit: Exit,
    },
    External {
        action: String,
    },
}

/// An interactive step's assignee.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PlanAssignee {
    Fixed(Principal),
    Ref(Reference),
}

/// A validated evaluation flow call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanEvaluation {
    pub flow: String,
    pub inputs: Vec<(String, Operand)>,
}

/// A validated [`crate::definition::Expr`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Ref(Reference),
    Value(serde_json::Value),
}
