//! The `runs` table and its work-item projection: the hot write and the run
//! queries.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use stagecraft_core::run::{Run, RunId, RunStatus};

use super::codec::StateColumn;
use super::codec::{
    EncodedRun, db, from_name, live_stage, name_of, nanos, timestamp, unfinished_statuses, version,
};
use stagecraft_store::encoding::state;
use stagecraft_store::{RunFilter, RunSummary, StoreResult, UnfinishedRuns};

/// Runs listed when the filter sets no limit.
const DEFAULT_LIMIT: u32 = 100;
/// Most runs one listing returns.
const MAX_LIMIT: u32 = 1000;

/// Migration 6's hook: fills in the stage of the live runs stored before
/// it. A state that cannot be read leaves its run without one (it is set
/// aside when the engine loads it, and said so there).
pub(super) fn fill_stages(tx: &Transaction<'_>) -> rusqlite_migration::HookResult {
    let live: Vec<(String, StateColumn)> = tx
        .prepare(
            "SELECT id, state FROM runs WHERE status IN ('in_progress', 'error', 'suspended')",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = tx.prepare("UPDATE runs SET stage = ?2 WHERE id = ?1")?;
    for (id, stored) in live {
        if let Ok(run) = state::decode(&id, &stored.0) {
            update.execute(params![id, live_stage(&run)])?;
        }
    }
    Ok(())
}

/// Inserts or replaces a run and replaces its work-item rows.
pub(super) fn write(tx: &Transaction<'_>, run: &EncodedRun) -> rusqlite::Result<()> {
    // `started_at` is kept from the first write: the start never moves.
    tx.prepare_cached(
        "INSERT INTO runs (id, orchestration, version, status, started_at, updated_at, stage, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET
             orchestration = excluded.orchestration,
             version = excluded.version,
             status = excluded.status,
             updated_at = excluded.updated_at,
             stage = excluded.stage,
             state = excluded.state",
    )?
    .execute(params![
        run.id,
        run.orchestration,
        run.version,
        run.status,
        run.started_at,
        run.updated_at,
        run.stage,
        run.state,
    ])?;
    tx.prepare_cached("DELETE FROM work_items WHERE run_id = ?1")?
        .execute([&run.id])?;
    if run.work_items.is_empty() {
        return Ok(());
    }
    // An id seen twice (in a malformed state) keeps its last row rather than
    // failing the whole group commit.
    let mut insert = tx.prepare_cached(
        "INSERT INTO work_items (id, run_id, assignee_kind, assignee_id, status, created_at, item)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET
             run_id = excluded.run_id,
             assignee_kind = excluded.assignee_kind,
             assignee_id = excluded.assignee_id,
             status = excluded.status,
             created_at = excluded.created_at,
             item = excluded.item",
    )?;
    for item in &run.work_items {
        insert.execute(params![
            item.id,
            run.id,
            item.assignee_kind,
            item.assignee_id,
            item.status,
            item.created_at,
            item.item,
        ])?;
    }
    Ok(())
}

/// One run.
pub(super) fn run(conn: &Connection, id: &RunId) -> StoreResult<Option<Run>> {
    let state: Option<StateColumn> = conn
        .prepare_cached("SELECT state FROM runs WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([&id.0], |row| row.get(0)).optional())
        .map_err(db)?;
    state
        .map(|state| state::decode(&id.0, &state.0))
        .transpose()
}

/// Runs that are In Progress, Suspended or in Error, oldest first. A state
/// that does not decode fails the whole call: silently skipping a run would
/// strand it.
pub(super) fn unfinished(conn: &Connection) -> StoreResult<UnfinishedRuns> {
    let statuses = unfinished_statuses()?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, state FROM runs WHERE status IN (?1, ?2, ?3) ORDER BY started_at, id",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params_from_iter(statuses), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, StateColumn>(1)?))
        })
        .map_err(db)?;
    decode_all(rows)
}

/// Runs with `status`, of one orchestration (and version) if given, oldest
/// first; unreadable ones set aside.
pub(super) fn with_status(
    conn: &Connection,
    status: RunStatus,
    orchestration: Option<&(String, Option<u32>)>,
) -> StoreResult<UnfinishedRuns> {
    let status = name_of(&status)?;
    let (name, version) = match orchestration {
        Some((name, version)) => (Some(name.as_str()), *version),
        None => (None, None),
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, state FROM runs
             WHERE status = ?1 AND (?2 IS NULL OR orchestration = ?2)
                 AND (?3 IS NULL OR version = ?3)
             ORDER BY started_at, id",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params![status, name, version], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, StateColumn>(1)?))
        })
        .map_err(db)?;
    decode_all(rows)
}

fn decode_all(
    rows: impl Iterator<Item = rusqlite::Result<(String, StateColumn)>>,
) -> StoreResult<UnfinishedRuns> {
    let mut found = UnfinishedRuns::default();
    for row in rows {
        let (id, state) = row.map_err(db)?;
        match state::decode(&id, &state.0) {
            Ok(run) => found.runs.push(run),
            Err(error) => found.unreadable.push((RunId(id), error)),
        }
    }
    Ok(found)
}

/// Runs matching `filter`, newest first.
pub(super) fn list(conn: &Connection, filter: &RunFilter) -> StoreResult<Vec<RunSummary>> {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(status) = &filter.status {
        conditions.push("status = ?");
        values.push(SqlValue::Text(name_of(status)?));
    }
    if let Some(orchestration) = &filter.orchestration {
        conditions.push("orchestration = ?");
        values.push(SqlValue::Text(orchestration.clone()));
    }
    if let Some(version) = filter.version {
        conditions.push("version = ?");
        values.push(SqlValue::Integer(i64::from(version)));
    }
    if let Some(stage) = &filter.stage {
        conditions.push("stage = ?");
        values.push(SqlValue::Text(stage.clone()));
    }
    // Times outside what a column holds select everything or nothing.
    if let Some(after) = filter.started_after {
        conditions.push("started_at >= ?");
        values.push(SqlValue::Integer(nanos(after).unwrap_or(i64::MAX)));
    }
    if let Some(before) = filter.started_before {
        conditions.push("started_at < ?");
        values.push(SqlValue::Integer(nanos(before).unwrap_or(i64::MAX)));
    }
    if let Some((started, id)) = &filter.after {
        let started = nanos(*started)?;
        // The first term lets an index on `started_at` start at the cursor
        // instead of walking down to it.
        conditions.push("started_at <= ? AND (started_at < ? OR id < ?)");
        values.push(SqlValue::Integer(started));
        values.push(SqlValue::Integer(started));
        values.push(SqlValue::Text(id.0.clone()));
    }
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    values.push(SqlValue::Integer(i64::from(limit)));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, orchestration, version, status, started_at, updated_at FROM runs {filter}
         ORDER BY started_at DESC, id DESC LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let rows = stmt
        .query_map(params_from_iter(values), |row| {
            Ok(Row {
                id: row.get(0)?,
                orchestration: row.get(1)?,
                version: row.get(2)?,
                status: row.get(3)?,
                started_at: row.get(4)?,
                updated_at: row.get(5)?,
            })
        })
        .map_err(db)?;
    rows.map(|row| row.map_err(db)?.summary()).collect()
}

/// The columns of a run listing.
struct Row {
    id: String,
    orchestration: String,
    version: i64,
    status: String,
    started_at: i64,
    updated_at: i64,
}

impl Row {
    fn summary(self) -> StoreResult<RunSummary> {
        let what = format!("run {}", self.id);
        Ok(RunSummary {
            version: version(self.version, &what)?,
            status: from_name(self.status, &what)?,
            started_at: timestamp(self.started_at, &what)?,
            updated_at: timestamp(self.updated_at, &what)?,
            orchestration: self.orchestration,
            id: RunId(self.id),
        })
    }
}

/// How many runs there are per status (of one orchestration, if given).
pub(super) fn counts(
    conn: &Connection,
    orchestration: Option<&str>,
) -> StoreResult<Vec<(RunStatus, u64)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT status, count(*) FROM runs WHERE ?1 IS NULL OR orchestration = ?1
             GROUP BY status ORDER BY status",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([orchestration], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(db)?;
    rows.map(|row| {
        let (status, count) = row.map_err(db)?;
        Ok((
            from_name(status, "run status count")?,
            u64::try_from(count).unwrap_or(0),
        ))
    })
    .collect()
}
