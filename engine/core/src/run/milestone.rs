//! History milestones of runs, stages and steps (SPEC §2).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One history entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    /// When it happened.
    #[serde(with = "crate::time::fixed")]
    pub at: Timestamp,
    /// The record it is about.
    pub record: MilestoneRecord,
    /// What happened.
    pub kind: MilestoneKind,
    /// The user, for manual actions and what they caused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl Milestone {
    /// Who acted: the user of a manual action (and of what it caused), or
    /// the system principal, which the stored state leaves out.
    pub fn actor_name(&self) -> &str {
        self.actor.as_deref().unwrap_or(super::SYSTEM_PRINCIPAL)
    }
}

/// The record a milestone is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneRecord {
    /// The run itself.
    Run,
    /// A stage run.
    Stage {
        /// The stage element.
        name: String,
    },
    /// A step run.
    Step {
        /// The stage element.
        stage: String,
        /// The step.
        step: String,
    },
}

/// The milestones of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    /// The run started or was manually resumed.
    StartRun,
    /// The run completed.
    EndRun,
    /// The run was manually suspended.
    SuspendRun,
    /// The run was manually canceled.
    CancelRun,
    /// The run was manually resumed.
    ResumeRun,
    /// The run stopped on an error.
    FailRun,
    /// The stage started, or resumed with its run.
    StartStage,
    /// The stage completed.
    EndStage,
    /// The stage was suspended with its run.
    SuspendStage,
    /// The stage stopped without completing (its run was canceled).
    DiscontinueStage,
    /// The stage errored.
    FailStage,
    /// The step started (or restarted).
    StartStep,
    /// The step completed.
    EndStep,
    /// The step stopped without completing.
    DiscontinueStep,
    /// The step errored.
    FailStep,
}
