//! Typed refusals of illegal events; the run they were applied to stays unchanged.

use jiff::Timestamp;

use crate::definition::ValueType;
use crate::run::{ErrorKind, EvalRequestId, Principal, RunStatus, StepKey, StepStatus, WorkItemId};

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    /// The plan is not the orchestration version the run is pinned to (C-VERSION-PIN).
    #[error("run of {run} cannot be driven by plan {plan}")]
    WrongPlan {
        /// The run's orchestration and version.
        run: String,
        /// The plan's orchestration and version.
        plan: String,
    },
    /// The start inputs do not match the declared input variables.
    #[error("invalid inputs: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidInputs {
        /// Every problem found.
        problems: Vec<InputProblem>,
    },
    /// The run is Completed or Canceled.
    #[error("the run is {status} and takes no more events")]
    RunFinished {
        /// The run's status.
        status: RunStatus,
    },
    /// The event needs an In Progress run.
    #[error("the run is {status}, not in progress")]
    NotInProgress {
        /// The run's status.
        status: RunStatus,
    },
    /// No such step in the run.
    #[error("unknown step {step}")]
    UnknownStep {
        /// The step named.
        step: StepKey,
    },
    /// The step belongs to a stage run that is no longer current.
    #[error("step {step} belongs to a stage run that is over")]
    StepNotCurrent {
        /// The step named.
        step: StepKey,
    },
    /// The result does not fit the step's kind (e.g. a flow result for an external step).
    #[error("step {step} is not {} {expected} step", article(.expected))]
    WrongStepKind {
        /// The step named.
        step: StepKey,
        /// The kind the event is for.
        expected: &'static str,
    },
    /// A result quoting an attempt that is not the step's current one.
    #[error("result of attempt {got} of step {step}, whose current attempt is {expected}")]
    StaleAttempt {
        /// The step.
        step: StepKey,
        /// Its current attempt.
        expected: u32,
        /// The attempt quoted.
        got: u32,
    },
    /// The step's result was already recorded (completion is recorded exactly once).
    #[error("the result of step {step} was already recorded")]
    AlreadyRecorded {
        /// The step.
        step: StepKey,
    },
    /// The step is not waiting for a result.
    #[error("step {step} is {status} and awaits no result")]
    NotAwaitingResult {
        /// The step.
        step: StepKey,
        /// Its status.
        status: StepStatus,
    },
    /// No such work item.
    #[error("unknown work item {work_item}")]
    UnknownWorkItem {
        /// The work item.
        work_item: WorkItemId,
    },
    /// The work item is already Completed.
    #[error("work item {work_item} is already closed")]
    WorkItemClosed {
        /// The work item.
        work_item: WorkItemId,
    },
    /// The user is neither the assignee nor a member of it (C-STEP-INTERACTIVE).
    #[error("user {user} may not complete a work item assigned to {assignee}")]
    NotAssignee {
        /// The user.
        user: String,
        /// The assignee.
        assignee: Principal,
    },
    /// An evaluation result nobody waits for: unknown, superseded (stale) or already received.
    #[error("evaluation request {request} is not awaited (stale or unknown)")]
    UnknownEvaluation {
        /// The request.
        request: EvalRequestId,
    },
    /// Suspend refused.
    #[error("the run is {status} and cannot be suspended; only a run in progress can")]
    CannotSuspend {
        /// The run's status.
        status: RunStatus,
    },
    /// Resume refused.
    #[error("the run is {status} and cannot be resumed; only a suspended run or one in error can")]
    CannotResume {
        /// The run's status.
        status: RunStatus,
    },
    /// Cancel refused.
    #[error("the run is {status} and cannot be canceled")]
    CannotCancel {
        /// The run's status.
        status: RunStatus,
    },
    /// Resume of a run stopped by a non-recoverable error.
    #[error("the run cannot be resumed: its error is not recoverable ({kind}: {message})")]
    NotRecoverable {
        /// The error kind.
        kind: ErrorKind,
        /// The error message.
        message: String,
    },
    /// Resume after the recovery window closed.
    #[error(
        "the recovery window closed at {deadline} (error at {error_at}); the run cannot be resumed"
    )]
    WindowExpired {
        /// When the error happened.
        error_at: Timestamp,
        /// When the window closed.
        deadline: Timestamp,
    },
    /// The stored run does not fit its plan (corrupt state); nothing was changed.
    #[error("the run does not match its plan: {detail}")]
    Inconsistent {
        /// What does not fit.
        detail: String,
    },
}

/// "a" or "an", as `word` needs.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl EventError {
    pub(super) fn inconsistent(detail: String) -> Self {
        Self::Inconsistent { detail }
    }
}

/// A problem of the inputs a run is started with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputProblem {
    /// The inputs are not a JSON object.
    #[error("inputs must be a JSON object")]
    NotAnObject,
    /// A required input variable is missing (or null).
    #[error("required input {name:?} is missing")]
    Missing {
        /// The variable.
        name: String,
    },
    /// An input has the wrong JSON type.
    #[error("input {name:?} must be of type {expected}")]
    WrongType {
        /// The variable.
        name: String,
        /// Its declared type.
        expected: ValueType,
    },
    /// An input nests deeper than [`super::MAX_VALUE_DEPTH`] levels.
    #[error(
        "input {name:?} nests deeper than {} levels of arrays and objects",
        super::MAX_VALUE_DEPTH
    )]
    TooDeep {
        /// The variable.
        name: String,
    },
    /// An input that is not declared.
    #[error("input {name:?} is not declared by the orchestration")]
    Unknown {
        /// The name given.
        name: String,
    },
}
