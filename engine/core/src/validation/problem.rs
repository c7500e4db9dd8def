//! The problems validation reports, each saying what to fix.

use crate::catalog::FlowKind;
use crate::reference::ReferenceError;
use crate::requirement::{LogicError, MAX_CONDITIONS};

/// A problem of a definition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// The `format` field names a version this engine does not read.
    #[error("format {found} is not supported; set \"format\": 1")]
    UnsupportedFormat {
        /// The version found.
        found: u32,
    },
    /// The definition is larger than the engine accepts (see [`super::MAX_ELEMENTS`],
    /// [`super::MAX_STEPS_PER_STAGE`], [`super::MAX_FAULT_PATH_NESTING`]).
    #[error("{what}: {count}, at most {max} allowed; split the orchestration")]
    TooLarge {
        /// What is counted.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The main path has no stage (C-STAGE-MIN).
    #[error("an orchestration needs at least one stage on its main path; add a stage")]
    NoStage,
    /// A stage without steps.
    #[error("a stage needs at least one step; add a step or remove the stage")]
    EmptyStage,
    /// A name that cannot be referenced.
    #[error("name {name:?} is invalid: names must be non-empty and contain no `.`")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// Two elements (fault paths included) share a name.
    #[error("another element is already called {name:?}; element names must be unique")]
    DuplicateElement {
        /// The name.
        name: String,
    },
    /// Two steps of a stage share a name.
    #[error("another step of this stage is already called {name:?}; rename one")]
    DuplicateStep {
        /// The name.
        name: String,
    },
    /// Two input variables share a name.
    #[error("input variable {name:?} is declared twice; remove one")]
    DuplicateInput {
        /// The name.
        name: String,
    },
    /// Two outcomes of a decision share a name.
    #[error("another outcome of this decision is already called {name:?}; rename one")]
    DuplicateOutcome {
        /// The name.
        name: String,
    },
    /// Two declared outputs of a step share a name.
    #[error("output {name:?} is declared twice; remove one")]
    DuplicateOutput {
        /// The name.
        name: String,
    },
    /// A reference that does not parse.
    #[error(transparent)]
    BadReference(ReferenceError),
    /// A reference to an undeclared input variable.
    #[error("no input variable is called {name:?}; declare it under \"inputs\" or fix the name")]
    UnknownInput {
        /// The variable.
        name: String,
    },
    /// A reference to a stage that does not exist.
    #[error("no stage is called {name:?}; reference an existing stage")]
    UnknownStage {
        /// The stage.
        name: String,
    },
    /// A reference to a step that does not exist.
    #[error("stage {stage:?} has no step {step:?}; reference an existing step")]
    UnknownStep {
        /// The stage.
        stage: String,
        /// The step.
        step: String,
    },
    /// A reference to an output the step does not declare.
    #[error(
        "step {stage:?}.{step:?} declares no output {output:?}; declare it in the step's \"outputs\" or fix the name"
    )]
    UnknownOutput {
        /// The stage.
        stage: String,
        /// The step.
        step: String,
        /// The output.
        output: String,
    },
    /// A flow that is not deployed.
    #[error("no flow {flow:?} is deployed; deploy it first or fix the name")]
    UnknownFlow {
        /// The flow.
        flow: String,
    },
    /// A flow of the wrong kind for its use.
    #[error("flow {flow:?} is of kind {found} but this needs a flow of kind {expected}")]
    WrongFlowKind {
        /// The flow.
        flow: String,
        /// The kind needed here.
        expected: FlowKind,
        /// The kind deployed.
        found: FlowKind,
    },
    /// An external action the host does not offer.
    #[error("no external action {action:?} is registered; register it or fix the name")]
    UnknownAction {
        /// The action.
        action: String,
    },
    /// A connector or Go To to an element that does not exist.
    #[error("no element is called {name:?}; connect to an existing element")]
    UnknownElement {
        /// The target name.
        name: String,
    },
    /// A main-path element connects into a fault path.
    #[error(
        "{name:?} is inside a fault path; main-path elements may only connect to the main path"
    )]
    IntoFaultPath {
        /// The target.
        name: String,
    },
    /// A fault-path element connects into another fault path.
    #[error(
        "{name:?} belongs to another fault path; connect within this fault path or Go To the main path"
    )]
    IntoOtherFaultPath {
        /// The target.
        name: String,
    },
    /// Requirements with no condition or more than ten (C-EXIT-REQ).
    #[error("{count} conditions given; requirements need 1 to {MAX_CONDITIONS} conditions")]
    RequirementCount {
        /// How many were given.
        count: usize,
    },
    /// Custom logic that does not parse.
    #[error(transparent)]
    BadLogic(LogicError),
    /// A comparison without a value.
    #[error("operator {operator} needs a \"value\"")]
    MissingValue {
        /// The operator.
        operator: String,
    },
    /// An `is_null` value that is not a literal boolean.
    #[error("`is_null` takes {{\"value\": true}} or {{\"value\": false}} (or no value)")]
    IsNullValue,
    /// An `after_step` entry naming no step of the stage.
    #[error("this stage has no step {step:?} to wait for; name a step of the same stage")]
    AfterUnknownStep {
        /// The step named.
        step: String,
    },
    /// A step that waits for itself or for a cycle of steps, so it can never start.
    #[error(
        "this step can never start: its after_step chain {chain} never reaches a step that starts otherwise"
    )]
    EntryNeverMet {
        /// The chain of steps, e.g. `a → b → a`.
        chain: String,
    },
    /// A decision without its required default outcome.
    #[error("a decision needs a \"default\" outcome")]
    NoDefault,
    /// An element from which no path leads to an end.
    #[error(
        "no path from here reaches an end: it loops forever; add a decision or fault path that leaves the loop"
    )]
    NeverEnds,
    /// Decisions connected in a cycle with no stage in between.
    #[error("decisions loop through {cycle} with no stage in between; put a stage in the loop")]
    DecisionLoop {
        /// The decisions, e.g. `a → b → a`.
        cycle: String,
    },
    /// An element nothing connects to.
    #[error("nothing leads to this element; connect to it or remove it")]
    Unreachable,
    /// An empty user, group or queue id.
    #[error("the assignee id is empty; name a user, group or queue")]
    EmptyAssignee,
    /// An element that could not be built although no other problem was found (a bug).
    #[error("this element could not be checked; please report this definition")]
    Unbuildable,
}
