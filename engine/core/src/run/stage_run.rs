//! Stage runs, step runs, and what they wait for.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::FlowFailure;

use super::WorkItemId;

/// Status of a stage run.
///
/// There is no "Discontinued": every error is attributed to the current stage, which goes to
/// Error; a canceled stage is Canceled (its history records Discontinue Stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Started.
    InProgress,
    /// Its exit condition was met.
    Completed,
    /// Its run was suspended.
    Suspended,
    /// Its run was canceled.
    Canceled,
    /// It errored.
    Error,
}

/// Status of a step run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Its entry condition was not met (yet).
    NotStarted,
    /// Running or waiting for its work item or exit condition.
    InProgress,
    /// Done.
    Completed,
    /// Stopped without completing.
    Discontinued,
    /// It errored.
    Error,
}

/// Names one step of one stage run (a stage may run more than once).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StepKey {
    /// The stage element.
    pub stage: String,
    /// Index of the stage run in [`crate::Run::stages`].
    pub stage_run: usize,
    /// The step.
    pub step: String,
}

/// One run of a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRun {
    /// The stage element.
    pub stage: String,
    /// Status.
    pub status: StageStatus,
    /// Record owner: always [`super::SYSTEM_PRINCIPAL`] (C-OWNER).
    pub owner: String,
    /// When it became In Progress.
    #[serde(with = "crate::time::fixed")]
    pub started_at: Timestamp,
    /// When it completed, errored or was canceled.
    #[serde(
        with = "crate::time::fixed_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_at: Option<Timestamp>,
    /// Its steps, in definition order.
    pub steps: Vec<StepRun>,
}

/// One step of a stage run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    /// The step.
    pub name: String,
    /// Status.
    pub status: StepStatus,
    /// How many times it started; results must quote the current attempt.
    pub attempt: u32,
    /// When it last started.
    #[serde(
        with = "crate::time::fixed_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<Timestamp>,
    /// When it last finished.
    #[serde(
        with = "crate::time::fixed_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_at: Option<Timestamp>,
    /// The flow version its current attempt runs (pinned when it starts, C-VERSION-PIN), or
    /// that produced its last result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_version: Option<u32>,
    /// The SHA-256 (hex) of that version's component, pinned with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_digest: Option<String>,
    /// Its outputs once processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<serde_json::Value>,
    /// A result that arrived while the run could not process it; processed on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingResult>,
    /// The inputs its current attempt was started with: references are resolved when the
    /// step starts, and the resources they name may change while it runs, so crash recovery
    /// ([`crate::outstanding_actions`]) re-issues its action with these, not re-resolved ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
    /// Its open or last work item (interactive steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_item: Option<WorkItemId>,
    /// Why it errored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StepRun {
    /// A step that has not started.
    pub(crate) fn not_started(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            status: StepStatus::NotStarted,
            attempt: 0,
            started_at: None,
            ended_at: None,
            flow_version: None,
            flow_digest: None,
            outputs: None,
            pending: None,
            inputs: None,
            work_item: None,
            error: None,
        }
    }
}

/// A result kept for later processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingResult {
    /// A flow finished.
    Flow {
        /// The version that ran.
        flow_version: u32,
        /// Its outputs or failure.
        result: Result<serde_json::Value, FlowFailure>,
    },
    /// An external action finished.
    Action {
        /// Its outputs or error message.
        result: Result<serde_json::Value, String>,
    },
    /// A work item was completed.
    Screen {
        /// The screen flow's outputs or failure.
        result: Result<serde_json::Value, FlowFailure>,
    },
}

/// Identifies an evaluation-flow request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EvalRequestId(pub u64);

/// Which condition an evaluation flow decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalTarget {
    /// The exit condition of the current stage.
    StageExit,
    /// The entry condition of a step of the current stage.
    StepEntry {
        /// The step.
        step: String,
    },
    /// The exit condition of an interactive step of the current stage.
    StepExit {
        /// The step.
        step: String,
    },
}

/// An evaluation request whose result is awaited; it keeps what was sent, so that crash
/// recovery ([`crate::outstanding_actions`]) can send exactly the same request again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvaluation {
    /// The request.
    pub request: EvalRequestId,
    /// Index of the stage run it is for.
    pub stage_run: usize,
    /// The condition it decides.
    pub target: EvalTarget,
    /// The evaluation flow.
    pub flow: String,
    /// Its inputs as resolved when the request was issued (an object).
    pub inputs: serde_json::Value,
}

/// In a person's words: "in progress", "in error"…
impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::InProgress => "in progress",
            Self::Completed => "completed",
            Self::Suspended => "suspended",
            Self::Canceled => "canceled",
            Self::Error => "in error",
        })
    }
}

/// In a person's words: "not started", "in progress"…
impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotStarted => "not started",
            Self::InProgress => "in progress",
            Self::Completed => "completed",
            Self::Discontinued => "discontinued",
            Self::Error => "in error",
        })
    }
}

/// `stage.step`, with the stage run when the stage ran more than once.
impl std::fmt::Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.stage, self.step)?;
        if self.stage_run > 0 {
            write!(f, " (stage run {})", self.stage_run)?;
        }
        Ok(())
    }
}

/// The request number.
impl std::fmt::Display for EvalRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}
