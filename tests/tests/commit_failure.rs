//! A store whose commit fails: the caller hears of it, nothing of the failed
//! batch is kept, and the engine reloads the durable state and carries its
//! runs on (the executor's crash-only recovery, without the crash).

use serde_json::json;
use stagecraft_core::run::{MilestoneKind, MilestoneRecord, Run, RunId, RunStatus, WorkItemId};
use stagecraft_engine::{
    ActionCall, Engine, EngineConfig, EngineError, ExternalAction, FlowKind, RepairFilter,
    ResumeJob, SystemClock,
};
use stagecraft_host::{FlowHost, HostConfig};
use stagecraft_store::{
    AuditEntry, AuditFilter, AuditRecord, Commit, FlowRecord, Group, JobId, JobRecord, JobRun,
    JobRunState, JobStatus, Memberships, NewFlow, NewJob, NewOrchestration, OrchestrationRecord,
    Quarantine, Queue, RunFilter, RunSummary, StartKey, StepLog, Store, StoreError, StoreResult,
    UnfinishedRuns, User, WorkItemFilter, WorkItemRecord,
};
use stagecraft_store_sqlite::{SqliteConfig, SqliteStore};
use stagecraft_tests::{HOSTILE, NOOP, bytes, chain_orchestration, test_limits};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;

/// Which commits to refuse.
#[derive(Clone, Copy)]
enum Fault {
    /// Every commit.
    All,
    /// The first commit that would complete a run.
    FirstCompletion,
    /// Every commit after the next one, as from a disk that is full.
    FullAfterOne {
        /// Whether the one commit allowed went through.
        used: bool,
    },
    /// The next commit is written, and then reported failed: a connection
    /// lost during `COMMIT`.
    LostAnswer,
}

/// The SQLite store, refusing the commits `fault` names while armed.
struct FailingStore {
    inner: SqliteStore,
    fault: std::sync::Mutex<Option<Fault>>,
    refused: AtomicUsize,
    /// Finishing a job fails, slowly (a second and more), while set.
    finish_fails: std::sync::atomic::AtomicBool,
}

impl FailingStore {
    fn arm(&self, fault: Option<Fault>) {
        *self.fault.lock().expect("not poisoned") = fault;
    }

    /// Whether to refuse a commit of `runs`; a one-shot fault disarms itself.
    fn refuses(&self, runs: &[Arc<Run>]) -> bool {
        let mut fault = self.fault.lock().expect("not poisoned");
        let refuse = match *fault {
            None => false,
            Some(Fault::All) => true,
            Some(Fault::FullAfterOne { used: false }) => {
                *fault = Some(Fault::FullAfterOne { used: true });
                false
            }
            Some(Fault::FullAfterOne { used: true }) => true,
            Some(Fault::LostAnswer) => false,
            Some(Fault::FirstCompletion) => {
                let completes = runs.iter().any(|r| r.status == RunStatus::Completed);
                if completes {
                    *fault = None;
                }
                completes
            }
        };
        if refuse {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        refuse
    }
}

impl Store for FailingStore {
    async fn commit(&self, commit: Commit) -> StoreResult<()> {
        if self.refuses(&commit.runs) {
            let full = matches!(
                *self.fault.lock().expect("not poisoned"),
                Some(Fault::FullAfterOne { .. })
            );
            return Err(if full {
                StoreError::unavailable("the disk is full", "injected")
            } else {
                StoreError::write("the runs", "injected commit failure")
            });
        }
        let lost = {
            let mut fault = self.fault.lock().expect("not poisoned");
            let lost = matches!(*fault, Some(Fault::LostAnswer));
            if lost {
                *fault = None;
            }
            lost
        };
        self.inner.commit(commit).await?;
        if lost {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::unavailable(
                "the connection was lost during COMMIT",
                "injected",
            ));
        }
        Ok(())
    }
    async fn unfinished_runs(&self) -> StoreResult<UnfinishedRuns> {
        self.inner.unfinished_runs().await
    }
    async fn runs_with_status(
        &self,
        status: RunStatus,
        orchestration: Option<(String, Option<u32>)>,
    ) -> StoreResult<UnfinishedRuns> {
        self.inner.runs_with_status(status, orchestration).await
    }
    async fn run(&self, id: &RunId) -> StoreResult<Option<Run>> {
        self.inner.run(id).await
    }
    async fn runs(&self, filter: RunFilter) -> StoreResult<Vec<RunSummary>> {
        self.inner.runs(filter).await
    }
    async fn run_counts(
        &self,
        orchestration: Option<String>,
    ) -> StoreResult<Vec<(RunStatus, u64)>> {
        self.inner.run_counts(orchestration).await
    }
    async fn work_items(&self, filter: WorkItemFilter) -> StoreResult<Vec<WorkItemRecord>> {
        self.inner.work_items(filter).await
    }
    async fn work_item(&self, id: &WorkItemId) -> StoreResult<Option<WorkItemRecord>> {
        self.inner.work_item(id).await
    }
    async fn step_logs(&self, run: &RunId) -> StoreResult<Vec<StepLog>> {
        self.inner.step_logs(run).await
    }
    async fn insert_flow(&self, flow: NewFlow, audit: AuditRecord) -> StoreResult<FlowRecord> {
        self.inner.insert_flow(flow, audit).await
    }
    async fn activate_flow(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> StoreResult<FlowRecord> {
        self.inner.activate_flow(name, version, audit).await
    }
    async fn flows(&self) -> StoreResult<Vec<FlowRecord>> {
        self.inner.flows().await
    }
    async fn quarantine_flow(
        &self,
        name: &str,
        version: u32,
        quarantine: Quarantine,
        audit: AuditRecord,
    ) -> StoreResult<Option<FlowRecord>> {
        self.inner
            .quarantine_flow(name, version, quarantine, audit)
            .await
    }
    async fn lift_quarantine(
        &self,
        name: &str,
        version: u32,
        audit: AuditRecord,
    ) -> StoreResult<Option<FlowRecord>> {
        self.inner.lift_quarantine(name, version, audit).await
    }
    async fn flow_bytes(&self, name: &str, version: u32) -> StoreResult<Option<Vec<u8>>> {
        self.inner.flow_bytes(name, version).await
    }
    async fn insert_orchestration(
        &self,
        orchestration: NewOrchestration,
        audit: AuditRecord,
    ) -> StoreResult<OrchestrationRecord> {
        self.inner.insert_orchestration(orchestration, audit).await
    }
    async fn orchestrations(&self) -> StoreResult<Vec<OrchestrationRecord>> {
        self.inner.orchestrations().await
    }
    async fn put_user(&self, user: User, audit: AuditRecord) -> StoreResult<()> {
        self.inner.put_user(user, audit).await
    }
    async fn put_group(&self, group: Group, audit: AuditRecord) -> StoreResult<()> {
        self.inner.put_group(group, audit).await
    }
    async fn put_queue(&self, queue: Queue, audit: AuditRecord) -> StoreResult<()> {
        self.inner.put_queue(queue, audit).await
    }
    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.user(id).await
    }
    async fn group(&self, id: &str) -> StoreResult<Option<Group>> {
        self.inner.group(id).await
    }
    async fn queue(&self, id: &str) -> StoreResult<Option<Queue>> {
        self.inner.queue(id).await
    }
    async fn directory(&self) -> StoreResult<(Vec<User>, Vec<Group>, Vec<Queue>)> {
        self.inner.directory().await
    }
    async fn memberships(&self, user: &str) -> StoreResult<Memberships> {
        self.inner.memberships(user).await
    }
    async fn hold_start_key(
        &self,
        key: StartKey,
        replacing: Option<RunId>,
    ) -> StoreResult<Option<StartKey>> {
        self.inner.hold_start_key(key, replacing).await
    }
    async fn release_start_key(&self, caller: &str, key: &str, run: &RunId) -> StoreResult<()> {
        self.inner.release_start_key(caller, key, run).await
    }
    async fn prune_runs(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        self.inner.prune_runs(before, limit).await
    }
    async fn prune_jobs(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        self.inner.prune_jobs(before, limit).await
    }
    async fn prune_start_keys(&self, before: jiff::Timestamp, limit: u32) -> StoreResult<u64> {
        self.inner.prune_start_keys(before, limit).await
    }

    async fn prune_flow_versions(
        &self,
        superseded_before: jiff::Timestamp,
        pins: std::sync::Arc<stagecraft_store::LivePins>,
        limit: u32,
    ) -> StoreResult<Vec<(String, u32)>> {
        self.inner
            .prune_flow_versions(superseded_before, pins, limit)
            .await
    }
    async fn oldest_audit(
        &self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>> {
        self.inner.oldest_audit(before, limit).await
    }
    async fn prune_audit(&self, through: u64, before: jiff::Timestamp) -> StoreResult<u64> {
        self.inner.prune_audit(through, before).await
    }
    async fn issue_token(
        &self,
        user: &str,
        sha256: [u8; 32],
        at: jiff::Timestamp,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.inner.issue_token(user, sha256, at, audit).await
    }
    async fn revoke_tokens(&self, user: &str, audit: AuditRecord) -> StoreResult<u64> {
        self.inner.revoke_tokens(user, audit).await
    }
    async fn tokens(&self) -> StoreResult<Vec<(String, [u8; 32])>> {
        self.inner.tokens().await
    }
    async fn record_audit(&self, records: Vec<AuditRecord>) -> StoreResult<()> {
        self.inner.record_audit(records).await
    }
    async fn audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        self.inner.audit(filter).await
    }
    async fn create_job(&self, job: NewJob, audit: AuditRecord) -> StoreResult<JobRecord> {
        self.inner.create_job(job, audit).await
    }
    async fn job(&self, id: &JobId) -> StoreResult<Option<JobRecord>> {
        self.inner.job(id).await
    }
    async fn jobs(&self, status: Option<JobStatus>, limit: u32) -> StoreResult<Vec<JobRecord>> {
        self.inner.jobs(status, limit).await
    }
    async fn job_runs(
        &self,
        id: &JobId,
        state: Option<JobRunState>,
        limit: u32,
    ) -> StoreResult<Vec<JobRun>> {
        self.inner.job_runs(id, state, limit).await
    }
    async fn finish_job(
        &self,
        id: &JobId,
        status: JobStatus,
        at: jiff::Timestamp,
        audit: Option<AuditRecord>,
    ) -> StoreResult<JobRecord> {
        if self.finish_fails.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            return Err(StoreError::unavailable("a job", "injected failure"));
        }
        self.inner.finish_job(id, status, at, audit).await
    }
}

/// An engine on a failing store with the 3-stage no-op chain deployed.
async fn engine() -> (Engine<FailingStore>, TempDir) {
    let dir = tempfile::tempdir().expect("test setup");
    let engine = open(&dir, HashMap::new()).await;
    (engine, dir)
}

/// An engine on a failing store in `dir`, with `actions` registered and the
/// 3-stage no-op chain deployed.
async fn open(
    dir: &TempDir,
    actions: HashMap<String, Arc<dyn ExternalAction>>,
) -> Engine<FailingStore> {
    let store = FailingStore {
        inner: SqliteStore::open(SqliteConfig::new(dir.path().join("stagecraft.db")))
            .expect("test setup"),
        fault: std::sync::Mutex::new(None),
        refused: AtomicUsize::new(0),
        finish_fails: std::sync::atomic::AtomicBool::new(false),
    };
    let host = FlowHost::new(HostConfig {
        limits: test_limits(),
        max_concurrent_invocations: 8,
        cache_dir: None,
        ..HostConfig::default()
    })
    .expect("test setup");
    let engine = Engine::start(
        store,
        Arc::new(host),
        EngineConfig::new(dir.path()),
        actions,
        Arc::new(SystemClock),
    )
    .await
    .expect("test setup");
    engine
        .deploy_flow("noop", FlowKind::Autolaunched, bytes(NOOP), "test")
        .await
        .expect("test setup");
    engine
        .deploy_orchestration(chain_orchestration("chain", 3), "test")
        .await
        .expect("test setup");
    engine
}

/// The run once settled; a run the engine lost track of fails the test
/// instead of hanging it.
async fn settle(engine: &Engine<FailingStore>, run: &RunId) -> Arc<Run> {
    tokio::time::timeout(Duration::from_secs(30), engine.wait_until_settled(run))
        .await
        .expect("the run settles within 30 s")
        .expect("the run exists")
}

fn count(run: &Run, kind: MilestoneKind, step: bool) -> usize {
    run.history
        .iter()
        .filter(|m| m.kind == kind && matches!(m.record, MilestoneRecord::Step { .. }) == step)
        .count()
}

#[tokio::test]
async fn c_durable_a_failed_commit_is_reported_and_nothing_of_it_is_kept() {
    let (engine, _dir) = engine().await;
    let done = engine
        .start_run("chain", json!({}), "admin")
        .await
        .expect("a run starts");
    let done = settle(&engine, &done.id).await;
    assert_eq!(done.status, RunStatus::Completed);

    engine.store().arm(Some(Fault::All));
    let refused = engine.start_run("chain", json!({}), "admin").await;
    assert!(
        matches!(&refused, Err(EngineError::Store(_))),
        "the caller hears of the failure: {refused:?}"
    );
    engine.store().arm(None);
    assert_eq!(engine.store().refused.load(Ordering::Relaxed), 1);

    // Only the first run is durable; the engine goes on with new ones.
    let durable = engine.runs(RunFilter::default()).await.expect("runs list");
    assert_eq!(durable.len(), 1, "{durable:?}");
    assert_eq!(durable[0].id, done.id);
    let next = engine
        .start_run("chain", json!({}), "admin")
        .await
        .expect("starts after the failure");
    let next = settle(&engine, &next.id).await;
    assert_eq!(next.status, RunStatus::Completed);
    let first = engine.run(&done.id).await.expect("still there");
    assert_eq!(*first, *done, "the completed run is untouched");
}

/// Issue 20, defect 10: a start whose commit landed though its caller was
/// told it failed is retried with its idempotency key, and the retry
/// answers with that run instead of starting a second one.
#[tokio::test]
async fn a_start_retried_with_its_key_after_a_lost_answer_is_not_made_twice() {
    let (engine, _dir) = engine().await;
    engine.store().arm(Some(Fault::LostAnswer));
    let lost = engine
        .start_run_once("chain", json!({}), "admin", "order-1")
        .await;
    assert!(
        matches!(&lost, Err(EngineError::Store(_))),
        "the caller hears of the failure: {lost:?}"
    );
    assert_eq!(engine.store().refused.load(Ordering::Relaxed), 1);
    let retried = engine
        .start_run_once("chain", json!({}), "admin", "order-1")
        .await
        .expect("the retry answers");
    assert!(!retried.first, "the retry found the first run");
    let done = settle(&engine, &retried.run.id).await;
    assert_eq!(done.status, RunStatus::Completed);
    let durable = engine.runs(RunFilter::default()).await.expect("runs list");
    assert_eq!(durable.len(), 1, "one run: {durable:?}");
    // The same key for another request is refused, and starts nothing.
    let reused = engine
        .start_run_once("chain", json!({"other": true}), "admin", "order-1")
        .await;
    assert!(
        matches!(reused, Err(EngineError::KeyReused(_))),
        "{reused:?}"
    );
    // A start refused whole lets its key go: its retry starts the run.
    engine.store().arm(Some(Fault::All));
    let refused = engine
        .start_run_once("chain", json!({}), "admin", "order-2")
        .await;
    assert!(matches!(refused, Err(EngineError::Store(_))), "{refused:?}");
    engine.store().arm(None);
    let started = engine
        .start_run_once("chain", json!({}), "admin", "order-2")
        .await
        .expect("starts after the failure");
    assert!(started.first);
    let durable = engine.runs(RunFilter::default()).await.expect("runs list");
    assert_eq!(durable.len(), 2, "{durable:?}");
}

#[tokio::test]
async fn c_durable_after_a_failed_commit_in_flight_work_is_rederived_and_recorded_once() {
    let (engine, _dir) = engine().await;
    // The commit that would complete the run fails once: the engine reloads
    // the durable state (the last step running), runs that step again and
    // completes the run.
    engine.store().arm(Some(Fault::FirstCompletion));
    let run = engine
        .start_run("chain", json!({}), "admin")
        .await
        .expect("a run starts");
    let run = settle(&engine, &run.id).await;

    assert_eq!(engine.store().refused.load(Ordering::Relaxed), 1);
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(count(&run, MilestoneKind::EndRun, false), 1);
    assert_eq!(
        count(&run, MilestoneKind::EndStep, true),
        3,
        "each step's end recorded once: {:?}",
        run.history
    );
    let durable = engine
        .store()
        .run(&run.id)
        .await
        .expect("store read")
        .expect("the run is stored");
    assert_eq!(durable, *run, "what the engine answers is what is durable");
}

/// A full disk: every commit fails at once. The engine backs off instead of
/// retrying as fast as the store answers, callers hear that the storage is
/// unavailable, and the engine recovers by itself once commits succeed.
#[tokio::test]
async fn a_full_disk_is_retried_with_back_off_and_recovered_from() {
    let (engine, _dir) = engine().await;
    engine
        .store()
        .arm(Some(Fault::FullAfterOne { used: false }));
    let run = engine
        .start_run("chain", json!({}), "admin")
        .await
        .expect("the start commits");
    // Every later commit fails; give the executor a second to retry.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = engine.store().refused.load(Ordering::Relaxed);
    assert!(
        (1..=15).contains(&attempts),
        "backing off (50 ms, doubling) makes a handful of attempts a second, not {attempts}"
    );
    let refused = engine.start_run("chain", json!({}), "admin").await;
    assert!(
        matches!(
            &refused,
            Err(EngineError::Store(StoreError::Unavailable { .. }))
        ),
        "the caller hears the storage is unavailable: {refused:?}"
    );

    engine.store().arm(None);
    let run = settle(&engine, &run.id).await;
    assert_eq!(run.status, RunStatus::Completed, "recovered by itself");
}

/// An external action that records every call and answers only once the
/// test opens its gate.
struct Booking {
    calls: std::sync::Mutex<Vec<ActionCall>>,
    called: tokio::sync::Notify,
    gate: tokio::sync::Semaphore,
}

impl Booking {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            calls: std::sync::Mutex::default(),
            called: tokio::sync::Notify::new(),
            gate: tokio::sync::Semaphore::new(0),
        })
    }

    fn calls(&self) -> Vec<ActionCall> {
        self.calls.lock().expect("not poisoned").clone()
    }

    fn action(self: &Arc<Self>) -> HashMap<String, Arc<dyn ExternalAction>> {
        let booking = Arc::clone(self);
        let action = move |call: ActionCall| {
            let booking = Arc::clone(&booking);
            async move {
                booking.calls.lock().expect("not poisoned").push(call);
                booking.called.notify_waiters();
                let _open = booking.gate.acquire().await;
                Ok(json!({"booked": true}))
            }
        };
        HashMap::from([(
            "book".to_owned(),
            Arc::new(action) as Arc<dyn ExternalAction>,
        )])
    }
}

/// One stage whose one step calls the external action `book`.
fn booking() -> serde_json::Value {
    json!({
        "format": 1, "name": "booking",
        "elements": [{
            "type": "stage", "name": "book", "next": null,
            "steps": [{"name": "call", "kind": {"type": "external", "action": "book"},
                       "inputs": {"amount": {"value": 5}}}]
        }]
    })
}

/// At least once, and no more than that: a failed commit makes the engine
/// reload and re-derive every run's outstanding work, but an external
/// action still under way on this node is not called a second time; after
/// a restart (its result lost) it is, with the same idempotency key.
#[tokio::test]
async fn work_under_way_is_not_performed_again_by_a_reload_and_a_repeat_keeps_its_key() {
    let dir = tempfile::tempdir().expect("test setup");
    let first = Booking::new();
    let engine = open(&dir, first.action()).await;
    engine
        .deploy_orchestration(booking(), "test")
        .await
        .expect("test setup");
    let called = first.called.notified();
    let run = engine
        .start_run("booking", json!({}), "admin")
        .await
        .expect("a run starts");
    called.await;

    // A commit fails while the action is under way: the engine reloads.
    engine.store().arm(Some(Fault::All));
    let refused = engine.start_run("chain", json!({}), "admin").await;
    assert!(matches!(refused, Err(EngineError::Store(_))), "{refused:?}");
    engine.store().arm(None);
    // Once a later command is durable the reload is over.
    let after = engine
        .start_run("chain", json!({}), "admin")
        .await
        .expect("starts after the failure");
    settle(&engine, &after.id).await;
    assert_eq!(first.calls().len(), 1, "called again by the reload");

    // The engine stops with the call under way; the next one calls again,
    // with the same key.
    engine.shutdown().await;
    let second = Booking::new();
    second.gate.add_permits(1);
    let engine = open(&dir, second.action()).await;
    let done = settle(&engine, &run.id).await;
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    let (before, after) = (first.calls(), second.calls());
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].idempotency_key, before[0].idempotency_key);
    assert_eq!(
        (
            after[0].run.clone(),
            after[0].attempt,
            after[0].step.step.as_str()
        ),
        (run.id.clone(), 1, "call")
    );
    assert_eq!(
        after[0].idempotency_key,
        format!("{}/book/0/call/1", run.id)
    );
}

/// Issue 20, defect 14: a cancel whose record fails leaves the job running,
/// and driven: its worker, which stopped applying resumes while the cancel
/// was under way, goes on once the cancel is known to have failed, and the
/// job completes.
#[tokio::test]
async fn a_cancel_that_cannot_be_recorded_leaves_the_job_driven_to_its_end() {
    let (engine, _dir) = engine().await;
    engine
        .deploy_flow("boom", FlowKind::Autolaunched, bytes(HOSTILE), "test")
        .await
        .expect("test setup");
    engine
        .deploy_orchestration(
            json!({"format": 1, "name": "boom", "elements": [{
                "type": "stage", "name": "only", "next": null,
                "steps": [{"name": "explode", "kind": {"type": "background", "flow": "boom"},
                           "inputs": {"attack": {"value": "panic"}}}]}]}),
            "test",
        )
        .await
        .expect("test setup");
    let mut runs = Vec::new();
    for _ in 0..3 {
        let run = engine
            .start_run("boom", json!({}), "admin")
            .await
            .expect("a run starts");
        let run = settle(&engine, &run.id).await;
        assert_eq!(run.status, RunStatus::Error);
        runs.push(run.id.clone());
    }
    // Every commit fails: the job's resumes stay pending, tried every
    // half second.
    engine.store().arm(Some(Fault::All));
    let job = engine
        .resume_many(
            ResumeJob {
                filter: RepairFilter {
                    orchestration: Some("boom".into()),
                    ..RepairFilter::default()
                },
                ..ResumeJob::default()
            },
            "operator",
        )
        .await;
    // The job's creation is not a run commit: it is stored.
    let job = job.expect("the job starts");
    assert_eq!(job.counts.total, 3);
    // The cancel takes over a second to fail: the worker tries meanwhile,
    // and its resumes are dropped as the job's.
    engine.store().finish_fails.store(true, Ordering::Relaxed);
    let canceled = engine.cancel_job(&job.id, "operator").await;
    assert!(canceled.is_err(), "{canceled:?}");
    engine.store().finish_fails.store(false, Ordering::Relaxed);
    engine.store().arm(None);

    let done = tokio::time::timeout(Duration::from_secs(20), engine.wait_for_job(&job.id))
        .await
        .expect("the job is still driven and ends")
        .expect("the job exists");
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!((done.counts.resumed, done.counts.pending), (3, 0));
}
