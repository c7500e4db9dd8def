//! Retention: finished runs, ended jobs, old idempotency keys and flow
//! versions nothing uses removed in
//! small batches, each its own short transaction on the writer thread, so
//! that group commits queue behind one batch at most.

use rusqlite::{Transaction, params};

use super::codec::{db, nanos};
use stagecraft_store::encoding::{final_statuses, version};
use stagecraft_store::{LivePins, StoreResult};

/// Removes up to `limit` finished runs that last changed before `before`,
/// with their step logs and (by cascade) work items; how many.
pub(super) fn runs(tx: &Transaction<'_>, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
    let before = nanos(before)?;
    let mut ids: Vec<String> = Vec::new();
    for status in final_statuses()? {
        let left = i64::from(limit) - i64::try_from(ids.len()).unwrap_or(i64::MAX);
        if left <= 0 {
            break;
        }
        // The (status, started_at) index finds them: a run that changed
        // before `before` started before it.
        let mut stmt = tx
            .prepare_cached(
                "SELECT id FROM runs WHERE status = ?1 AND started_at < ?2 AND updated_at < ?2
                 ORDER BY started_at LIMIT ?3",
            )
            .map_err(db)?;
        let found = stmt
            .query_map(params![status, before, left], |row| row.get::<_, String>(0))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        ids.extend(found);
    }
    for id in &ids {
        tx.prepare_cached("DELETE FROM step_logs WHERE run_id = ?1")
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(db)?;
        tx.prepare_cached("DELETE FROM runs WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(db)?;
    }
    Ok(u64::try_from(ids.len()).unwrap_or(u64::MAX))
}

/// Removes up to `limit` jobs that ended before `before`, with their runs'
/// rows; how many.
pub(super) fn jobs(tx: &Transaction<'_>, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
    let before = nanos(before)?;
    let ids = tx
        .prepare_cached(
            "SELECT id FROM jobs WHERE status <> 'running' AND finished_at < ?1
             ORDER BY finished_at LIMIT ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![before, limit], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db)?;
    for id in &ids {
        tx.prepare_cached("DELETE FROM job_runs WHERE job_id = ?1")
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(db)?;
        tx.prepare_cached("DELETE FROM jobs WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(db)?;
    }
    Ok(u64::try_from(ids.len()).unwrap_or(u64::MAX))
}

/// Removes up to `limit` idempotency keys held before `before`; how many.
pub(super) fn start_keys(
    tx: &Transaction<'_>,
    before: jiff::Timestamp,
    limit: u32,
) -> StoreResult<u64> {
    let before = nanos(before)?;
    let removed = tx
        .prepare_cached(
            "DELETE FROM start_keys WHERE (caller, key) IN
                 (SELECT caller, key FROM start_keys WHERE held_at < ?1 LIMIT ?2)",
        )
        .and_then(|mut stmt| stmt.execute(params![before, limit]))
        .map_err(db)?;
    Ok(u64::try_from(removed).unwrap_or(u64::MAX))
}

/// Removes up to `limit` flow versions superseded before `before`, not
/// active and not in `pins`, oldest first, with their quarantines; which.
pub(super) fn flow_versions(
    tx: &Transaction<'_>,
    before: jiff::Timestamp,
    pins: &LivePins,
    limit: u32,
) -> StoreResult<Vec<(String, u32)>> {
    let before = nanos(before)?;
    let mut stmt = tx
        .prepare_cached(
            "SELECT f.name, f.version, f.digest FROM flows f
             WHERE NOT EXISTS (SELECT 1 FROM active_flows a
                               WHERE a.name = f.name AND a.version = f.version)
               AND EXISTS (SELECT 1 FROM flows newer
                           WHERE newer.name = f.name AND newer.version > f.version
                             AND newer.deployed_at < ?1)
             ORDER BY f.deployed_at, f.name, f.version",
        )
        .map_err(db)?;
    let candidates = stmt
        .query_map([before], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let mut removed = Vec::new();
    for (name, number, digest) in candidates {
        let flow_version = version(number, "flow version")?;
        if pins.holds(&digest, flow_version) {
            continue;
        }
        tx.prepare_cached("DELETE FROM flow_quarantines WHERE name = ?1 AND version = ?2")
            .and_then(|mut stmt| stmt.execute(params![name, number]))
            .map_err(db)?;
        tx.prepare_cached("DELETE FROM flows WHERE name = ?1 AND version = ?2")
            .and_then(|mut stmt| stmt.execute(params![name, number]))
            .map_err(db)?;
        removed.push((name, flow_version));
        if removed.len() >= limit as usize {
            break;
        }
    }
    Ok(removed)
}
