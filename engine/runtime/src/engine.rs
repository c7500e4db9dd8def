//! The engine's public API.

pub(crate) mod audit;
mod catalog;
mod directory;
pub(crate) mod dry_run;
mod flows;
pub(crate) mod jobs;
mod orchestrations;
mod retention;
mod runs;
pub(crate) mod selection;
mod start_key;
mod startup;
mod work_items;

use crate::clock::Clock;
use crate::error::EngineError;
use crate::executor::{Command, RunUpdate, Trail};
use crate::quarantine::Breaker;
use crate::registry::Registry;
use crate::runner::FlowRunner;
use crate::slices::Slices;
use crate::watch::Watchers;
use stagecraft_core::run::{Run, RunId};
use stagecraft_core::{Event, Limits};
use stagecraft_store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use retention::{Pruned, Retention};
pub use start_key::{START_KEY_WINDOW, Started};
pub use startup::EngineBuilder;
pub use work_items::Completion;

/// A new run's id: a UUIDv7, ordered by time of creation.
fn new_run_id() -> RunId {
    RunId(uuid::Uuid::now_v7().to_string())
}

/// Commands waiting for the executor, at most; callers wait beyond that.
const QUEUE_DEPTH: usize = 16 * 1024;

/// A running Stagecraft engine on a [`Store`]. Cheap to clone; every clone
/// drives the same engine.
pub struct Engine<S: Store> {
    inner: Arc<Inner<S>>,
}

impl<S: Store> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// How often a wait for a run's state reads it from a store shared by
/// several nodes (another node may be applying its commands).
const CLUSTER_WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

struct Inner<S> {
    store: Arc<S>,
    runner: Arc<dyn FlowRunner>,
    registry: Arc<Registry>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    commands: mpsc::Sender<Command>,
    updates: broadcast::Sender<RunUpdate>,
    watchers: Arc<Watchers>,
    executor: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Bumped whenever a resume job makes progress or ends.
    jobs_progress: tokio::sync::watch::Sender<u64>,
    /// Resume jobs canceled, whose commands the executor drops.
    canceled: crate::executor::CanceledJobs,
    /// Runs the executor holds in memory.
    held: Arc<std::sync::atomic::AtomicUsize>,
    /// The catalog as of which changes, on a store shared by several
    /// nodes (deploys and activations made through the others).
    catalog_seen: tokio::sync::Mutex<Option<i64>>,
    /// Fresh reads of the catalog's version, shared by concurrent requests.
    catalog_reads: crate::catalog_version::CatalogReads,
    /// The resume jobs this engine drives.
    driving: std::sync::Mutex<std::collections::HashSet<stagecraft_store::JobId>>,
    /// How long what the engine stores is kept.
    retention: Retention,
    /// Fair slices of the CPU among orchestrations and flows.
    slices: Arc<Slices>,
    /// Quarantines flow versions that keep hitting resource limits.
    breaker: Arc<Breaker>,
    /// Where audit records are exported before retention removes them.
    audit_export: std::path::PathBuf,
    /// The superseded flow versions retention last found pinned by live
    /// runs, and when: reading every live run again is worth it only once
    /// they change or a while has passed.
    flow_versions_kept: std::sync::Mutex<Option<retention::KeptVersions>>,
}

impl<S: Store> Engine<S> {
    /// The store underneath, for queries the engine does not wrap.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// How many runs the engine holds in memory: those with work in flight
    /// (a flow, an evaluation, an external action or an assignee check
    /// under way) or a commit pending. Runs that wait on a person, an event
    /// or an operator stay in the store until a command comes for them.
    /// Counted once every command sent before this call is durable, so a
    /// run that just settled is not counted while its commit finishes.
    pub async fn held_runs(&self) -> Result<usize, EngineError> {
        self.settle().await?;
        Ok(self.inner.held.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Stops taking commands, finishes the queued ones and waits for the
    /// executor. Flow invocations still running are abandoned; they are
    /// re-run when the engine opens again.
    pub async fn shutdown(self) {
        let handle = self
            .inner
            .executor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(self);
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    /// Feeds a person's `event` to a run, recorded as `trail` says (also
    /// when it is refused).
    async fn event(
        &self,
        run: &RunId,
        event: Event,
        trail: Trail,
    ) -> Result<Arc<Run>, EngineError> {
        let id = run.clone();
        let refusal = trail.audit.clone();
        let job = trail.job.clone();
        let result = self
            .request(|reply| Command::Event {
                run: id,
                event,
                reply: Some(reply),
                log: None,
                trail: Some(Box::new(trail)),
            })
            .await;
        match result {
            // The executor records every other refusal with the command.
            Err(EngineError::NotFound(missing)) => {
                let error = self.not_held(run, missing).await;
                let recorded = match refusal {
                    Some(audit) => {
                        self.record_refusal(audit, job.as_ref().map(|job| (job, run)), &error)
                            .await
                    }
                    None => true,
                };
                if !recorded && job.is_some() {
                    // The job's row is still pending: its worker tries again.
                    return Err(EngineError::Store(StoreError::unavailable(
                        format!("the refusal of run {run} could not be recorded"),
                        error,
                    )));
                }
                Err(error)
            }
            other => other,
        }
    }

    /// Why the executor does not hold `run`. It only holds unfinished runs;
    /// a finished one exists but takes no more events. An unfinished one it
    /// does not hold was set aside at start (unreadable, or its
    /// orchestration could not load).
    async fn not_held(&self, run: &RunId, missing: String) -> EngineError {
        match self.inner.store.run(run).await {
            Ok(Some(stored)) if stored.status.is_final() => {
                EngineError::Refused(stagecraft_core::EventError::RunFinished {
                    status: stored.status,
                })
            }
            Ok(Some(stored)) => EngineError::Unavailable(format!(
                "run {run} of {} v{} was set aside when the engine started \
                 ({missing}); see the server log",
                stored.orchestration, stored.version
            )),
            Ok(None) => EngineError::NotFound(missing),
            Err(error) => EngineError::Unavailable(format!(
                "run {run} was set aside when the engine started: {error}"
            )),
        }
    }

    /// Waits until every command the executor applied so far is durable.
    pub(crate) async fn settle(&self) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Barrier { reply })
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)
    }

    async fn request(
        &self,
        command: impl FnOnce(crate::executor::Reply) -> Command,
    ) -> Result<Arc<Run>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(command(reply))
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)?
    }
}

/// Refuses a name (of a user, a group, a flow…) that is empty, too long
/// or holds characters other than letters, digits and `_.-@`.
fn check_name(what: &str, name: &str) -> Result<(), EngineError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if valid {
        Ok(())
    } else {
        Err(EngineError::BadRequest(format!(
            "invalid {what} name {name:?}: use 1 to 128 letters, digits, '_', '-', '.' or '@'"
        )))
    }
}
