//! The state of one orchestration run, as the store persists it (serde; the
//! SQLite store keeps it as LZ4-compressed JSON).

mod error;
mod milestone;
mod stage_run;
mod work_item;

use serde::{Deserialize, Serialize};

pub use error::{ErrorKind, FailedEvaluation, FailedFlow, RunError};
pub use milestone::{Milestone, MilestoneKind, MilestoneRecord};
pub use stage_run::{
    EvalRequestId, EvalTarget, PendingEvaluation, PendingResult, StageRun, StageStatus, StepKey,
    StepRun, StepStatus,
};
pub use work_item::{Closure, Principal, WorkItem, WorkItemId, WorkItemStatus};

/// The identity runs execute as; owner of every stage run record (C-OWNER).
pub const SYSTEM_PRINCIPAL: &str = "system:automated-process";

/// Identifies a run; chosen by the engine.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Status of an orchestration run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished.
    InProgress,
    /// Finished without error, or an error was handled by a fault path.
    Completed,
    /// Manually suspended.
    Suspended,
    /// Manually canceled; final.
    Canceled,
    /// Stopped by an unhandled error.
    Error,
}

impl RunStatus {
    /// Whether the run is over: Completed or Canceled take no more events
    /// and are in no stage; the others may still move (Error by a resume).
    pub fn is_final(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Canceled)
    }
}

/// One run of one orchestration version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// Name of the orchestration.
    pub orchestration: String,
    /// The orchestration version this run is pinned to (C-VERSION-PIN).
    pub version: u32,
    /// Run status.
    pub status: RunStatus,
    /// The input variables it was started with (a JSON object).
    pub inputs: serde_json::Value,
    /// Stage runs in the order they started; a stage runs again after a Go To loop.
    pub stages: Vec<StageRun>,
    /// Index in `stages` of the stage run that is In Progress, Suspended or in (unhandled)
    /// Error; `None` before the first stage and after the run ended.
    pub current: Option<usize>,
    /// Work items of interactive steps.
    pub work_items: Vec<WorkItem>,
    /// Evaluation-flow requests whose results are awaited.
    pub evaluations: Vec<PendingEvaluation>,
    /// Number of evaluation requests issued so far (source of request ids).
    pub evaluations_issued: u64,
    /// The unhandled error that stopped the run.
    pub error: Option<RunError>,
    /// Errors handled by fault paths.
    pub handled_errors: Vec<RunError>,
    /// The history milestones.
    pub history: Vec<Milestone>,
}

impl Run {
    /// The run of the step `key` names, in the stage run it names.
    pub fn step(&self, key: &StepKey) -> Option<&StepRun> {
        self.stages
            .get(key.stage_run)
            .filter(|stage| stage.stage == key.stage)?
            .steps
            .iter()
            .find(|step| step.name == key.step)
    }

    /// The current stage run, if any.
    pub fn current_stage(&self) -> Option<&StageRun> {
        self.stages.get(self.current?)
    }

    /// The latest run of the stage called `name`.
    pub fn latest_stage_run(&self, name: &str) -> Option<&StageRun> {
        self.stages.iter().rev().find(|stage| stage.stage == name)
    }

    /// When the run started: its Start Run milestone.
    pub fn started_at(&self) -> Option<jiff::Timestamp> {
        self.history
            .iter()
            .find(|m| m.record == MilestoneRecord::Run && m.kind == MilestoneKind::StartRun)
            .or_else(|| self.history.first())
            .map(|m| m.at)
    }
}

/// In a person's words: "in progress", "in error"…
impl std::fmt::Display for RunStatus {
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
