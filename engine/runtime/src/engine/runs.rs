//! Runs: starting, reading, controlling and waiting for them.

use super::audit::target;
use super::{CLUSTER_WAIT_POLL, Engine, new_run_id};
use crate::error::EngineError;
use crate::executor::{Command, RunUpdate, Trail};
use serde_json::Value;
use stagecraft_core::Event;
use stagecraft_core::run::{Run, RunId, RunStatus};
use stagecraft_store::{AuditAction, RunFilter, RunSummary, StepLog, Store};
use std::sync::Arc;
use tokio::sync::broadcast;

impl<S: Store> Engine<S> {
    /// Starts a run of the active version of `orchestration` on behalf of
    /// `by`. Returns once the start is durable, with the run's state at that
    /// point.
    pub async fn start_run(
        &self,
        orchestration: &str,
        inputs: Value,
        by: &str,
    ) -> Result<Arc<Run>, EngineError> {
        let plan = self.plan_to_start(orchestration, by).await?;
        self.start_as(plan, new_run_id(), inputs, by).await
    }

    /// The active plan of `orchestration`, to start a run of; a refusal,
    /// audited, if there is none.
    pub(super) async fn plan_to_start(
        &self,
        orchestration: &str,
        by: &str,
    ) -> Result<Arc<stagecraft_core::Plan>, EngineError> {
        self.sync_catalog().await?;
        if let Some(plan) = self.inner.registry.active_plan(orchestration) {
            return Ok(plan);
        }
        let error = EngineError::NotFound(format!("orchestration {orchestration:?}"));
        let audit = self.audit_record(
            by,
            AuditAction::RunStart,
            target::orchestration(orchestration),
        );
        self.record_refusal(audit, None, &error).await;
        Err(error)
    }

    /// Starts run `id` of `plan`.
    pub(super) async fn start_as(
        &self,
        plan: Arc<stagecraft_core::Plan>,
        id: RunId,
        inputs: Value,
        by: &str,
    ) -> Result<Arc<Run>, EngineError> {
        // No detail: the run names its orchestration, and this is the hot path.
        let audit = self.audit_record(by, AuditAction::RunStart, target::run(&id));
        self.request(|reply| Command::Start {
            plan,
            id,
            inputs,
            reply,
            trail: Trail::audit(audit),
        })
        .await
    }

    /// A run's current state.
    pub async fn run(&self, id: &RunId) -> Result<Arc<Run>, EngineError> {
        self.inner
            .store
            .run(id)
            .await?
            .map(Arc::new)
            .ok_or_else(|| EngineError::NotFound(format!("run {id}")))
    }

    /// What each step's flow printed and logged, per attempt.
    pub async fn step_logs(&self, run: &RunId) -> Result<Vec<StepLog>, EngineError> {
        Ok(self.inner.store.step_logs(run).await?)
    }

    /// Runs by status and orchestration, newest first.
    pub async fn runs(&self, filter: RunFilter) -> Result<Vec<RunSummary>, EngineError> {
        Ok(self.inner.store.runs(filter).await?)
    }

    /// How many runs there are per status, of one orchestration if given.
    pub async fn run_counts(
        &self,
        orchestration: Option<String>,
    ) -> Result<Vec<(RunStatus, u64)>, EngineError> {
        Ok(self.inner.store.run_counts(orchestration).await?)
    }

    /// Publishes an orchestration event to a run on behalf of `by`: its
    /// conditions are evaluated again.
    pub async fn publish_event(
        &self,
        run: &RunId,
        name: &str,
        by: &str,
    ) -> Result<Arc<Run>, EngineError> {
        let audit = self
            .audit_record(by, AuditAction::RunPublish, target::run(run))
            .with_detail(serde_json::json!({ "event": name }));
        let event = Event::EventPublished {
            name: name.to_owned(),
        };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Suspends a run (SPEC §4).
    pub async fn suspend(&self, run: &RunId, by: &str) -> Result<Arc<Run>, EngineError> {
        let audit = self.audit_record(by, AuditAction::RunSuspend, target::run(run));
        let event = Event::Suspend { by: by.to_owned() };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Resumes a suspended run, or a run in recoverable Error within its
    /// recovery window. Restarted steps run the flow version active now.
    pub async fn resume(&self, run: &RunId, by: &str) -> Result<Arc<Run>, EngineError> {
        self.sync_catalog().await?;
        let audit = self.audit_record(by, AuditAction::RunResume, target::run(run));
        let event = Event::Resume { by: by.to_owned() };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Cancels a run; it cannot be resumed afterwards.
    pub async fn cancel(&self, run: &RunId, by: &str) -> Result<Arc<Run>, EngineError> {
        let audit = self.audit_record(by, AuditAction::RunCancel, target::run(run));
        let event = Event::Cancel { by: by.to_owned() };
        self.event(run, event, Trail::audit(audit)).await
    }

    /// Committed run changes, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<RunUpdate> {
        self.inner.updates.subscribe()
    }

    /// Waits until `condition` holds for the run's committed state, and
    /// returns that state.
    pub async fn wait_for(
        &self,
        run: &RunId,
        condition: impl Fn(&Run) -> bool,
    ) -> Result<Arc<Run>, EngineError> {
        // Watch before reading, so no commit falls in between.
        let mut watcher = self.inner.watchers.watch(run);
        let current = self.run(run).await?;
        if condition(&current) {
            return Ok(current);
        }
        // With several nodes, another one may be the run's owner: its
        // commits are read from the store, every so often.
        let mut polls = self.inner.store.lease_ttl().map(|_| {
            let mut ticks = tokio::time::interval(CLUSTER_WAIT_POLL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        loop {
            let polled = async {
                match polls.as_mut() {
                    Some(ticks) => ticks.tick().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = watcher.changed() => {
                    changed.map_err(|_| EngineError::ShuttingDown)?;
                    if let Some(state) = watcher.borrow_and_update().clone()
                        && condition(&state)
                    {
                        return Ok(state);
                    }
                }
                _ = polled => {
                    let current = self.run(run).await?;
                    if condition(&current) {
                        return Ok(current);
                    }
                }
            }
        }
    }

    /// Waits until the run is no longer In Progress.
    pub async fn wait_until_settled(&self, run: &RunId) -> Result<Arc<Run>, EngineError> {
        self.wait_for(run, |run| run.status != RunStatus::InProgress)
            .await
    }
}
