//! Retention: finished runs, ended jobs, old idempotency keys and exported
//! audit records removed in small batches, each one statement. Rows are
//! locked `SKIP LOCKED`, so nodes pruning at once remove each row once.

use deadpool_postgres::Client;
use stagecraft_store::encoding::{final_statuses, nanos, version};
use stagecraft_store::{AuditEntry, LivePins, StoreResult};

use crate::error::{read_error, write_error};

/// Removes up to `limit` finished runs that last changed before `before`,
/// with their step logs and (by cascade) work items; how many.
pub(crate) async fn runs(client: &Client, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
    let statuses = final_statuses()?;
    client
        .execute(
            "WITH doomed AS (
                 SELECT id FROM runs
                 WHERE status = ANY($1::text[]) AND started_at < $2 AND updated_at < $2
                 ORDER BY started_at LIMIT $3 FOR UPDATE SKIP LOCKED
             ), logs AS (
                 DELETE FROM step_logs WHERE run_id IN (SELECT id FROM doomed)
             )
             DELETE FROM runs WHERE id IN (SELECT id FROM doomed)",
            &[&statuses, &nanos(before)?, &i64::from(limit)],
        )
        .await
        .map_err(write_error("finished runs"))
}

/// Removes up to `limit` jobs that ended before `before`, with their runs'
/// rows; how many.
pub(crate) async fn jobs(client: &Client, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
    client
        .execute(
            "WITH doomed AS (
                 SELECT id FROM jobs WHERE status <> 'running' AND finished_at < $1
                 ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
             ), job_rows AS (
                 DELETE FROM job_runs WHERE job_id IN (SELECT id FROM doomed)
             )
             DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)",
            &[&nanos(before)?, &i64::from(limit)],
        )
        .await
        .map_err(write_error("ended jobs"))
}

/// Removes up to `limit` idempotency keys held before `before`; how many.
pub(crate) async fn start_keys(
    client: &Client,
    before: jiff::Timestamp,
    limit: u32,
) -> StoreResult<u64> {
    client
        .execute(
            "DELETE FROM start_keys WHERE (caller, key) IN (
                 SELECT caller, key FROM start_keys WHERE held_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&nanos(before)?, &i64::from(limit)],
        )
        .await
        .map_err(write_error("old idempotency keys"))
}

/// Removes up to `limit` flow versions superseded before `before`, not
/// active and not in `pins`, oldest first, with their quarantines; which.
/// The candidates are locked, so an activation of one waits and then fails
/// (its foreign key), and nodes pruning at once remove each once. Nothing
/// is deleted (nor the catalog's change count raised) when nothing goes.
pub(crate) async fn flow_versions(
    client: &mut Client,
    before: jiff::Timestamp,
    pins: &LivePins,
    limit: u32,
) -> StoreResult<Vec<(String, u32)>> {
    let what = "superseded flow versions";
    let tx = client.transaction().await.map_err(write_error(what))?;
    let rows = tx
        .query(
            "SELECT f.name, f.version, f.digest FROM flows f
             WHERE NOT EXISTS (SELECT 1 FROM active_flows a
                               WHERE a.name = f.name AND a.version = f.version)
               AND EXISTS (SELECT 1 FROM flows newer
                           WHERE newer.name = f.name AND newer.version > f.version
                             AND newer.deployed_at < $1)
             ORDER BY f.deployed_at, f.name, f.version
             FOR UPDATE OF f SKIP LOCKED",
            &[&nanos(before)?],
        )
        .await
        .map_err(write_error(what))?;
    let mut names = Vec::new();
    let mut numbers = Vec::new();
    for row in &rows {
        let name: String = row.try_get(0).map_err(read_error("a flow version"))?;
        let number: i64 = row.try_get(1).map_err(read_error("a flow version"))?;
        let digest: String = row.try_get(2).map_err(read_error("a flow version"))?;
        if !pins.holds(&digest, version(number, "flow version")?) {
            names.push(name);
            numbers.push(number);
        }
        if names.len() >= limit as usize {
            break;
        }
    }
    if names.is_empty() {
        return Ok(Vec::new());
    }
    for table in ["flow_quarantines", "flows"] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE (name, version) IN
                     (SELECT * FROM unnest($1::text[], $2::bigint[]))"
            ),
            &[&names, &numbers],
        )
        .await
        .map_err(write_error(what))?;
    }
    tx.commit().await.map_err(write_error(what))?;
    names
        .into_iter()
        .zip(numbers)
        .map(|(name, number)| Ok((name, version(number, "flow version")?)))
        .collect()
}

/// The oldest audit records recorded before `before`, oldest first, the
/// newest record of the log excepted.
pub(crate) async fn oldest_audit(
    client: &Client,
    before: jiff::Timestamp,
    limit: u32,
) -> StoreResult<Vec<AuditEntry>> {
    let rows = client
        .query(
            "SELECT id, at, actor, action, target, outcome, reason, detail FROM audit
             WHERE id < (SELECT max(id) FROM audit) ORDER BY id LIMIT $1",
            &[&i64::from(limit)],
        )
        .await
        .map_err(read_error("the audit log"))?;
    let before = nanos(before)?;
    let mut oldest = Vec::new();
    for row in &rows {
        let at: i64 = row.try_get(1).map_err(read_error("an audit record"))?;
        if at >= before {
            break;
        }
        oldest.push(crate::jobs::audit_entry(row)?);
    }
    Ok(oldest)
}

/// Removes the audit records up to id `through` recorded before `before`,
/// the newest excepted; how many.
pub(crate) async fn prune_audit(
    client: &Client,
    through: u64,
    before: jiff::Timestamp,
) -> StoreResult<u64> {
    client
        .execute(
            "DELETE FROM audit WHERE id <= $1 AND at < $2 AND id < (SELECT max(id) FROM audit)",
            &[&i64::try_from(through).unwrap_or(i64::MAX), &nanos(before)?],
        )
        .await
        .map_err(write_error("exported audit records"))
}

/// Makes `node` the one that prunes for `hold`, unless another node holds
/// that role still; whether it is.
pub(crate) async fn claim(
    client: &Client,
    node: &str,
    hold: std::time::Duration,
) -> StoreResult<bool> {
    let millis = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
    let claimed = client
        .execute(
            "UPDATE retention SET holder = $1, held_until = now() + $2 * interval '1 millisecond'
             WHERE id = 1 AND (holder IS NULL OR holder = $1 OR held_until < now())",
            &[&node, &millis],
        )
        .await
        .map_err(write_error("the pruning role"))?;
    Ok(claimed == 1)
}
