//! Resume jobs: every run a filter selects, resumed server-side.
//!
//! The selection is fixed and stored when the job is created. A worker
//! takes the Pending runs in batches and feeds each a Resume through the
//! executor; the run's transition and its job row leaving Pending commit in
//! one transaction (a refusal, with its reason, likewise). So a job killed
//! mid-way and picked up when the engine opens again resumes each run
//! exactly once, and a run resumed by hand meanwhile is refused, not resumed
//! twice.

use super::audit::target;
use super::dry_run::{Candidate, Trial};
use super::{Engine, Inner};
use crate::error::EngineError;
use crate::executor::Trail;
use serde::{Deserialize, Serialize};
use stagecraft_core::Event;
use stagecraft_core::repair::RepairFilter;
use stagecraft_core::run::RunId;
use stagecraft_store::{
    AuditAction, JobId, JobRecord, JobRun, JobRunState, JobStatus, NewJob, Store, StoreError,
};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Runs handed to the executor at once.
const BATCH: u32 = 512;
/// Wait before trying again when a batch made no progress (the store fails).
const RETRY: Duration = Duration::from_millis(500);
/// How long a cancel waits for the node driving the job beyond its leases.
const CANCEL_PATIENCE: Duration = Duration::from_secs(10);

/// What a resume job does; stored with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeJob {
    /// The runs to resume.
    #[serde(default)]
    pub filter: RepairFilter,
    /// Resume only the runs on which the active version of `filter.flow`
    /// succeeds when dry-run against their failed invocation; refuse the
    /// others with the dry-run's failure.
    #[serde(default)]
    pub only_if_dry_run_passes: bool,
    /// The deploy that started the job, for deploy-and-resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Deployed>,
}

/// A flow version whose deploy started a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The flow.
    pub flow: String,
    /// The version deployed.
    pub version: u32,
}

impl<S: Store> Engine<S> {
    /// Starts a durable job resuming every run `job.filter` selects now, on
    /// behalf of `by`; answers once it is stored, with the selection's size.
    pub async fn resume_many(&self, job: ResumeJob, by: &str) -> Result<JobRecord, EngineError> {
        self.sync_catalog().await?;
        let id = JobId(uuid::Uuid::now_v7().to_string());
        let audit = self.audit_record(by, AuditAction::JobStart, target::job(&id));
        let record = self
            .audited(audit.clone(), async {
                if job.only_if_dry_run_passes && job.filter.flow.is_none() {
                    return Err(EngineError::BadRequest(
                        "only_if_dry_run_passes needs the flow whose fix is dry-run (flow)".into(),
                    ));
                }
                let runs: Vec<RunId> = self
                    .select(&job.filter)
                    .await?
                    .into_iter()
                    .map(|run| run.id)
                    .collect();
                let spec = serde_json::to_value(&job)
                    .map_err(|e| EngineError::BadRequest(format!("job: {e}")))?;
                let audit = audit.with_detail(serde_json::json!({
                    "job": spec,
                    "selected": runs.len(),
                }));
                let new = NewJob {
                    id: id.clone(),
                    spec,
                    created_by: by.to_owned(),
                    created_at: self.inner.clock.now(),
                    runs,
                };
                Ok(self.inner.store.create_job(new, audit).await?)
            })
            .await?;
        tracing::info!(job = %record.id, runs = record.counts.total, by, "resume job started");
        self.spawn_job(record.id.clone(), job, by.to_owned());
        Ok(record)
    }

    /// Deploys a new version of flow `name` (as [`Engine::deploy_flow`]),
    /// then, once it is active, starts a job resuming every run whose Error
    /// came from that flow; with `only_if_dry_run_passes`, only the runs on
    /// which the new version gets through the failed invocation, dry-run.
    /// Fails only if the deploy does; the job's own failure comes with the
    /// deployed version.
    pub async fn deploy_and_resume(
        &self,
        name: &str,
        kind: stagecraft_host::FlowKind,
        bytes: Vec<u8>,
        memory_mib: Option<u32>,
        only_if_dry_run_passes: bool,
        by: &str,
    ) -> Result<(stagecraft_store::FlowRecord, Result<JobRecord, EngineError>), EngineError> {
        let record = self
            .deploy_flow_with(name, kind, bytes, memory_mib, by)
            .await?;
        let job = ResumeJob {
            filter: RepairFilter {
                flow: Some(name.to_owned()),
                ..RepairFilter::default()
            },
            only_if_dry_run_passes,
            deployed: Some(Deployed {
                flow: name.to_owned(),
                version: record.version,
            }),
        };
        // The version is deployed whatever becomes of the job: a caller
        // retrying the whole request would deploy yet another version.
        let job = self.resume_many(job, by).await;
        if let Err(error) = &job {
            tracing::error!(flow = name, version = record.version, %error, "deployed, but the resume job could not start");
        }
        Ok((record, job))
    }

    /// One job, with its progress.
    pub async fn job(&self, id: &JobId) -> Result<JobRecord, EngineError> {
        self.inner
            .store
            .job(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("job {id}")))
    }

    /// The latest `limit` jobs, newest first.
    pub async fn jobs(&self, limit: u32) -> Result<Vec<JobRecord>, EngineError> {
        Ok(self.inner.store.jobs(None, limit).await?)
    }

    /// Up to `limit` runs of a job (only those in `state`, if given).
    pub async fn job_runs(
        &self,
        id: &JobId,
        state: Option<JobRunState>,
        limit: u32,
    ) -> Result<Vec<JobRun>, EngineError> {
        self.job(id).await?;
        Ok(self.inner.store.job_runs(id, state, limit).await?)
    }

    /// Cancels a running job: runs not handled yet stay as they are. Once
    /// this returns, no run of the job changes any more: the job is
    /// canceled by the node that drives it, which stops applying its
    /// resumes and lets those under way commit first. On a store shared by
    /// several nodes, a job another live node drives is canceled there,
    /// and this waits for that node to say so.
    pub async fn cancel_job(&self, id: &JobId, by: &str) -> Result<JobRecord, EngineError> {
        let Some(ttl) = self.inner.store.lease_ttl() else {
            return self.cancel_here(id, by).await;
        };
        if self.driving(id) {
            return self.cancel_here(id, by).await;
        }
        let mut asked = false;
        let started = tokio::time::Instant::now();
        loop {
            let record = self.job(id).await?;
            // Ended (by the driver, at our request or not), or driven by no
            // live node (so now by this one): ended here.
            if record.status != JobStatus::Running
                || self.driving(id)
                || self.inner.store.claim_job(id).await?
            {
                if asked && record.status == JobStatus::Canceled {
                    tracing::info!(job = %id, by, "resume job canceled by the node that drove it");
                    return Ok(record);
                }
                return self.cancel_here(id, by).await;
            }
            if !asked {
                self.inner.store.request_job_cancel(id, by).await?;
                asked = true;
            }
            // The driver looks for requests ten times per lease; one that
            // answers in none of four leases is stopped or cut off, and the
            // job is taken over (above) once its lease runs out.
            if started.elapsed() > 4 * ttl + CANCEL_PATIENCE {
                return Err(EngineError::Unavailable(format!(
                    "the node driving job {id} has not confirmed its cancel yet; it is \
                     requested, and takes effect when that node next looks (or when \
                     another node takes the job over)"
                )));
            }
            tokio::select! {
                () = self.inner.store.route_hint() => {}
                () = tokio::time::sleep(ttl / 20) => {}
            }
        }
    }

    /// Cancels a job this node drives, or that no live node drives.
    async fn cancel_here(&self, id: &JobId, by: &str) -> Result<JobRecord, EngineError> {
        let audit = self.audit_record(by, AuditAction::JobCancel, target::job(id));
        // Marked first, so that the executor applies no more of its resumes;
        // then what it applied before settles, so that once the cancel is
        // recorded no run of the job changes any more. Unmarked if the
        // cancel does not happen.
        self.mark_canceled(id, true);
        self.settle().await?;
        let record = self
            .audited(audit.clone(), async {
                let at = self.inner.clock.now();
                match self
                    .inner
                    .store
                    .finish_job(id, JobStatus::Canceled, at, Some(audit))
                    .await
                {
                    Ok(record) => Ok(record),
                    Err(StoreError::Conflict(why)) => Err(EngineError::Conflict(why)),
                    Err(StoreError::NotFound(what)) => Err(EngineError::NotFound(what)),
                    Err(other) => Err(other.into()),
                }
            })
            .await;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                self.mark_canceled(id, false);
                return Err(error);
            }
        };
        self.inner.jobs_progress.send_modify(|n| *n += 1);
        // No worker here to drop the job's commands: forgotten now (a
        // worker forgets it when it ends), so the set stays bounded.
        if !self.driving(id) {
            self.mark_canceled(id, false);
        }
        tracing::info!(job = %id, by, "resume job canceled");
        Ok(record)
    }

    fn mark_canceled(&self, id: &JobId, canceled: bool) {
        let mut jobs = self
            .inner
            .canceled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if canceled {
            jobs.insert(id.clone());
        } else {
            jobs.remove(id);
        }
    }

    fn is_canceled(&self, id: &JobId) -> bool {
        self.inner
            .canceled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(id)
    }

    /// Waits until a job is no longer running, and returns it.
    pub async fn wait_for_job(&self, id: &JobId) -> Result<JobRecord, EngineError> {
        let mut progress = self.inner.jobs_progress.subscribe();
        loop {
            let record = self.job(id).await?;
            if record.status != JobStatus::Running {
                return Ok(record);
            }
            progress
                .changed()
                .await
                .map_err(|_| EngineError::ShuttingDown)?;
        }
    }

    /// Cancels the jobs driven here that another node was asked to cancel,
    /// as soon as a node says so (the hint of a routed command) and ten
    /// times per lease in any case, until the engine stops.
    pub(crate) fn honour_cancels_as_asked(&self, ttl: Duration) {
        let engine = Arc::downgrade(&self.inner);
        let store = Arc::clone(&self.inner.store);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = store.route_hint() => {}
                    () = tokio::time::sleep(ttl / 10) => {}
                }
                let Some(inner) = engine.upgrade() else {
                    return;
                };
                if let Err(error) = (Engine { inner }).honour_cancels().await {
                    tracing::warn!(%error, "cannot look for cancels of the jobs driven here");
                }
            }
        });
    }

    /// Cancels the jobs this node drives that another node was asked to
    /// cancel.
    async fn honour_cancels(&self) -> Result<(), EngineError> {
        let driving: Vec<JobId> = self
            .inner
            .driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        if driving.is_empty() {
            return Ok(());
        }
        for (id, by) in self.inner.store.cancels_requested(driving).await? {
            match self.cancel_here(&id, &by).await {
                Ok(_) | Err(EngineError::Conflict(_)) => {}
                Err(error) => {
                    tracing::warn!(job = %id, %error, "cannot cancel the job another node was asked to cancel; trying again");
                }
            }
        }
        Ok(())
    }

    /// Whether this engine drives job `id` already.
    fn driving(&self, id: &JobId) -> bool {
        self.inner
            .driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(id)
    }

    /// Picks up the jobs that were running when the engine stopped; with
    /// several nodes, those whose node stopped (called every half lease).
    pub(crate) async fn resume_jobs(&self) -> Result<(), EngineError> {
        for record in self
            .inner
            .store
            .jobs(Some(JobStatus::Running), u32::MAX)
            .await?
        {
            // Driven here already, or by another live node.
            if self.driving(&record.id) || !self.inner.store.claim_job(&record.id).await? {
                continue;
            }
            match serde_json::from_value::<ResumeJob>(record.spec.clone()) {
                Ok(job) => {
                    tracing::info!(job = %record.id, pending = record.counts.pending, "resume job picked up");
                    self.spawn_job(record.id, job, record.created_by);
                }
                Err(error) => {
                    tracing::error!(job = %record.id, %error, "resume job set aside: its description cannot be read");
                }
            }
        }
        Ok(())
    }

    /// Runs the job's worker. It holds the engine only while it works on a
    /// batch, so that dropping the engine's last handle shuts it down.
    fn spawn_job(&self, id: JobId, job: ResumeJob, by: String) {
        self.inner
            .driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone());
        let engine = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while let Some(progress) = step(&engine, &id, &job, &by).await {
                if !progress {
                    tokio::time::sleep(RETRY).await;
                }
            }
            // Not driven here any more: the sets stay bounded, and a job
            // still running may be picked up again. Its commands were all
            // answered: none is left for the executor to drop.
            if let Some(inner) = engine.upgrade() {
                inner
                    .driving
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
                inner
                    .canceled
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
            }
        });
    }

    /// Resumes one run for a job, or records why not.
    async fn resume_for_job(&self, id: &JobId, run: &RunId, job: &ResumeJob, by: &str) -> Handled {
        let audit = self
            .audit_record(by, AuditAction::RunResume, target::run(run))
            .with_detail(serde_json::json!({ "job": id }));
        if job.only_if_dry_run_passes {
            match self.gate(run).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => {
                    if self.is_canceled(id) {
                        return Handled::Canceled;
                    }
                    // A driver that lost the job (paused past its lease)
                    // records no refusal: the job's new driver decides.
                    match self.inner.store.claim_job(id).await {
                        Ok(true) => {}
                        Ok(false) => return Handled::Stop,
                        Err(_) => return Handled::No,
                    }
                    let error = EngineError::BadRequest(why);
                    let recorded = self.record_refusal(audit, Some((id, run)), &error).await;
                    return if recorded { Handled::Yes } else { Handled::No };
                }
                Err(error) => {
                    tracing::warn!(job = %id, run = %run, %error, "cannot dry-run the run's failure now; trying again");
                    return Handled::No;
                }
            }
        }
        let trail = Trail {
            audit: Some(audit),
            job: Some(id.clone()),
        };
        let event = Event::Resume { by: by.to_owned() };
        match self.event(run, event, trail).await {
            Ok(_) => Handled::Yes,
            Err(EngineError::ShuttingDown) => Handled::Stop,
            // Dropped unapplied: the job is being canceled.
            Err(EngineError::Conflict(_)) if self.is_canceled(id) => Handled::Canceled,
            // Not committed: the run is still Pending, and tried again.
            Err(EngineError::Store(_)) => Handled::No,
            // Refused, and recorded as such with the job's row.
            Err(_) => Handled::Yes,
        }
    }

    /// Whether the active version of the run's failed flow gets through
    /// its failed invocation, dry-run: `Ok(Err(why))` if not; `Err` when
    /// the store cannot say now (the run is tried again later).
    async fn gate(&self, run: &RunId) -> Result<Result<(), String>, EngineError> {
        let state = match self.run(run).await {
            Ok(state) => state,
            Err(error @ EngineError::Store(_)) => return Err(error),
            Err(other) => return Ok(Err(other.to_string())),
        };
        let trial = match self
            .plan_of(&state)
            .map_err(|e| e.to_string())
            .and_then(|plan| Trial::failure(&state, &plan))
        {
            Ok(trial) => trial,
            Err(why) => return Ok(Err(why)),
        };
        let compiled = match self
            .candidate(&trial.flow, trial.kind, Candidate::Deployed(None))
            .await
        {
            Ok(compiled) => compiled,
            Err(error @ EngineError::Store(_)) => return Err(error),
            Err(other) => return Ok(Err(other.to_string())),
        };
        Ok(match trial.try_on(&compiled.flow).await.0 {
            super::dry_run::Outcome::Failed { failure } => Err(format!(
                "the dry-run of {} v{} failed: {}",
                trial.flow,
                compiled.version.unwrap_or_default(),
                failure.message.lines().next().unwrap_or_default()
            )),
            _ => Ok(()),
        })
    }
}

/// What became of one run of a batch.
enum Handled {
    /// Resumed or refused, durably.
    Yes,
    /// Not yet: the store failed.
    No,
    /// Not applied: the job is being canceled. Whether the cancel is
    /// recorded, the job's status says at the worker's next batch.
    Canceled,
    /// The engine is shutting down, or the job is not this node's to
    /// drive any more.
    Stop,
}

/// One batch of a job's worker: `None` when the worker is done (the job
/// ended, or the engine is gone), else whether the batch made progress.
async fn step<S: Store>(
    engine: &Weak<Inner<S>>,
    id: &JobId,
    job: &ResumeJob,
    by: &str,
) -> Option<bool> {
    let engine = Engine {
        inner: engine.upgrade()?,
    };
    let store = &engine.inner.store;
    let pending = match store.job(id).await {
        Ok(Some(record)) if record.status == JobStatus::Running => {
            // Still this node's to drive: one paused past its lease may
            // have lost the job to another node meanwhile.
            match store.claim_job(id).await {
                Ok(true) => store.job_runs(id, Some(JobRunState::Pending), BATCH).await,
                Ok(false) => {
                    tracing::info!(job = %id, "resume job driven by another node now");
                    return None;
                }
                Err(error) => Err(error),
            }
        }
        Ok(_) => return None,
        Err(error) => Err(error),
    };
    let pending = match pending {
        Ok(pending) => pending,
        Err(error) => {
            tracing::warn!(job = %id, %error, "resume job cannot read its runs; retrying");
            return Some(false);
        }
    };
    if pending.is_empty() {
        let at = engine.inner.clock.now();
        match store.finish_job(id, JobStatus::Completed, at, None).await {
            Ok(record) => {
                tracing::info!(job = %id, resumed = record.counts.resumed, refused = record.counts.refused, "resume job completed");
            }
            // Canceled meanwhile: nothing left to do either way.
            Err(StoreError::Conflict(_)) => {}
            Err(error) => {
                tracing::warn!(job = %id, %error, "resume job cannot complete; retrying");
                return Some(false);
            }
        }
        engine.inner.jobs_progress.send_modify(|n| *n += 1);
        return None;
    }
    let handled = futures_util::future::join_all(
        pending
            .iter()
            .map(|run| engine.resume_for_job(id, &run.run, job, by)),
    )
    .await;
    engine.inner.jobs_progress.send_modify(|n| *n += 1);
    if handled.iter().any(|h| matches!(h, Handled::Stop)) {
        return None;
    }
    // A cancel under way: the next batch reads the job's status, which is
    // Canceled unless recording the cancel failed (the job then goes on).
    if handled.iter().any(|h| matches!(h, Handled::Canceled)) {
        return Some(false);
    }
    Some(handled.iter().any(|h| matches!(h, Handled::Yes)))
}
