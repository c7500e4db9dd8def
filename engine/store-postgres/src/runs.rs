//! Run, work-item and step-log queries (their rows are written by the
//! committer).

use deadpool_postgres::Client;
use stagecraft_core::run::{Run, RunId, RunStatus, StepKey, WorkItem, WorkItemId, WorkItemStatus};
use stagecraft_store::encoding::state::{self, StoredState};
use stagecraft_store::encoding::{
    from_json, from_name, name_of, nanos, principal, timestamp, version,
};
use stagecraft_store::{
    RunFilter, RunSummary, StepLog, StoreResult, UnfinishedRuns, WorkItemFilter, WorkItemRecord,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::read_error;

/// Runs listed when the filter sets no limit.
const DEFAULT_LIMIT: u32 = 100;
/// The most runs one listing returns.
const MAX_LIMIT: u32 = 1000;

/// One run.
pub(crate) async fn one(client: &Client, id: &RunId) -> StoreResult<Option<Run>> {
    let failed = || read_error("a run");
    let stmt = client
        .prepare_cached("SELECT state FROM runs WHERE id = $1")
        .await
        .map_err(failed())?;
    let row = client.query_opt(&stmt, &[&id.0]).await.map_err(failed())?;
    row.map(|row| {
        let stored: Vec<u8> = row.try_get(0).map_err(failed())?;
        state::decode(&id.0, &StoredState::Compressed(stored))
    })
    .transpose()
}

/// Runs with `status`, of one orchestration (and version) if given, oldest
/// first.
pub(crate) async fn with_status(
    client: &Client,
    status: RunStatus,
    orchestration: Option<(String, Option<u32>)>,
) -> StoreResult<UnfinishedRuns> {
    let status = name_of(&status)?;
    let (name, version) = match orchestration {
        Some((name, version)) => (Some(name), version.map(i64::from)),
        None => (None, None),
    };
    let failed = || read_error("runs by status");
    let stmt = client
        .prepare_cached(
            "SELECT id, state FROM runs
             WHERE status = $1 AND ($2::text IS NULL OR orchestration = $2)
                 AND ($3::bigint IS NULL OR version = $3)
             ORDER BY started_at, id",
        )
        .await
        .map_err(failed())?;
    let rows = client
        .query(&stmt, &[&status, &name, &version])
        .await
        .map_err(failed())?;
    decode_all(&rows)
}

pub(crate) fn decode_all(rows: &[Row]) -> StoreResult<UnfinishedRuns> {
    let mut found = UnfinishedRuns::default();
    for row in rows {
        let id: String = row.try_get(0).map_err(read_error("a run"))?;
        let stored: Vec<u8> = row.try_get(1).map_err(read_error("a run"))?;
        match state::decode(&id, &StoredState::Compressed(stored)) {
            Ok(run) => found.runs.push(run),
            Err(error) => found.unreadable.push((RunId(id), error)),
        }
    }
    Ok(found)
}

/// Runs matching `filter`, newest first.
pub(crate) async fn list(client: &Client, filter: &RunFilter) -> StoreResult<Vec<RunSummary>> {
    let mut conditions = Vec::new();
    let mut params = Params::default();
    if let Some(status) = &filter.status {
        conditions.push(format!("status = {}", params.push(name_of(status)?)));
    }
    if let Some(orchestration) = &filter.orchestration {
        conditions.push(format!(
            "orchestration = {}",
            params.push(orchestration.clone())
        ));
    }
    if let Some(version) = filter.version {
        conditions.push(format!("version = {}", params.push(i64::from(version))));
    }
    if let Some(stage) = &filter.stage {
        conditions.push(format!("stage = {}", params.push(stage.clone())));
    }
    // Times outside what a column holds select everything or nothing.
    if let Some(after) = filter.started_after {
        let after = params.push(nanos(after).unwrap_or(i64::MAX));
        conditions.push(format!("started_at >= {after}"));
    }
    if let Some(before) = filter.started_before {
        let before = params.push(nanos(before).unwrap_or(i64::MAX));
        conditions.push(format!("started_at < {before}"));
    }
    if let Some((started, id)) = &filter.after {
        let started = params.push(nanos(*started)?);
        let id = params.push(id.0.clone());
        // The first term lets the index on `started_at` start at the cursor.
        conditions.push(format!(
            "started_at <= {started} AND (started_at < {started} OR id < {id})"
        ));
    }
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, orchestration, version, status, started_at, updated_at FROM runs {filter}
         ORDER BY started_at DESC, id DESC LIMIT {limit}"
    );
    let failed = || read_error("runs");
    let stmt = client.prepare_cached(&sql).await.map_err(failed())?;
    let rows = client
        .query(&stmt, &params.refs())
        .await
        .map_err(failed())?;
    rows.iter().map(summary).collect()
}

fn summary(row: &Row) -> StoreResult<RunSummary> {
    let failed = || read_error("runs");
    let id: String = row.try_get(0).map_err(failed())?;
    let what = format!("run {id}");
    Ok(RunSummary {
        orchestration: row.try_get(1).map_err(failed())?,
        version: version(row.try_get(2).map_err(failed())?, &what)?,
        status: from_name(row.try_get(3).map_err(failed())?, &what)?,
        started_at: timestamp(row.try_get(4).map_err(failed())?, &what)?,
        updated_at: timestamp(row.try_get(5).map_err(failed())?, &what)?,
        id: RunId(id),
    })
}

/// How many runs there are per status (of one orchestration, if given).
pub(crate) async fn counts(
    client: &Client,
    orchestration: Option<&str>,
) -> StoreResult<Vec<(RunStatus, u64)>> {
    let failed = || read_error("run counts");
    let stmt = client
        .prepare_cached(
            "SELECT status, count(*) FROM runs WHERE $1::text IS NULL OR orchestration = $1
             GROUP BY status ORDER BY status",
        )
        .await
        .map_err(failed())?;
    let rows = client
        .query(&stmt, &[&orchestration])
        .await
        .map_err(failed())?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get(0).map_err(failed())?;
            let count: i64 = row.try_get(1).map_err(failed())?;
            Ok((
                from_name(status, "run status count")?,
                u64::try_from(count).unwrap_or(0),
            ))
        })
        .collect()
}

/// Work items matching `filter`, oldest first.
pub(crate) async fn work_items(
    client: &Client,
    filter: &WorkItemFilter,
) -> StoreResult<Vec<WorkItemRecord>> {
    let mut conditions = Vec::new();
    let mut params = Params::default();
    if !filter.assignees.is_empty() {
        let (kinds, ids): (Vec<String>, Vec<String>) = filter
            .assignees
            .iter()
            .map(|assignee| {
                let (kind, id) = principal(assignee);
                (kind.to_owned(), id.to_owned())
            })
            .unzip();
        let (kinds, ids) = (params.push(kinds), params.push(ids));
        conditions.push(format!(
            "(assignee_kind, assignee_id) IN (SELECT * FROM UNNEST({kinds}::text[], {ids}::text[]))"
        ));
    }
    if filter.open_only {
        let open = params.push(name_of(&WorkItemStatus::Assigned)?);
        conditions.push(format!("status = {open}"));
    }
    if let Some(run) = &filter.run {
        conditions.push(format!("run_id = {}", params.push(run.0.clone())));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!("SELECT id, run_id, item FROM work_items {filter} ORDER BY created_at, id");
    let failed = || read_error("work items");
    let stmt = client.prepare_cached(&sql).await.map_err(failed())?;
    let rows = client
        .query(&stmt, &params.refs())
        .await
        .map_err(failed())?;
    rows.iter().map(work_item_record).collect()
}

/// One work item.
pub(crate) async fn work_item(
    client: &Client,
    id: &WorkItemId,
) -> StoreResult<Option<WorkItemRecord>> {
    let failed = || read_error("a work item");
    let stmt = client
        .prepare_cached("SELECT id, run_id, item FROM work_items WHERE id = $1")
        .await
        .map_err(failed())?;
    let row = client.query_opt(&stmt, &[&id.0]).await.map_err(failed())?;
    row.as_ref().map(work_item_record).transpose()
}

fn work_item_record(row: &Row) -> StoreResult<WorkItemRecord> {
    let failed = || read_error("a work item");
    let id: String = row.try_get(0).map_err(failed())?;
    let run: String = row.try_get(1).map_err(failed())?;
    let item: String = row.try_get(2).map_err(failed())?;
    let item: WorkItem = from_json(&item, &format!("work item {id}"))?;
    Ok(WorkItemRecord {
        run: RunId(run),
        item,
    })
}

/// Every step log of a run, in the order the steps ran.
pub(crate) async fn step_logs(client: &Client, run: &RunId) -> StoreResult<Vec<StepLog>> {
    let failed = || read_error("step logs");
    let stmt = client
        .prepare_cached(
            "SELECT stage_run, stage, step, attempt, flow_version, recorded_at, lines
             FROM step_logs WHERE run_id = $1 ORDER BY recorded_at",
        )
        .await
        .map_err(failed())?;
    let rows = client.query(&stmt, &[&run.0]).await.map_err(failed())?;
    rows.iter()
        .map(|row| {
            let stage_run: i64 = row.try_get(0).map_err(failed())?;
            let step: String = row.try_get(2).map_err(failed())?;
            let attempt: i64 = row.try_get(3).map_err(failed())?;
            let lines: String = row.try_get(6).map_err(failed())?;
            let what = format!("step log of {run} {step} attempt {attempt}");
            Ok(StepLog {
                run: run.clone(),
                step: StepKey {
                    stage: row.try_get(1).map_err(failed())?,
                    stage_run: usize::try_from(stage_run).unwrap_or_default(),
                    step,
                },
                attempt: version(attempt, &what)?,
                flow_version: version(row.try_get(4).map_err(failed())?, &what)?,
                recorded_at: timestamp(row.try_get(5).map_err(failed())?, &what)?,
                lines: from_json(&lines, &what)?,
            })
        })
        .collect()
}

/// The parameters of a query built from a filter.
#[derive(Default)]
pub(crate) struct Params(Vec<Box<dyn ToSql + Sync + Send>>);

impl Params {
    /// Binds `value`; its placeholder (`$n`).
    pub fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    /// The values, as a query takes them.
    pub fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|value| &**value as &(dyn ToSql + Sync))
            .collect()
    }
}
