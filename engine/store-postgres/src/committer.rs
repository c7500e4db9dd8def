//! Group commit: one task writes every commit waiting when it starts a
//! transaction, in the order they were made, with one statement per table.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{Pool, Transaction};
use stagecraft_store::encoding::{EncodedCommit, EncodedRun, name_of, nanos};
use stagecraft_store::lineage::FailedLineage;
use stagecraft_store::{
    AuditOutcome, AuditRecord, JobRunOutcome, JobRunState, StepLog, StoreError, StoreResult,
};
use tokio::sync::{mpsc, oneshot};

use crate::error::{unavailable, write_error};
use crate::node::Node;
use crate::text::text;

/// What one [`stagecraft_store::Store::commit`] call writes, with the
/// epochs this node owns its runs at.
pub(crate) struct Batch {
    pub(crate) commit: EncodedCommit,
    /// The epoch of each of `commit.runs`, in order.
    pub(crate) epochs: Vec<i64>,
    /// The runs let go with it, at their epochs.
    pub(crate) released: Vec<(String, i64)>,
    /// The commit's number in this node's order (`Leases::stage`).
    pub(crate) number: u64,
}

impl Batch {
    fn size(&self) -> usize {
        self.commit.size() + self.released.len()
    }
}

type Request = (Batch, oneshot::Sender<StoreResult<()>>);

/// The handle to the committer task; the task ends when every handle is
/// dropped and the queue is drained.
#[derive(Clone)]
pub(crate) struct Committer {
    requests: mpsc::UnboundedSender<Request>,
    committed: Arc<AtomicU64>,
}

impl Committer {
    /// Starts the task.
    pub fn start(pool: Pool, node: Arc<Node>, max_batch: usize) -> Self {
        let (requests, queue) = mpsc::unbounded_channel();
        let committed = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, node, queue, max_batch, Arc::clone(&committed)));
        Self {
            requests,
            committed,
        }
    }

    /// Queues `batch` (at once, before any await) and waits for its commit.
    pub fn commit(
        &self,
        batch: Batch,
    ) -> impl std::future::Future<Output = StoreResult<()>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let queued = self.requests.send((batch, reply));
        async move {
            queued.map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
    }

    pub fn transactions_committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }
}

async fn run(
    pool: Pool,
    node: Arc<Node>,
    mut queue: mpsc::UnboundedReceiver<Request>,
    max_batch: usize,
    committed: Arc<AtomicU64>,
) {
    let mut lineage = FailedLineage::default();
    while let Some(first) = queue.recv().await {
        let mut size = first.0.size();
        let mut requests = vec![first];
        while size < max_batch {
            match queue.try_recv() {
                Ok(request) => {
                    size += request.0.size();
                    requests.push(request);
                }
                Err(_) => break,
            }
        }
        // A commit built on one that failed fails unwritten.
        let requests: Vec<Request> = requests
            .into_iter()
            .filter_map(
                |(batch, reply)| match lineage.built_on_failure(&batch.commit) {
                    Some(error) => {
                        let _ = reply.send(Err(error.with_context("commit failed")));
                        None
                    }
                    None => Some((batch, reply)),
                },
            )
            .collect();
        if requests.is_empty() {
            continue;
        }
        let (batches, replies): (Vec<_>, Vec<_>) = requests.into_iter().unzip();
        let results = match write(&pool, &node, &batches).await {
            Ok(()) => {
                committed.fetch_add(1, Ordering::Relaxed);
                node.leases().committed_all(&batches);
                vec![Ok(()); batches.len()]
            }
            // One caller's bad record must not fail the others' commits:
            // what the database refused is written again one caller's
            // batch at a time. (What a retry may fix — a lost connection, a
            // fenced run — fails them all: the callers retry.)
            Err(error) if batches.len() > 1 && !error.is_retryable() => {
                tracing::debug!(callers = replies.len(), %error, "group commit refused; committing its callers one by one");
                one_by_one(&pool, &node, &batches, &committed).await
            }
            Err(error) => {
                tracing::debug!(callers = replies.len(), %error, "group commit failed");
                vec![Err(error); batches.len()]
            }
        };
        for ((reply, result), batch) in replies.into_iter().zip(results).zip(&batches) {
            if result.is_err() {
                lineage.failed(&batch.commit);
            }
            let _ = reply.send(result.map_err(|error| error.with_context("commit failed")));
        }
    }
}

/// Writes each batch in a transaction of its own, in order. A batch that
/// carries a run whose earlier batch failed fails too, unwritten: its
/// state was built on the one that was not committed.
async fn one_by_one(
    pool: &Pool,
    node: &Node,
    batches: &[Batch],
    committed: &AtomicU64,
) -> Vec<StoreResult<()>> {
    let mut failed_runs: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut results = Vec::with_capacity(batches.len());
    for batch in batches {
        let runs = || batch.commit.runs.iter().map(|run| run.id.as_str());
        if let Some(run) = runs().find(|run| failed_runs.contains(run)) {
            results.push(Err(StoreError::write(
                format!("run {run}"),
                "an earlier commit of the run, on which this one was built, failed",
            )));
            continue;
        }
        let result = write(pool, node, std::slice::from_ref(batch)).await;
        match &result {
            Ok(()) => {
                committed.fetch_add(1, Ordering::Relaxed);
                node.leases().committed_all(std::slice::from_ref(batch));
            }
            Err(_) => failed_runs.extend(runs()),
        }
        results.push(result);
    }
    results
}

/// Writes the batches in one transaction; fails it whole if another node
/// claimed one of its runs (raised its epoch) meanwhile.
async fn write(pool: &Pool, node: &Node, batches: &[Batch]) -> StoreResult<()> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| unavailable("no connection to PostgreSQL", e))?;
    let tx = client
        .transaction()
        .await
        .map_err(write_error("a group commit"))?;
    let fenced = put_runs(&tx, node, batches).await?;
    if !fenced.is_empty() {
        // Not committed: the transaction rolls back when dropped.
        let error = StoreError::unavailable(
            format!(
                "{} run(s) now served by another node (run {}…)",
                fenced.len(),
                fenced[0]
            ),
            "this node's lease on them ran out and another node claimed them; \
             the node reloads the runs it still owns",
        );
        node.leases().lost(&fenced);
        return Err(error);
    }
    release(&tx, node, batches).await?;
    put_step_logs(&tx, batches.iter().flat_map(|b| &b.commit.step_logs)).await?;
    let audit: Vec<&AuditRecord> = batches.iter().flat_map(|b| &b.commit.audit).collect();
    put_audit_refs(&tx, &audit).await?;
    put_job_runs(&tx, batches.iter().flat_map(|b| &b.commit.job_runs)).await?;
    tx.commit().await.map_err(write_error("a group commit"))
}

/// Upserts each run's latest state in the batch, at the epoch this node
/// owns it at, and replaces its work-item rows. Returns the runs whose
/// epoch moved on (claimed by another node): nothing may be committed then.
async fn put_runs(
    tx: &Transaction<'_>,
    node: &Node,
    batches: &[Batch],
) -> StoreResult<Vec<String>> {
    // A run committed twice in one batch is written once, with its later
    // state (one statement cannot update a row twice), owned by this node
    // unless that later commit lets it go.
    let mut latest: HashMap<&str, (&EncodedRun, i64, bool)> = HashMap::new();
    let mut order = Vec::new();
    for batch in batches {
        for (run, epoch) in batch.commit.runs.iter().zip(&batch.epochs) {
            let released = batch.released.iter().any(|(id, _)| *id == run.id);
            if latest
                .insert(run.id.as_str(), (run, *epoch, released))
                .is_none()
            {
                order.push(run.id.as_str());
            }
        }
    }
    if order.is_empty() {
        return Ok(Vec::new());
    }
    let writes: Vec<(&EncodedRun, i64, bool)> = order
        .iter()
        .filter_map(|id| latest.get(id).copied())
        .collect();
    let runs: Vec<&EncodedRun> = writes.iter().map(|(run, _, _)| *run).collect();
    let epochs: Vec<i64> = writes.iter().map(|(_, epoch, _)| *epoch).collect();
    let owners: Vec<Option<&str>> = writes
        .iter()
        .map(|(_, _, released)| (!released).then_some(node.id.as_str()))
        .collect();
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    let orchestrations: Vec<&str> = runs.iter().map(|r| r.orchestration.as_str()).collect();
    let versions: Vec<i64> = runs.iter().map(|r| r.version).collect();
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    let started: Vec<i64> = runs.iter().map(|r| r.started_at).collect();
    let updated: Vec<i64> = runs.iter().map(|r| r.updated_at).collect();
    let stages: Vec<Option<&str>> = runs.iter().map(|r| r.stage.as_deref()).collect();
    let states: Vec<&[u8]> = runs.iter().map(|r| r.state.as_slice()).collect();
    let failed = || write_error("run states");
    // `started_at` is kept from the first write: the start never moves. A
    // row is updated only at the epoch this node claimed it with.
    let upsert = tx
        .prepare_cached(
            "INSERT INTO runs (id, orchestration, version, status, started_at, updated_at, stage,
                               state, owner, epoch)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                                  $6::bigint[], $7::text[], $8::bytea[], $9::text[], $10::bigint[])
             ON CONFLICT (id) DO UPDATE SET
                 orchestration = excluded.orchestration,
                 version = excluded.version,
                 status = excluded.status,
                 updated_at = excluded.updated_at,
                 stage = excluded.stage,
                 state = excluded.state,
                 owner = excluded.owner
             WHERE runs.epoch = excluded.epoch
             RETURNING id",
        )
        .await
        .map_err(failed())?;
    let written = tx
        .query(
            &upsert,
            &[
                &ids,
                &orchestrations,
                &versions,
                &statuses,
                &started,
                &updated,
                &stages,
                &states,
                &owners,
                &epochs,
            ],
        )
        .await
        .map_err(failed())?;
    if written.len() < ids.len() {
        let written = written
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<std::collections::HashSet<_>, _>>()
            .map_err(failed())?;
        return Ok(ids
            .iter()
            .filter(|id| !written.contains(**id))
            .map(|id| (*id).to_owned())
            .collect());
    }
    let clear = tx
        .prepare_cached("DELETE FROM work_items WHERE run_id = ANY($1::text[])")
        .await
        .map_err(failed())?;
    tx.execute(&clear, &[&ids]).await.map_err(failed())?;

    // An id seen twice (in a malformed state) keeps its last row rather than
    // failing the whole group commit.
    let mut items = HashMap::new();
    let mut item_order = Vec::new();
    for run in &runs {
        for item in &run.work_items {
            if items
                .insert(item.id.as_str(), (run.id.as_str(), item))
                .is_none()
            {
                item_order.push(item.id.as_str());
            }
        }
    }
    if item_order.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<_> = item_order.iter().filter_map(|id| items.get(id)).collect();
    let item_ids: Vec<&str> = items.iter().map(|(_, i)| i.id.as_str()).collect();
    let run_ids: Vec<&str> = items.iter().map(|(run, _)| *run).collect();
    let kinds: Vec<&str> = items.iter().map(|(_, i)| i.assignee_kind).collect();
    let assignees: Vec<Cow<'_, str>> = items.iter().map(|(_, i)| text(&i.assignee_id)).collect();
    let statuses: Vec<&str> = items.iter().map(|(_, i)| i.status.as_str()).collect();
    let created: Vec<i64> = items.iter().map(|(_, i)| i.created_at).collect();
    let bodies: Vec<&str> = items.iter().map(|(_, i)| i.item.as_str()).collect();
    let insert = tx
        .prepare_cached(
            "INSERT INTO work_items (id, run_id, assignee_kind, assignee_id, status, created_at, item)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::bigint[], $7::text[])
             ON CONFLICT (id) DO UPDATE SET
                 run_id = excluded.run_id,
                 assignee_kind = excluded.assignee_kind,
                 assignee_id = excluded.assignee_id,
                 status = excluded.status,
                 created_at = excluded.created_at,
                 item = excluded.item",
        )
        .await
        .map_err(failed())?;
    tx.execute(
        &insert,
        &[
            &item_ids, &run_ids, &kinds, &assignees, &statuses, &created, &bodies,
        ],
    )
    .await
    .map_err(failed())?;
    Ok(Vec::new())
}

/// Gives up the runs let go without a new state (read for a command that
/// was refused), if this node still owns them at the epoch it read.
async fn release(tx: &Transaction<'_>, node: &Node, batches: &[Batch]) -> StoreResult<()> {
    let written: std::collections::HashSet<&str> = batches
        .iter()
        .flat_map(|b| b.commit.runs.iter().map(|r| r.id.as_str()))
        .collect();
    let (ids, epochs): (Vec<&str>, Vec<i64>) = batches
        .iter()
        .flat_map(|b| &b.released)
        .filter(|(id, _)| !written.contains(id.as_str()))
        .map(|(id, epoch)| (id.as_str(), *epoch))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    let failed = || write_error("released runs");
    let stmt = tx
        .prepare_cached(
            "UPDATE runs r SET owner = NULL
             FROM UNNEST($1::text[], $2::bigint[]) AS u(id, epoch)
             WHERE r.id = u.id AND r.epoch = u.epoch AND r.owner = $3",
        )
        .await
        .map_err(failed())?;
    tx.execute(&stmt, &[&ids, &epochs, &node.id])
        .await
        .map_err(failed())?;
    Ok(())
}

/// Stores (or, for a re-executed attempt, replaces) step logs.
async fn put_step_logs<'a>(
    tx: &Transaction<'_>,
    logs: impl Iterator<Item = &'a StepLog>,
) -> StoreResult<()> {
    let mut latest = HashMap::new();
    let mut order = Vec::new();
    for log in logs {
        let key = (&log.run.0, log.step.stage_run, &log.step.step, log.attempt);
        if latest.insert(key, log).is_none() {
            order.push(key);
        }
    }
    if order.is_empty() {
        return Ok(());
    }
    let logs: Vec<&StepLog> = order
        .iter()
        .filter_map(|key| latest.get(key).copied())
        .collect();
    let failed = || write_error("step logs");
    let runs: Vec<&str> = logs.iter().map(|l| l.run.0.as_str()).collect();
    let stage_runs: Vec<i64> = logs
        .iter()
        .map(|l| i64::try_from(l.step.stage_run).unwrap_or(i64::MAX))
        .collect();
    let stages: Vec<&str> = logs.iter().map(|l| l.step.stage.as_str()).collect();
    let steps: Vec<&str> = logs.iter().map(|l| l.step.step.as_str()).collect();
    let attempts: Vec<i64> = logs.iter().map(|l| i64::from(l.attempt)).collect();
    let versions: Vec<i64> = logs.iter().map(|l| i64::from(l.flow_version)).collect();
    let recorded = logs
        .iter()
        .map(|l| nanos(l.recorded_at))
        .collect::<StoreResult<Vec<_>>>()?;
    let lines = logs
        .iter()
        .map(|l| {
            serde_json::to_string(&l.lines)
                .map_err(|e| StoreError::write(format!("a step log of run {}", l.run.0), e))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO step_logs
                 (run_id, stage_run, stage, step, attempt, flow_version, recorded_at, lines)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                                  $6::bigint[], $7::bigint[], $8::text[])
             ON CONFLICT (run_id, stage_run, step, attempt) DO UPDATE SET
                 stage = excluded.stage,
                 flow_version = excluded.flow_version,
                 recorded_at = excluded.recorded_at,
                 lines = excluded.lines",
        )
        .await
        .map_err(failed())?;
    tx.execute(
        &upsert,
        &[
            &runs,
            &stage_runs,
            &stages,
            &steps,
            &attempts,
            &versions,
            &recorded,
            &lines,
        ],
    )
    .await
    .map_err(failed())?;
    Ok(())
}

/// Appends audit records, in order.
pub(crate) async fn put_audit(tx: &Transaction<'_>, records: &[AuditRecord]) -> StoreResult<()> {
    let records: Vec<&AuditRecord> = records.iter().collect();
    put_audit_refs(tx, &records).await
}

async fn put_audit_refs(tx: &Transaction<'_>, records: &[&AuditRecord]) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let failed = || write_error("audit records");
    let at = records
        .iter()
        .map(|r| nanos(r.at))
        .collect::<StoreResult<Vec<_>>>()?;
    let actors: Vec<Cow<'_, str>> = records.iter().map(|r| text(&r.actor)).collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action.name()).collect();
    let targets: Vec<Cow<'_, str>> = records.iter().map(|r| text(&r.target)).collect();
    let (outcomes, reasons): (Vec<&str>, Vec<Option<Cow<'_, str>>>) = records
        .iter()
        .map(|r| match &r.outcome {
            AuditOutcome::Done => ("done", None),
            AuditOutcome::Refused { reason } => ("refused", Some(text(reason))),
        })
        .unzip();
    let details: Vec<Option<String>> = records
        .iter()
        .map(|r| (!r.detail.is_null()).then(|| r.detail.to_string()))
        .collect();
    let insert = tx
        .prepare_cached(
            "INSERT INTO audit (at, actor, action, target, outcome, reason, detail)
             SELECT at, actor, action, target, outcome, reason, detail
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[])
                  WITH ORDINALITY AS r(at, actor, action, target, outcome, reason, detail, n)
             ORDER BY n",
        )
        .await
        .map_err(failed())?;
    tx.execute(
        &insert,
        &[
            &at, &actors, &actions, &targets, &outcomes, &reasons, &details,
        ],
    )
    .await
    .map_err(failed())?;
    Ok(())
}

/// Moves job runs out of Pending; the first outcome of a run wins.
/// A job's outcomes are written only while it runs: a commit carrying an
/// outcome of a job that ended (canceled through another node while its
/// driver was paused) is refused whole, so the resume it records does not
/// happen either. The job rows are locked for share, so a cancel waits for
/// the commits under way and those after it see it.
async fn put_job_runs<'a>(
    tx: &Transaction<'_>,
    outcomes: impl Iterator<Item = &'a JobRunOutcome>,
) -> StoreResult<()> {
    let mut seen = std::collections::HashSet::new();
    let outcomes: Vec<&JobRunOutcome> = outcomes
        .filter(|o| seen.insert((o.job.0.as_str(), o.run.0.as_str())))
        .collect();
    if outcomes.is_empty() {
        return Ok(());
    }
    let failed = || write_error("job runs");
    let jobs: Vec<&str> = outcomes.iter().map(|o| o.job.0.as_str()).collect();
    let runs: Vec<&str> = outcomes.iter().map(|o| o.run.0.as_str()).collect();
    let resumed = name_of(&JobRunState::Resumed)?;
    let refused = name_of(&JobRunState::Refused)?;
    let (states, reasons): (Vec<&str>, Vec<Option<Cow<'_, str>>>) = outcomes
        .iter()
        .map(|o| match &o.outcome {
            Ok(()) => (resumed.as_str(), None),
            Err(reason) => (refused.as_str(), Some(text(reason))),
        })
        .unzip();
    let ended = tx
        .prepare_cached(
            "SELECT id FROM jobs WHERE id = ANY($1::text[]) AND status <> 'running'
             ORDER BY id FOR SHARE",
        )
        .await
        .map_err(failed())?;
    if let Some(row) = tx.query_opt(&ended, &[&jobs]).await.map_err(failed())? {
        let job: String = row.try_get(0).map_err(failed())?;
        return Err(StoreError::unavailable(
            format!("job {job} ended (canceled through another node)"),
            "this node was still resuming runs for it; it reloads the runs it owns",
        ));
    }
    let update = tx
        .prepare_cached(
            "UPDATE job_runs j SET state = u.state, reason = u.reason
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                  AS u(job_id, run_id, state, reason)
             WHERE j.job_id = u.job_id AND j.run_id = u.run_id AND j.state = 'pending'",
        )
        .await
        .map_err(failed())?;
    tx.execute(&update, &[&jobs, &runs, &states, &reasons])
        .await
        .map_err(failed())?;
    Ok(())
}
