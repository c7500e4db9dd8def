//! Resume jobs: a selection of runs resumed server-side, durably.
//!
//! The selection is fixed when the job is created (one row per run, Pending).
//! Each run's row leaves Pending in the same transaction as the run's
//! transition (see [`crate::Commit::job_runs`]), so a job that is interrupted
//! and picked up again never resumes a run twice, nor skips one.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use stagecraft_core::run::RunId;

/// Identifies a job; chosen by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Runs remain to be handled.
    Running,
    /// Every run was handled.
    Completed,
    /// Canceled before every run was handled; the rest stay Pending.
    Canceled,
}

/// What became of one run of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobRunState {
    /// Not handled yet.
    Pending,
    /// Resumed by this job.
    Resumed,
    /// Not resumed, for the recorded reason.
    Refused,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Its id.
    pub id: JobId,
    /// What it does, as the engine describes it (filter, options).
    pub spec: serde_json::Value,
    /// Who started it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// The runs it applies to, fixed now.
    pub runs: Vec<RunId>,
}

/// How far a job got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    /// Runs selected.
    pub total: u64,
    /// Runs resumed.
    pub resumed: u64,
    /// Runs refused.
    pub refused: u64,
    /// Runs not handled yet.
    pub pending: u64,
}

impl JobCounts {
    /// Counts `count` more runs in `state`.
    pub fn add(&mut self, state: JobRunState, count: u64) {
        match state {
            JobRunState::Pending => self.pending += count,
            JobRunState::Resumed => self.resumed += count,
            JobRunState::Refused => self.refused += count,
        }
        self.total += count;
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub spec: serde_json::Value,
    /// Who started it.
    pub created_by: String,
    /// When.
    #[serde(with = "stagecraft_core::time::fixed")]
    pub created_at: Timestamp,
    /// Where it is.
    pub status: JobStatus,
    /// When it completed or was canceled.
    #[serde(
        with = "stagecraft_core::time::fixed_option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<Timestamp>,
    /// How far it got.
    pub counts: JobCounts,
    /// Why runs were refused, most frequent reason first.
    pub refusals: Vec<JobRefusals>,
}

/// Runs of a job refused for the same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRefusals {
    /// Why.
    pub reason: String,
    /// How many runs.
    pub count: u64,
    /// One of them.
    pub example: RunId,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRun {
    /// The run.
    pub run: RunId,
    /// What became of it.
    pub state: JobRunState,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A run of a job leaving Pending, committed with the run's transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRunOutcome {
    /// The job.
    pub job: JobId,
    /// The run.
    pub run: RunId,
    /// Resumed, or refused (with why).
    pub outcome: Result<(), String>,
}
