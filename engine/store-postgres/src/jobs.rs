//! Resume jobs and the audit log.

use deadpool_postgres::{Client, GenericClient, Transaction};
use stagecraft_core::run::RunId;
use stagecraft_store::encoding::{corrupt, from_name, name_of, nanos, timestamp};
use stagecraft_store::{
    AuditAction, AuditEntry, AuditFilter, AuditOutcome, AuditRecord, JobCounts, JobId, JobRecord,
    JobRefusals, JobRun, JobRunState, JobStatus, NewJob, StoreError, StoreResult,
};
use tokio_postgres::Row;

use crate::error::{read_error, write_error};
use crate::runs::Params;

/// Audit records listed when the filter sets no limit.
const DEFAULT_AUDIT_LIMIT: u32 = 100;
/// The most audit records one listing returns.
const MAX_AUDIT_LIMIT: u32 = 1000;

const JOB_COLUMNS: &str = "SELECT id, spec, created_by, created_at, status, finished_at FROM jobs";

/// Creates a running job with its runs, all pending.
pub(crate) async fn create(tx: &Transaction<'_>, job: &NewJob) -> StoreResult<JobRecord> {
    let failed = || write_error("a job");
    let spec = job.spec.to_string();
    let created_at = nanos(job.created_at)?;
    let status = name_of(&JobStatus::Running)?;
    tx.execute(
        "INSERT INTO jobs (id, spec, created_by, created_at, status) VALUES ($1, $2, $3, $4, $5)",
        &[&job.id.0, &spec, &job.created_by, &created_at, &status],
    )
    .await
    .map_err(failed())?;
    let runs: Vec<&str> = job.runs.iter().map(|run| run.0.as_str()).collect();
    tx.execute(
        "INSERT INTO job_runs (job_id, seq, run_id, state)
         SELECT $1, n - 1, run_id, 'pending' FROM UNNEST($2::text[]) WITH ORDINALITY AS r(run_id, n)",
        &[&job.id.0, &runs],
    )
    .await
    .map_err(failed())?;
    one(tx, &job.id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("job {}", job.id)))
}

/// Ends a running job.
pub(crate) async fn finish(
    tx: &Transaction<'_>,
    id: &JobId,
    status: JobStatus,
    at: jiff::Timestamp,
) -> StoreResult<JobRecord> {
    // Locks the row: of two nodes ending the same job, one waits and then
    // sees it ended.
    let current = tx
        .query_opt("SELECT status FROM jobs WHERE id = $1 FOR UPDATE", &[&id.0])
        .await
        .map_err(read_error("a job"))?
        .ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
    let current: String = current.try_get(0).map_err(read_error("a job"))?;
    if current != name_of(&JobStatus::Running)? {
        return Err(StoreError::Conflict(format!(
            "job {id} is already {current}"
        )));
    }
    tx.execute(
        "UPDATE jobs SET status = $2, finished_at = $3 WHERE id = $1",
        &[&id.0, &name_of(&status)?, &nanos(at)?],
    )
    .await
    .map_err(write_error("a job"))?;
    one(tx, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("job {id}")))
}

/// Which of `ids` a node was asked to cancel, with who asked.
pub(crate) async fn cancels_requested(
    client: &Client,
    ids: &[JobId],
) -> StoreResult<Vec<(JobId, String)>> {
    let ids: Vec<&str> = ids.iter().map(|id| id.0.as_str()).collect();
    let failed = || read_error("jobs' cancels");
    client
        .query(
            "SELECT id, cancel_requested_by FROM jobs
             WHERE id = ANY($1::text[]) AND status = 'running'
               AND cancel_requested_by IS NOT NULL",
            &[&ids],
        )
        .await
        .map_err(failed())?
        .iter()
        .map(|row| {
            Ok((
                JobId(row.try_get(0).map_err(failed())?),
                row.try_get(1).map_err(failed())?,
            ))
        })
        .collect()
}

/// One job, with its counts.
pub(crate) async fn one(client: &impl GenericClient, id: &JobId) -> StoreResult<Option<JobRecord>> {
    let row = client
        .query_opt(&format!("{JOB_COLUMNS} WHERE id = $1"), &[&id.0])
        .await
        .map_err(read_error("a job"))?;
    match row {
        Some(row) => Ok(Some(record(client, &row).await?)),
        None => Ok(None),
    }
}

/// The latest `limit` jobs, newest first.
pub(crate) async fn list(
    client: &Client,
    status: Option<JobStatus>,
    limit: u32,
) -> StoreResult<Vec<JobRecord>> {
    let status = status.map(|s| name_of(&s)).transpose()?;
    let rows = client
        .query(
            &format!(
                "{JOB_COLUMNS} WHERE $1::text IS NULL OR status = $1
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ),
            &[&status, &i64::from(limit.max(1))],
        )
        .await
        .map_err(read_error("jobs"))?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        jobs.push(record(client, row).await?);
    }
    Ok(jobs)
}

/// Up to `limit` runs of a job in selection order.
pub(crate) async fn runs(
    client: &Client,
    id: &JobId,
    state: Option<JobRunState>,
    limit: u32,
) -> StoreResult<Vec<JobRun>> {
    let failed = || read_error("a job's runs");
    let state = state.map(|s| name_of(&s)).transpose()?;
    let stmt = client
        .prepare_cached(
            "SELECT run_id, state, reason FROM job_runs
             WHERE job_id = $1 AND ($2::text IS NULL OR state = $2) ORDER BY seq LIMIT $3",
        )
        .await
        .map_err(failed())?;
    let what = format!("job {id}");
    client
        .query(&stmt, &[&id.0, &state, &i64::from(limit)])
        .await
        .map_err(failed())?
        .iter()
        .map(|row| {
            Ok(JobRun {
                run: RunId(row.try_get(0).map_err(failed())?),
                state: from_name(row.try_get(1).map_err(failed())?, &what)?,
                reason: row.try_get(2).map_err(failed())?,
            })
        })
        .collect()
}

async fn record(client: &impl GenericClient, row: &Row) -> StoreResult<JobRecord> {
    let failed = || read_error("a job");
    let id: String = row.try_get(0).map_err(failed())?;
    let spec: String = row.try_get(1).map_err(failed())?;
    let finished_at: Option<i64> = row.try_get(5).map_err(failed())?;
    let what = format!("job {id}");
    let id = JobId(id);
    let counts = counts(client, &id).await?;
    let refusals = if counts.refused > 0 {
        refusals(client, &id).await?
    } else {
        Vec::new()
    };
    Ok(JobRecord {
        spec: serde_json::from_str(&spec).map_err(|e| corrupt(&what, e))?,
        created_by: row.try_get(2).map_err(failed())?,
        created_at: timestamp(row.try_get(3).map_err(failed())?, &what)?,
        status: from_name(row.try_get(4).map_err(failed())?, &what)?,
        finished_at: finished_at.map(|at| timestamp(at, &what)).transpose()?,
        counts,
        refusals,
        id,
    })
}

async fn refusals(client: &impl GenericClient, id: &JobId) -> StoreResult<Vec<JobRefusals>> {
    let failed = || read_error("a job's refusals");
    client
        .query(
            "SELECT coalesce(reason, ''), count(*), min(run_id) FROM job_runs
             WHERE job_id = $1 AND state = 'refused'
             GROUP BY reason ORDER BY count(*) DESC, coalesce(reason, '') LIMIT 50",
            &[&id.0],
        )
        .await
        .map_err(failed())?
        .iter()
        .map(|row| {
            let count: i64 = row.try_get(1).map_err(failed())?;
            Ok(JobRefusals {
                reason: row.try_get(0).map_err(failed())?,
                count: u64::try_from(count).unwrap_or(0),
                example: RunId(row.try_get(2).map_err(failed())?),
            })
        })
        .collect()
}

async fn counts(client: &impl GenericClient, id: &JobId) -> StoreResult<JobCounts> {
    let failed = || read_error("a job's counts");
    let rows = client
        .query(
            "SELECT state, count(*) FROM job_runs WHERE job_id = $1 GROUP BY state",
            &[&id.0],
        )
        .await
        .map_err(failed())?;
    let mut counts = JobCounts::default();
    for row in rows {
        let state: String = row.try_get(0).map_err(failed())?;
        let count: i64 = row.try_get(1).map_err(failed())?;
        let state: JobRunState = from_name(state, &format!("job {id}"))?;
        counts.add(state, u64::try_from(count).unwrap_or(0));
    }
    Ok(counts)
}

/// Audit records matching `filter`, newest first.
pub(crate) async fn audit(client: &Client, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
    let mut conditions = Vec::new();
    let mut params = Params::default();
    if let Some(actor) = &filter.actor {
        conditions.push(format!("actor = {}", params.push(actor.clone())));
    }
    if let Some(action) = filter.action {
        conditions.push(format!("action = {}", params.push(action.name())));
    }
    if let Some(target) = &filter.target {
        conditions.push(format!("target = {}", params.push(target.clone())));
    }
    // Times the store cannot hold select everything or nothing, not fail.
    if let Some(since) = filter.since {
        conditions.push(format!("at >= {}", params.push(clamped(since))));
    }
    if let Some(until) = filter.until {
        conditions.push(format!("at < {}", params.push(clamped(until))));
    }
    if let Some(before) = filter.before {
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        conditions.push(format!("id < {}", params.push(before)));
    }
    let limit = filter
        .limit
        .unwrap_or(DEFAULT_AUDIT_LIMIT)
        .clamp(1, MAX_AUDIT_LIMIT);
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, at, actor, action, target, outcome, reason, detail FROM audit {filter}
         ORDER BY id DESC LIMIT {limit}"
    );
    let failed = || read_error("the audit log");
    let stmt = client.prepare_cached(&sql).await.map_err(failed())?;
    client
        .query(&stmt, &params.refs())
        .await
        .map_err(failed())?
        .iter()
        .map(audit_entry)
        .collect()
}

fn clamped(at: jiff::Timestamp) -> i64 {
    nanos(at).unwrap_or(if at.as_second() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(crate) fn audit_entry(row: &Row) -> StoreResult<AuditEntry> {
    let failed = || read_error("an audit record");
    let id: i64 = row.try_get(0).map_err(failed())?;
    let what = format!("audit record {id}");
    let action: String = row.try_get(3).map_err(failed())?;
    let outcome: String = row.try_get(5).map_err(failed())?;
    let reason: Option<String> = row.try_get(6).map_err(failed())?;
    let detail: Option<String> = row.try_get(7).map_err(failed())?;
    let action = AuditAction::parse(&action)
        .ok_or_else(|| corrupt(&what, format!("unknown action {action:?}")))?;
    let outcome = match outcome.as_str() {
        "done" => AuditOutcome::Done,
        "refused" => AuditOutcome::Refused {
            reason: reason.unwrap_or_default(),
        },
        other => return Err(corrupt(&what, format!("unknown outcome {other:?}"))),
    };
    let detail = match detail {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt(&what, e))?,
        None => serde_json::Value::Null,
    };
    Ok(AuditEntry {
        id: u64::try_from(id).map_err(|_| corrupt(&what, "negative id"))?,
        record: AuditRecord {
            at: timestamp(row.try_get(1).map_err(failed())?, &what)?,
            actor: row.try_get(2).map_err(failed())?,
            action,
            target: row.try_get(4).map_err(failed())?,
            outcome,
            detail,
        },
    })
}
