//! Step logs: what a step's flow printed and logged, per attempt.

use rusqlite::{Connection, Transaction, params};
use stagecraft_core::run::{RunId, StepKey};

use super::codec::{db, from_json, nanos, timestamp, version};
use stagecraft_store::{StepLog, StoreError, StoreResult};

/// Stores (or, for a re-executed attempt, replaces) a step's log.
pub(super) fn put(tx: &Transaction<'_>, log: &StepLog) -> StoreResult<()> {
    let lines = serde_json::to_string(&log.lines)
        .map_err(|e| StoreError::write(format!("a step log of run {}", log.run.0), e))?;
    let recorded_at = nanos(log.recorded_at)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO step_logs
             (run_id, stage_run, stage, step, attempt, flow_version, recorded_at, lines)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            log.run.0,
            i64::try_from(log.step.stage_run).unwrap_or(i64::MAX),
            log.step.stage,
            log.step.step,
            log.attempt,
            log.flow_version,
            recorded_at,
            lines
        ])
    })
    .map_err(db)?;
    Ok(())
}

/// Every step log of a run, in the order the steps ran.
pub(super) fn list(conn: &Connection, run: &RunId) -> StoreResult<Vec<StepLog>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT stage_run, stage, step, attempt, flow_version, recorded_at, lines
             FROM step_logs WHERE run_id = ?1 ORDER BY recorded_at",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([&run.0], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, String>(6)?,
            ))
        })
        .map_err(db)?;
    let mut logs = Vec::new();
    for row in rows {
        let (stage_run, stage, step, attempt, flow_version, recorded_at, lines) =
            row.map_err(db)?;
        let what = format!("step log of {run} {step} attempt {attempt}");
        logs.push(StepLog {
            run: run.clone(),
            step: StepKey {
                stage,
                stage_run: usize::try_from(stage_run).unwrap_or_default(),
                step,
            },
            attempt: version(attempt, &what)?,
            flow_version: version(flow_version, &what)?,
            recorded_at: timestamp(recorded_at, &what)?,
            lines: from_json(&lines, &what)?,
        });
    }
    Ok(logs)
}
