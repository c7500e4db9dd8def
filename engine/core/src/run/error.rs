//! Errors recorded on a run: where, when, what, and whether resume can fix them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{FlowFailureKind, Unavailability};
use crate::run::EvalTarget;

/// What went wrong (SPEC §3 decides from it whether the run may be resumed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A step's flow failed (recoverable).
    Flow(FlowFailureKind),
    /// An evaluation flow failed (recoverable, deliberate choice).
    Evaluation(FlowFailureKind),
    /// The assignee is frozen, inactive (recoverable) or unresolvable (fatal).
    AssigneeUnavailable(Unavailability),
    /// A step input could not be prepared (fatal).
    InputMapping,
    /// A result did not match the declared outputs (fatal).
    OutputProcessing,
    /// An external action failed (fatal).
    ExternalAction,
    /// The assignee reference resolved to no valid user, group or queue (fatal).
    MisconfiguredAssignee,
    /// Stages kept completing instantly in a loop (fatal).
    Looping,
}

impl ErrorKind {
    /// Whether a run stopped by this error may be resumed.
    pub fn recoverable(&self) -> bool {
        match self {
            Self::Flow(_) | Self::Evaluation(_) => true,
            Self::AssigneeUnavailable(reason) => *reason != Unavailability::Unresolvable,
            Self::InputMapping
            | Self::OutputProcessing
            | Self::ExternalAction
            | Self::MisconfiguredAssignee
            | Self::Looping => false,
        }
    }
}

/// An error of a stage (and possibly one of its steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    /// When it happened; the recovery window counts from here.
    #[serde(with = "crate::time::fixed")]
    pub at: Timestamp,
    /// The stage element.
    pub stage: String,
    /// Index of the stage run in [`crate::Run::stages`].
    pub stage_run: usize,
    /// The step, when the error is a step's.
    pub step: Option<String>,
    /// What went wrong.
    pub kind: ErrorKind,
    /// Details for people.
    pub message: String,
    /// The flow whose failure this is (flow and evaluation-flow errors): repair selects runs
    /// by it and tries a fix against the same input. Absent in records written before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FailedFlow>,
}

/// The flow invocation behind a flow or evaluation-flow error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedFlow {
    /// The flow's name.
    pub name: String,
    /// The version that failed: the one the step was pinned to. `None` for an evaluation
    /// flow, which runs the version active when it is evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// For an evaluation flow, the condition it was deciding and its inputs: the request is
    /// gone from the run once it failed, and a dry-run needs exactly what it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<FailedEvaluation>,
}

/// An evaluation request that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedEvaluation {
    /// The condition it decided.
    pub target: EvalTarget,
    /// Its inputs, as resolved when it was issued.
    pub inputs: serde_json::Value,
}

impl RunError {
    /// Whether a run stopped by this error may be resumed (within the recovery window).
    pub fn recoverable(&self) -> bool {
        self.kind.recoverable()
    }
}

/// In a person's words: "input mapping", "flow trap"…
impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flow(kind) => write!(f, "flow {kind}"),
            Self::Evaluation(kind) => write!(f, "evaluation flow {kind}"),
            Self::AssigneeUnavailable(reason) => write!(f, "assignee {reason}"),
            Self::InputMapping => f.write_str("input mapping"),
            Self::OutputProcessing => f.write_str("output processing"),
            Self::ExternalAction => f.write_str("external action"),
            Self::MisconfiguredAssignee => f.write_str("misconfigured assignee"),
            Self::Looping => f.write_str("stages looping"),
        }
    }
}
