//! Records as column values, for every backend: the same encoding of a
//! run's state (LZ4-compressed JSON, see [`state`]), the same projections
//! (status names, the live stage, the span of a run), and timestamps as
//! integer nanoseconds since the Unix epoch, which sort correctly and round
//! trip a [`jiff::Timestamp`] exactly (years 1678 to 2261; anything outside
//! is refused on write).

pub mod state;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use stagecraft_core::run::{Principal, Run, RunId, RunStatus, WorkItem};

use crate::{AuditRecord, Commit, JobRunOutcome, StepLog, StoreError, StoreResult};

/// A [`StoreError::Corrupt`] about `what`.
pub fn corrupt(what: impl Into<String>, reason: impl ToString) -> StoreError {
    StoreError::corrupt(what, reason)
}

/// A timestamp as a column value: nanoseconds since the Unix epoch.
pub fn nanos(at: Timestamp) -> StoreResult<i64> {
    i64::try_from(at.as_nanosecond()).map_err(|_| {
        StoreError::write(
            format!("timestamp {at}"),
            "outside the range the store can index (1678 to 2261)",
        )
    })
}

/// A timestamp column value back; `what` names the record for errors.
pub fn timestamp(nanos: i64, what: &str) -> StoreResult<Timestamp> {
    Timestamp::from_nanosecond(i128::from(nanos)).map_err(|e| corrupt(what, e))
}

/// A `u32` column value back (versions).
pub fn version(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(what, format!("version {value} out of range")))
}

/// The serde name of a unit enum variant (`RunStatus::InProgress` →
/// `"in_progress"`), so projection columns cannot drift from the JSON.
pub fn name_of<T: Serialize>(value: &T) -> StoreResult<String> {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => Ok(name),
        Ok(other) => Err(StoreError::write(
            "a name",
            format!("expected a unit variant, serialized as {other}"),
        )),
        Err(e) => Err(StoreError::write("a name", e)),
    }
}

/// A unit enum variant back from its serde name.
pub fn from_name<T: DeserializeOwned>(name: String, what: &str) -> StoreResult<T> {
    serde_json::from_value(Value::String(name)).map_err(|e| corrupt(what, e))
}

/// A JSON column value back.
pub fn from_json<T: DeserializeOwned>(json: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(json).map_err(|e| corrupt(what, e))
}

/// Serializes a record for a JSON column.
pub fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::write("a JSON column", e))
}

/// The `(assignee_kind, assignee_id)` columns of a principal; the kinds are
/// the serde names of the variants.
pub fn principal(principal: &Principal) -> (&'static str, &str) {
    match principal {
        Principal::User(id) => ("user", id),
        Principal::Group(id) => ("group", id),
        Principal::Queue(id) => ("queue", id),
    }
}

/// A run as the columns of its row and of its work-item rows, encoded on the
/// caller's task before it reaches the writer thread.
#[derive(Debug)]
pub struct EncodedRun {
    /// The run's id.
    pub id: String,
    /// Its orchestration's name.
    pub orchestration: String,
    /// Its orchestration's version.
    pub version: i64,
    /// Its status's serde name.
    pub status: String,
    /// When it started, in nanoseconds.
    pub started_at: i64,
    /// The latest instant its state records, in nanoseconds.
    pub updated_at: i64,
    /// The stage a live run is in; none once it is Completed or Canceled.
    pub stage: Option<String>,
    /// Its whole state (see [`state`]).
    pub state: Vec<u8>,
    /// Its work items.
    pub work_items: Vec<EncodedWorkItem>,
}

/// A work item's row.
#[derive(Debug)]
pub struct EncodedWorkItem {
    /// The work item's id.
    pub id: String,
    /// `user`, `group` or `queue`.
    pub assignee_kind: &'static str,
    /// The assignee's id.
    pub assignee_id: String,
    /// Its status's serde name.
    pub status: String,
    /// When it was created, in nanoseconds.
    pub created_at: i64,
    /// The whole work item, as JSON.
    pub item: String,
}

impl EncodedRun {
    /// Encodes `run`.
    pub fn new(run: &Run) -> StoreResult<Self> {
        let (started_at, updated_at) = span(run);
        Ok(Self {
            id: run.id.0.clone(),
            orchestration: run.orchestration.clone(),
            version: i64::from(run.version),
            status: name_of(&run.status)?,
            started_at: nanos(started_at)?,
            updated_at: nanos(updated_at)?,
            stage: live_stage(run).map(str::to_owned),
            state: state::encode(run)?,
            work_items: run
                .work_items
                .iter()
                .map(EncodedWorkItem::new)
                .collect::<StoreResult<_>>()?,
        })
    }
}

/// One [`crate::Store::commit`] call, its run states encoded on the caller's
/// task, so that a backend's writer only executes statements.
#[derive(Debug)]
pub struct EncodedCommit {
    /// The new run states.
    pub runs: Vec<EncodedRun>,
    /// Step logs of the results these states accept.
    pub step_logs: Vec<StepLog>,
    /// Audit records of the actions behind them.
    pub audit: Vec<AuditRecord>,
    /// Resume jobs' runs leaving Pending.
    pub job_runs: Vec<JobRunOutcome>,
    /// Runs this node lets go with this commit.
    pub released: Vec<RunId>,
    /// The lineage of commits this one was built on ([`crate::lineage`]).
    pub lineage: Option<u64>,
}

impl EncodedCommit {
    /// Encodes `commit`; `None` when there is nothing to write.
    pub fn new(commit: Commit) -> StoreResult<Option<Self>> {
        if commit.is_empty() {
            return Ok(None);
        }
        let Commit {
            runs,
            step_logs,
            audit,
            job_runs,
            released,
            lineage,
        } = commit;
        let runs = runs
            .iter()
            .map(|run| EncodedRun::new(run))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(Self {
            runs,
            step_logs,
            audit,
            job_runs,
            released,
            lineage,
        }))
    }

    /// How many records it writes.
    pub fn size(&self) -> usize {
        self.runs.len() + self.step_logs.len() + self.audit.len() + self.job_runs.len()
    }
}

/// The serde names of the statuses a run ends in (Completed, Canceled):
/// what retention removes.
pub fn final_statuses() -> StoreResult<Vec<String>> {
    [RunStatus::Completed, RunStatus::Canceled]
        .iter()
        .map(name_of)
        .collect()
}

/// The serde names of the statuses of unfinished runs (In Progress,
/// Suspended, Error).
pub fn unfinished_statuses() -> StoreResult<Vec<String>> {
    [
        RunStatus::InProgress,
        RunStatus::Suspended,
        RunStatus::Error,
    ]
    .iter()
    .map(name_of)
    .collect()
}

/// The stage a run is in while it lives (in progress, in error or
/// suspended): the `runs.stage` column.
pub fn live_stage(run: &Run) -> Option<&str> {
    if run.status.is_final() {
        return None;
    }
    run.current_stage().map(|stage| stage.stage.as_str())
}

impl EncodedWorkItem {
    fn new(item: &WorkItem) -> StoreResult<Self> {
        let (assignee_kind, assignee_id) = principal(&item.assignee);
        Ok(Self {
            id: item.id.0.clone(),
            assignee_kind,
            assignee_id: assignee_id.to_owned(),
            status: name_of(&item.status)?,
            created_at: nanos(item.created_at)?,
            item: to_json(item)?,
        })
    }
}

/// When the run started and the latest instant its state records, both on
/// the state machine's clock (so an injected clock stays consistent): the
/// start is its first Start Run milestone; the latest instant is the latest
/// of its milestones, work items and errors. A run without any of these
/// (only hand-built ones) falls back to the wall clock.
fn span(run: &Run) -> (Timestamp, Timestamp) {
    let started = run.started_at();
    let latest = run
        .history
        .iter()
        .map(|m| m.at)
        .chain(run.work_items.iter().map(|w| w.created_at))
        .chain(run.work_items.iter().filter_map(|w| w.closed_at))
        .chain(run.error.iter().map(|e| e.at))
        .chain(run.handled_errors.iter().map(|e| e.at))
        .max();
    let started = started.or(latest).unwrap_or_else(Timestamp::now);
    (
        started,
        latest.map_or(started, |latest| latest.max(started)),
    )
}
