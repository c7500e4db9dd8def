//! The `jobs` and `job_runs` tables.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use stagecraft_core::run::RunId;

use super::codec::{corrupt, db, from_name, name_of, nanos, timestamp};
use stagecraft_store::{
    JobCounts, JobId, JobRecord, JobRefusals, JobRun, JobRunOutcome, JobRunState, JobStatus,
    NewJob, StoreError, StoreResult,
};

/// Creates `job` with every run Pending.
pub(super) fn create(tx: &Transaction<'_>, job: &NewJob) -> StoreResult<JobRecord> {
    let spec = job.spec.to_string();
    let created_at = nanos(job.created_at)?;
    let status = name_of(&JobStatus::Running)?;
    tx.prepare_cached(
        "INSERT INTO jobs (id, spec, created_by, created_at, status) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| stmt.execute(params![job.id.0, spec, job.created_by, created_at, status]))
    .map_err(db)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO job_runs (job_id, seq, run_id, state) VALUES (?1, ?2, ?3, 'pending')",
        )
        .map_err(db)?;
    for (seq, run) in job.runs.iter().enumerate() {
        let seq = i64::try_from(seq)
            .map_err(|_| StoreError::write(format!("job {}", job.id), "too many runs"))?;
        insert.execute(params![job.id.0, seq, run.0]).map_err(db)?;
    }
    drop(insert);
    one(tx, &job.id)?.ok_or_else(|| StoreError::NotFound(format!("job {}", job.id)))
}

/// Records what became of runs of jobs (in a run commit).
pub(super) fn record(tx: &Transaction<'_>, outcomes: &[JobRunOutcome]) -> StoreResult<()> {
    let mut update = tx
        .prepare_cached(
            "UPDATE job_runs SET state = ?3, reason = ?4
             WHERE job_id = ?1 AND run_id = ?2 AND state = 'pending'",
        )
        .map_err(db)?;
    for outcome in outcomes {
        let (state, reason) = match &outcome.outcome {
            Ok(()) => (JobRunState::Resumed, None),
            Err(reason) => (JobRunState::Refused, Some(reason.as_str())),
        };
        update
            .execute(params![
                outcome.job.0,
                outcome.run.0,
                name_of(&state)?,
                reason
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// Ends a running job; a job that already ended is a conflict.
pub(super) fn finish(
    tx: &Transaction<'_>,
    id: &JobId,
    status: JobStatus,
    at: jiff::Timestamp,
) -> StoreResult<JobRecord> {
    let current = one(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
    if current.status != JobStatus::Running {
        return Err(StoreError::Conflict(format!(
            "job {id} is already {}",
            name_of(&current.status)?
        )));
    }
    let (status, at) = (name_of(&status)?, nanos(at)?);
    tx.prepare_cached("UPDATE jobs SET status = ?2, finished_at = ?3 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![id.0, status, at]))
        .map_err(db)?;
    one(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))
}

/// One job with its counts.
pub(super) fn one(conn: &Connection, id: &JobId) -> StoreResult<Option<JobRecord>> {
    let row = conn
        .prepare_cached(
            "SELECT id, spec, created_by, created_at, status, finished_at FROM jobs WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.query_row([&id.0], JobRow::read).optional())
        .map_err(db)?;
    row.map(|row| row.record(conn)).transpose()
}

/// Jobs (with `status`, if given), newest first.
pub(super) fn list(
    conn: &Connection,
    status: Option<JobStatus>,
    limit: u32,
) -> StoreResult<Vec<JobRecord>> {
    let status = status.map(|s| name_of(&s)).transpose()?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, spec, created_by, created_at, status, finished_at FROM jobs
             WHERE ?1 IS NULL OR status = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2",
        )
        .map_err(db)?;
    let rows: Vec<JobRow> = stmt
        .query_map(params![status, limit.max(1)], JobRow::read)
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    rows.into_iter().map(|row| row.record(conn)).collect()
}

/// A job's runs in selection order, only those in `state` if given.
pub(super) fn runs(
    conn: &Connection,
    id: &JobId,
    state: Option<JobRunState>,
    limit: u32,
) -> StoreResult<Vec<JobRun>> {
    let state = state.map(|s| name_of(&s)).transpose()?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_id, state, reason FROM job_runs
             WHERE job_id = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY seq LIMIT ?3",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params![id.0, state, limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })
        .map_err(db)?;
    let what = format!("job {id}");
    rows.map(|row| {
        let (run, state, reason) = row.map_err(db)?;
        Ok(JobRun {
            run: RunId(run),
            state: from_name(state, &what)?,
            reason,
        })
    })
    .collect()
}

struct JobRow {
    id: String,
    spec: String,
    created_by: String,
    created_at: i64,
    status: String,
    finished_at: Option<i64>,
}

impl JobRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            spec: row.get(1)?,
            created_by: row.get(2)?,
            created_at: row.get(3)?,
            status: row.get(4)?,
            finished_at: row.get(5)?,
        })
    }

    fn record(self, conn: &Connection) -> StoreResult<JobRecord> {
        let what = format!("job {}", self.id);
        let id = JobId(self.id);
        let counts = counts(conn, &id)?;
        let refusals = if counts.refused > 0 {
            refusals(conn, &id)?
        } else {
            Vec::new()
        };
        Ok(JobRecord {
            spec: serde_json::from_str(&self.spec).map_err(|e| corrupt(&what, e))?,
            created_by: self.created_by,
            created_at: timestamp(self.created_at, &what)?,
            status: from_name(self.status, &what)?,
            finished_at: self
                .finished_at
                .map(|at| timestamp(at, &what))
                .transpose()?,
            counts,
            refusals,
            id,
        })
    }
}

/// Refused runs grouped by reason, most frequent first.
fn refusals(conn: &Connection, id: &JobId) -> StoreResult<Vec<JobRefusals>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT reason, count(*), min(run_id) FROM job_runs
             WHERE job_id = ?1 AND state = 'refused'
             GROUP BY reason ORDER BY count(*) DESC, reason LIMIT 50",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([&id.0], |row| {
            Ok(JobRefusals {
                reason: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                count: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                example: RunId(row.get(2)?),
            })
        })
        .map_err(db)?;
    rows.map(|row| row.map_err(db)).collect()
}

fn counts(conn: &Connection, id: &JobId) -> StoreResult<JobCounts> {
    let mut stmt = conn
        .prepare_cached("SELECT state, count(*) FROM job_runs WHERE job_id = ?1 GROUP BY state")
        .map_err(db)?;
    let rows = stmt
        .query_map([&id.0], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(db)?;
    let mut counts = JobCounts::default();
    for row in rows {
        let (state, count) = row.map_err(db)?;
        let state: JobRunState = from_name(state, &format!("job {id}"))?;
        counts.add(state, u64::try_from(count).unwrap_or(0));
    }
    Ok(counts)
}
