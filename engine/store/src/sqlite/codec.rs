//! Conversions between records and column values, and SQLite error mapping.

use jiff::Timestamp;
use rusqlite::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use stagecraft_core::run::{Principal, Run, WorkItem};

use crate::{StoreError, StoreResult};

/// Maps a SQLite error: a column holding the wrong type is a corrupt record,
/// anything else a backend failure.
pub(super) fn db(error: rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt {
            what: "stored row".to_owned(),
            reason: error.to_string(),
        },
        error if error.sqlite_error_code() == Some(ErrorCode::DiskFull) => {
            StoreError::Unavailable(format!("the disk is full: {error}"))
        }
        error if error.sqlite_error_code() == Some(ErrorCode::SystemIoFailure) => {
            StoreError::Unavailable(format!("the disk failed: {error}"))
        }
        error if error.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            StoreError::Backend(format!("not a SQLite database: {error}"))
        }
        error => StoreError::Backend(error.to_string()),
    }
}

/// A [`StoreError::Corrupt`] about `what`.
pub(super) fn corrupt(what: impl Into<String>, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// A timestamp as a column value: nanoseconds since the Unix epoch.
pub(super) fn nanos(at: Timestamp) -> StoreResult<i64> {
    i64::try_from(at.as_nanosecond()).map_err(|_| {
        StoreError::Backend(format!(
            "timestamp {at} is outside the range the SQLite store can index (1678 to 2261)"
        ))
    })
}

/// A timestamp column value back; `what` names the record for errors.
pub(super) fn timestamp(nanos: i64, what: &str) -> StoreResult<Timestamp> {
    Timestamp::from_nanosecond(i128::from(nanos)).map_err(|e| corrupt(what, e))
}

/// A `u32` column value back (versions).
pub(super) fn version(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(what, format!("version {value} out of range")))
}

/// The serde name of a unit enum variant (`RunStatus::InProgress` →
/// `"in_progress"`), so projection columns cannot drift from the JSON.
pub(super) fn name_of<T: Serialize>(value: &T) -> StoreResult<String> {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => Ok(name),
        Ok(other) => Err(StoreError::Backend(format!(
            "expected a unit variant, serialized as {other}"
        ))),
        Err(e) => Err(StoreError::Backend(e.to_string())),
    }
}

/// A unit enum variant back from its serde name.
pub(super) fn from_name<T: DeserializeOwned>(name: String, what: &str) -> StoreResult<T> {
    serde_json::from_value(Value::String(name)).map_err(|e| corrupt(what, e))
}

/// A JSON column value back.
pub(super) fn from_json<T: DeserializeOwned>(json: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(json).map_err(|e| corrupt(what, e))
}

/// Serializes a record for a JSON column.
fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode: {e}")))
}

/// The `(assignee_kind, assignee_id)` columns of a principal; the kinds are
/// the serde names of the variants.
pub(super) fn principal(principal: &Principal) -> (&'static str, &str) {
    match principal {
        Principal::User(id) => ("user", id),
        Principal::Group(id) => ("group", id),
        Principal::Queue(id) => ("queue", id),
    }
}

/// A run as the columns of its row and of its work-item rows, encoded on the
/// caller's task before it reaches the writer thread.
#[derive(Debug)]
pub(super) struct EncodedRun {
    pub id: String,
    pub orchestration: String,
    pub version: i64,
    pub status: String,
    pub started_at: i64,
    pub updated_at: i64,
    /// The stage a live run is in; none once it is Completed or Canceled.
    pub stage: Option<String>,
    pub state: Vec<u8>,
    pub work_items: Vec<EncodedWorkItem>,
}

/// A work item's row.
#[derive(Debug)]
pub(super) struct EncodedWorkItem {
    pub id: String,
    pub assignee_kind: &'static str,
    pub assignee_id: String,
    pub status: String,
    pub created_at: i64,
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
            state: super::state::encode(run)?,
            work_items: run
                .work_items
                .iter()
                .map(EncodedWorkItem::new)
                .collect::<StoreResult<_>>()?,
        })
    }
}

/// The stage a run is in while it lives (in progress, in error or
/// suspended): the `runs.stage` column.
pub(super) fn live_stage(run: &Run) -> Option<&str> {
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
