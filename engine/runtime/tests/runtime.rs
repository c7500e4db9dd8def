//! The runtime's own tests: the executor, recovery after a restart and the
//! 14-day recovery window, on a fake flow runner (flows are plain Rust, no
//! component is compiled), the manual clock and the real SQLite store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use stagecraft_core::run::{MilestoneKind, MilestoneRecord, Run, RunId, RunStatus};
use stagecraft_core::{EventError, limits::DEFAULT_RECOVERY_WINDOW};
use stagecraft_engine::runner::{
    FlowFailure, FlowKind, FlowRunner, Form, Invocation, LoadError, LoadedFlow, RunnableFlow,
    Submission,
};
use stagecraft_engine::{
    Engine, EngineBuilder, EngineConfig, EngineError, ManualClock, SqliteStore,
};
use tempfile::TempDir;
use tokio::sync::{Notify, Semaphore};

/// What the fake flows do, by their component bytes: `ok` finishes, `trap`
/// traps, `spin` exhausts its CPU budget, `gate` finishes once the test opens
/// the gate.
struct Script {
    gate: Semaphore,
    /// Notified when an invocation starts, and when a gated one finishes.
    started: Notify,
    finished: Notify,
    invocations: Mutex<HashMap<String, usize>>,
    /// The memory limit each invocation ran under (`None`: the default).
    memory_limits: Mutex<Vec<Option<usize>>>,
}

impl Script {
    fn new(gate_open: bool) -> Arc<Self> {
        Arc::new(Self {
            gate: Semaphore::new(if gate_open { Semaphore::MAX_PERMITS } else { 0 }),
            started: Notify::new(),
            finished: Notify::new(),
            invocations: Mutex::default(),
            memory_limits: Mutex::default(),
        })
    }

    fn invocations(&self, behaviour: &str) -> usize {
        let invocations = self.invocations.lock().expect("not poisoned");
        invocations.get(behaviour).copied().unwrap_or(0)
    }
}

struct FakeRunner(Arc<Script>);

impl FlowRunner for FakeRunner {
    fn load(&self, kind: FlowKind, bytes: &[u8]) -> Result<LoadedFlow, LoadError> {
        use sha2::Digest as _;
        let behaviour = std::str::from_utf8(bytes).map_err(|_| LoadError::NotWasm)?;
        if !["ok", "trap", "spin", "gate"].contains(&behaviour) {
            return Err(LoadError::NotWasm);
        }
        Ok(Arc::new(FakeFlow {
            kind,
            behaviour: behaviour.to_owned(),
            // As the contract says: the SHA-256 of the component's bytes.
            digest: hex::encode(sha2::Sha256::digest(bytes)),
            script: Arc::clone(&self.0),
            memory: None,
        }))
    }
}

struct FakeFlow {
    kind: FlowKind,
    behaviour: String,
    digest: String,
    script: Arc<Script>,
    memory: Option<usize>,
}

fn invocation<T>(outcome: Result<T, FlowFailure>) -> Invocation<T> {
    Invocation {
        outcome,
        log: Vec::new(),
        fuel_consumed: 0,
        memory_bytes: 0,
        elapsed: Duration::ZERO,
    }
}

impl RunnableFlow for FakeFlow {
    fn kind(&self) -> FlowKind {
        self.kind
    }

    fn digest(&self) -> &str {
        &self.digest
    }

    fn run<'a>(&'a self, _inputs: &'a Value) -> BoxFuture<'a, Invocation<Value>> {
        Box::pin(async move {
            *self
                .script
                .invocations
                .lock()
                .expect("not poisoned")
                .entry(self.behaviour.clone())
                .or_default() += 1;
            self.script
                .memory_limits
                .lock()
                .expect("not poisoned")
                .push(self.memory);
            self.script.started.notify_waiters();
            match self.behaviour.as_str() {
                "trap" => invocation(Err(FlowFailure::Trap {
                    message: "unreachable executed".to_owned(),
                })),
                "spin" => invocation(Err(FlowFailure::CpuBudgetExhausted { budget: 1000 })),
                "gate" => {
                    let permit = self.script.gate.acquire().await;
                    drop(permit);
                    self.script.finished.notify_waiters();
                    invocation(Ok(json!({})))
                }
                _ => invocation(Ok(json!({}))),
            }
        })
    }

    fn evaluate<'a>(&'a self, _inputs: &'a Value) -> BoxFuture<'a, Invocation<bool>> {
        Box::pin(async { invocation(Ok(true)) })
    }

    fn render<'a>(&'a self, _inputs: &'a Value) -> BoxFuture<'a, Invocation<Form>> {
        Box::pin(async {
            invocation(Err(FlowFailure::Trap {
                message: "no screens here".to_owned(),
            }))
        })
    }

    fn submit<'a>(
        &'a self,
        _inputs: &'a Value,
        _answers: &'a Value,
    ) -> BoxFuture<'a, Invocation<Submission>> {
        Box::pin(async { invocation(Ok(Submission::Accepted(json!({})))) })
    }

    fn with_memory_limit(self: Arc<Self>, memory_bytes: usize) -> LoadedFlow {
        Arc::new(FakeFlow {
            kind: self.kind,
            behaviour: self.behaviour.clone(),
            digest: self.digest.clone(),
            script: Arc::clone(&self.script),
            memory: Some(memory_bytes),
        })
    }
}

/// One stage with one background step running flow `work`.
fn one_step() -> Value {
    json!({
        "format": 1,
        "name": "one_step",
        "elements": [{
            "type": "stage", "name": "only", "next": null,
            "steps": [{"name": "work", "kind": {"type": "background", "flow": "work"}}]
        }]
    })
}

fn start() -> Timestamp {
    "2026-01-05T09:00:00Z".parse().expect("a timestamp")
}

/// An engine on `dir` running flows with `script`, at the manual clock's
/// time.
async fn open(
    dir: &TempDir,
    script: &Arc<Script>,
    clock: &Arc<ManualClock>,
) -> Engine<SqliteStore> {
    EngineBuilder::new(EngineConfig::new(dir.path()))
        .runner(Arc::new(FakeRunner(Arc::clone(script))))
        .clock(Arc::clone(clock) as Arc<_>)
        .open()
        .await
        .expect("the engine opens")
}

/// An engine with flow `work` deployed as `behaviour` and the one-step
/// orchestration.
async fn deployed(
    dir: &TempDir,
    script: &Arc<Script>,
    clock: &Arc<ManualClock>,
    behaviour: &str,
) -> Engine<SqliteStore> {
    let engine = open(dir, script, clock).await;
    engine
        .deploy_flow(
            "work",
            FlowKind::Autolaunched,
            behaviour.as_bytes().to_vec(),
            "test",
        )
        .await
        .expect("the flow deploys");
    engine
        .deploy_orchestration(one_step(), "test")
        .await
        .expect("the orchestration deploys");
    engine
}

fn step_ends(run: &Run) -> usize {
    run.history
        .iter()
        .filter(|m| {
            m.kind == MilestoneKind::EndStep && matches!(m.record, MilestoneRecord::Step { .. })
        })
        .count()
}

#[tokio::test]
async fn the_executor_runs_a_background_step_and_completes_the_run() {
    let dir = tempfile::tempdir().expect("a directory");
    let (script, clock) = (Script::new(true), Arc::new(ManualClock::new(start())));
    let engine = deployed(&dir, &script, &clock, "ok").await;
    let run = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    let run = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(step_ends(&run), 1);
    assert_eq!(script.invocations("ok"), 1);
    // The state machine's time is the engine's clock, not the wall clock.
    assert!(
        run.history.iter().all(|m| m.at == start()),
        "{:?}",
        run.history
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_flow_in_flight_when_the_engine_stops_runs_again_after_a_restart_and_counts_once() {
    let dir = tempfile::tempdir().expect("a directory");
    let clock = Arc::new(ManualClock::new(start()));
    let stuck = Script::new(false);
    let engine = deployed(&dir, &stuck, &clock, "gate").await;
    let started = stuck.started.notified();
    let run = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    started.await;
    assert_eq!(stuck.invocations("gate"), 1);
    engine.shutdown().await;

    // The same data directory, a runner whose gate is open.
    let script = Script::new(true);
    let engine = open(&dir, &script, &clock).await;
    let settled = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(settled.status, RunStatus::Completed, "{:?}", settled.error);
    assert_eq!(script.invocations("gate"), 1, "rerun after the restart");
    assert_eq!(step_ends(&settled), 1, "its completion is recorded once");
    // The first engine's invocation, let go now, changes nothing: its result
    // has no executor to go to.
    let finished = stuck.finished.notified();
    stuck.gate.add_permits(1);
    finished.await;
    let again = engine.run(&run.id).await.unwrap();
    assert_eq!(again, settled);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_run_in_error_can_be_resumed_for_14_days_by_the_clock_and_not_after() {
    let dir = tempfile::tempdir().expect("a directory");
    let (script, clock) = (Script::new(true), Arc::new(ManualClock::new(start())));
    let engine = deployed(&dir, &script, &clock, "trap").await;
    let early = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    let late = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    for id in [&early.id, &late.id] {
        let run = engine.wait_until_settled(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Error);
    }

    // A minute before the window closes, a resume is accepted (and reruns
    // the step, which traps again).
    clock.advance(DEFAULT_RECOVERY_WINDOW - SignedDuration::from_mins(1));
    engine
        .resume(&early.id, "operator")
        .await
        .expect("within the window");
    let rerun = wait_status(&engine, &early.id, RunStatus::Error).await;
    assert_eq!(script.invocations("trap"), 3);
    assert!(
        rerun
            .history
            .iter()
            .any(|m| m.kind == MilestoneKind::ResumeRun)
    );

    // Two minutes later the other run's window has closed.
    clock.advance(SignedDuration::from_mins(2));
    match engine.resume(&late.id, "operator").await {
        Err(EngineError::Refused(EventError::WindowExpired { error_at, deadline })) => {
            assert_eq!(error_at, start());
            assert_eq!(deadline, start() + DEFAULT_RECOVERY_WINDOW);
        }
        other => panic!("expected the window to be closed, got {other:?}"),
    }
    assert_eq!(engine.run(&late.id).await.unwrap().status, RunStatus::Error);
    engine.shutdown().await;
}

async fn wait_status(engine: &Engine<SqliteStore>, id: &RunId, status: RunStatus) -> Arc<Run> {
    engine
        .wait_for(id, |run| run.status == status)
        .await
        .expect("the run reaches the status")
}

/// One stage with one interactive step for ada, on screen flow `form`.
fn review() -> Value {
    json!({
        "format": 1,
        "name": "review",
        "elements": [{
            "type": "stage", "name": "only", "next": null,
            "steps": [{"name": "approve",
                       "kind": {"type": "interactive", "flow": "form", "assignee": {"user": "ada"}}}]
        }]
    })
}

#[tokio::test]
async fn runs_that_wait_are_not_held_in_memory_and_are_read_back_when_a_command_comes() {
    let dir = tempfile::tempdir().expect("a directory");
    let (script, clock) = (Script::new(true), Arc::new(ManualClock::new(start())));
    let engine = deployed(&dir, &script, &clock, "trap").await;

    // A run in Error waits on an operator: let go, read back to be resumed
    // (it traps again) and then canceled.
    let failed = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    assert_eq!(
        engine.wait_until_settled(&failed.id).await.unwrap().status,
        RunStatus::Error
    );
    assert_eq!(engine.held_runs().await.expect("a count"), 0);
    engine
        .resume(&failed.id, "operator")
        .await
        .expect("resumes");
    let again = wait_status(&engine, &failed.id, RunStatus::Error).await;
    assert!(
        again
            .history
            .iter()
            .any(|m| m.kind == MilestoneKind::ResumeRun)
    );
    assert_eq!(script.invocations("trap"), 2);
    assert_eq!(engine.held_runs().await.expect("a count"), 0);
    let canceled = engine
        .cancel(&failed.id, "operator")
        .await
        .expect("cancels");
    assert_eq!(canceled.status, RunStatus::Canceled);
    // A finished run is refused as such, read from the store.
    match engine.resume(&failed.id, "operator").await {
        Err(EngineError::Refused(EventError::CannotResume { status })) => {
            assert_eq!(status, RunStatus::Canceled);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A run waiting on a work item is let go; completing the item reads it
    // back and finishes it.
    engine
        .put_user(
            stagecraft_engine::User {
                id: "ada".into(),
                name: "Ada".into(),
                status: stagecraft_engine::UserStatus::Active,
            },
            "admin",
        )
        .await
        .unwrap();
    engine
        .deploy_flow("form", FlowKind::Screen, b"ok".to_vec(), "test")
        .await
        .unwrap();
    engine.deploy_orchestration(review(), "test").await.unwrap();
    let waiting = engine.start_run("review", json!({}), "ada").await.unwrap();
    let item = waiting
        .work_items
        .first()
        .map(|item| item.id.clone())
        .expect("a work item for ada");
    assert_eq!(
        engine.held_runs().await.expect("a count"),
        0,
        "nothing is held while ada has not answered"
    );
    let completion = engine
        .complete_work_item(&item, "ada", json!({"ok": true}))
        .await
        .expect("completes");
    assert!(
        matches!(completion, stagecraft_engine::Completion::Completed(ref run) if run.status == RunStatus::Completed),
        "{completion:?}"
    );
    engine.shutdown().await;
}

/// Issue 20, retention: finished runs (with their step logs) are removed
/// once older than `Retention::runs`, runs still recoverable are kept, an
/// idempotency key lapses after its window, and audit records older than
/// `Retention::audit` are written to the export directory (one JSON object
/// per line) before they are removed. Each round that removed anything is
/// audited.
#[tokio::test]
async fn retention_removes_finished_runs_and_exports_old_audit_records_before_removing_them() {
    let dir = tempfile::tempdir().expect("a directory");
    let clock = Arc::new(ManualClock::new(start()));
    let script = Script::new(true);
    let engine = deployed(&dir, &script, &clock, "ok").await;
    let mut done = Vec::new();
    for _ in 0..3 {
        let run = engine
            .start_run("one_step", json!({}), "ada")
            .await
            .unwrap();
        done.push(engine.wait_until_settled(&run.id).await.unwrap());
    }
    assert!(done.iter().all(|run| run.status == RunStatus::Completed));
    let keyed = engine
        .start_run_once("one_step", json!({}), "ada", "order-1")
        .await
        .unwrap();
    engine.wait_until_settled(&keyed.run.id).await.unwrap();
    assert_eq!(
        engine.prune().await.unwrap(),
        Default::default(),
        "all recent"
    );

    // A day later: the key has lapsed; a run fails and stays recoverable.
    clock.advance(SignedDuration::from_hours(25));
    let pruned = engine.prune().await.unwrap();
    assert_eq!((pruned.runs, pruned.start_keys), (0, 1));
    engine
        .deploy_flow("work", FlowKind::Autolaunched, b"trap".to_vec(), "test")
        .await
        .unwrap();
    let failed = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    let failed = engine.wait_until_settled(&failed.id).await.unwrap();
    assert_eq!(failed.status, RunStatus::Error);

    // A month on: the finished runs go, with their logs; the one in Error
    // stays (runs in Error are kept, whatever their age).
    clock.advance(SignedDuration::from_hours(30 * 24));
    let pruned = engine.prune().await.unwrap();
    assert_eq!(pruned.runs, 4);
    for run in &done {
        assert!(matches!(
            engine.run(&run.id).await,
            Err(EngineError::NotFound(_))
        ));
        assert!(engine.step_logs(&run.id).await.unwrap().is_empty());
    }
    assert_eq!(
        engine.run(&failed.id).await.unwrap().status,
        RunStatus::Error
    );
    let audited = engine
        .audit(stagecraft_engine::AuditFilter {
            action: Some(stagecraft_engine::AuditAction::RetentionPrune),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audited.len(),
        2,
        "one record per round that removed something"
    );
    assert_eq!(audited[0].record.detail["runs"], 4);

    // Past the audit log's retention: every record but the newest is
    // exported, then removed.
    let before = engine.audit(Default::default()).await.unwrap();
    clock.advance(SignedDuration::from_hours(401 * 24));
    let pruned = engine.prune().await.unwrap();
    assert_eq!(pruned.audit, before.len() as u64 - 1);
    let mut exported = Vec::new();
    for file in std::fs::read_dir(dir.path().join("audit-export")).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        for line in text.lines() {
            let entry: stagecraft_engine::AuditEntry = serde_json::from_str(line).unwrap();
            exported.push(entry);
        }
    }
    exported.sort_by_key(|entry| entry.id);
    let mut expected: Vec<_> = before.into_iter().skip(1).collect();
    expected.sort_by_key(|entry| entry.id);
    assert_eq!(exported, expected, "exported whole, before removal");
    let left = engine.audit(Default::default()).await.unwrap();
    assert_eq!(left.len(), 2, "the newest record kept, and this round's");
    engine.shutdown().await;
}

/// Issue 20, retention of flow versions: a version superseded longer than
/// `Retention::flow_versions` ago is kept while a step of a live run is
/// pinned to it (a run in Error reruns it on resume), and removed, audited,
/// once that run has finished; the active version always stays.
#[tokio::test]
async fn a_superseded_flow_version_is_removed_once_no_live_run_is_pinned_to_it() {
    let dir = tempfile::tempdir().expect("a directory");
    let clock = Arc::new(ManualClock::new(start()));
    let script = Script::new(true);
    let engine = deployed(&dir, &script, &clock, "trap").await;
    let failed = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    let failed = engine.wait_until_settled(&failed.id).await.unwrap();
    assert_eq!(failed.status, RunStatus::Error, "pinned to version 1");
    engine
        .deploy_flow("work", FlowKind::Autolaunched, b"ok".to_vec(), "test")
        .await
        .unwrap();
    let versions = |flows: Vec<stagecraft_store::FlowRecord>| {
        flows
            .into_iter()
            .filter(|f| f.name == "work")
            .map(|f| f.version)
            .collect::<Vec<_>>()
    };

    clock.advance(SignedDuration::from_hours(31 * 24));
    assert_eq!(engine.prune().await.unwrap().flow_versions, 0);
    assert_eq!(
        versions(engine.flows().await.unwrap()),
        [1, 2],
        "the run in Error is pinned to version 1"
    );

    engine.cancel(&failed.id, "operator").await.unwrap();
    assert_eq!(
        engine.prune().await.unwrap().flow_versions,
        0,
        "the live runs are read again for the same versions only after an hour"
    );
    clock.advance(SignedDuration::from_hours(2));
    let pruned = engine.prune().await.unwrap();
    assert_eq!(pruned.flow_versions, 1);
    assert_eq!(
        versions(engine.flows().await.unwrap()),
        [2],
        "the active one stays"
    );
    let audited = engine
        .audit(stagecraft_engine::AuditFilter {
            action: Some(stagecraft_engine::AuditAction::RetentionPrune),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audited[0].record.detail["flow_versions"], 1);
    // Runs go on with the active version.
    let run = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    let run = engine.wait_until_settled(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    engine.shutdown().await;
}

/// A flow version whose invocations keep ending in a resource limit is
/// quarantined: later steps fail at once (nothing runs) with a recoverable
/// failure naming the quarantine, it is stored (a restart keeps it) and
/// audited, and an operator lifts it or deploys a fixed version.
#[tokio::test]
async fn a_flow_version_that_keeps_exhausting_its_budget_is_quarantined_until_lifted() {
    use stagecraft_core::FlowFailureKind;
    use stagecraft_core::run::ErrorKind;
    use stagecraft_store::{AuditAction, AuditFilter};

    let dir = tempfile::tempdir().expect("a directory");
    let (script, clock) = (Script::new(true), Arc::new(ManualClock::new(start())));
    let engine = deployed(&dir, &script, &clock, "spin").await;
    let after = stagecraft_engine::DEFAULT_QUARANTINE_AFTER as usize;
    let error_of = |run: &Run| run.error.as_ref().map(|error| error.kind.clone());
    for _ in 0..after {
        let run = engine
            .start_run("one_step", json!({}), "ada")
            .await
            .unwrap();
        let run = engine.wait_until_settled(&run.id).await.unwrap();
        assert_eq!(
            error_of(&run),
            Some(ErrorKind::Flow(FlowFailureKind::CpuBudget))
        );
    }
    assert_eq!(script.invocations("spin"), after);

    let quarantined = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    let quarantined = engine.wait_until_settled(&quarantined.id).await.unwrap();
    assert_eq!(quarantined.status, RunStatus::Error);
    assert_eq!(
        error_of(&quarantined),
        Some(ErrorKind::Flow(FlowFailureKind::Quarantined))
    );
    assert_eq!(
        script.invocations("spin"),
        after,
        "a quarantined flow is not run"
    );
    let flows = engine.flows().await.unwrap();
    let quarantine = flows[0]
        .quarantine
        .as_ref()
        .expect("quarantined in the store");
    assert!(quarantine.reason.contains("CPU budget"), "{quarantine:?}");
    let audit = engine
        .audit(AuditFilter {
            action: Some(AuditAction::FlowQuarantine),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].record.actor, "stagecraft");

    // A restart keeps it.
    engine.shutdown().await;
    let engine = open(&dir, &script, &clock).await;
    let again = engine
        .start_run("one_step", json!({}), "ada")
        .await
        .unwrap();
    let again = engine.wait_until_settled(&again.id).await.unwrap();
    assert_eq!(
        error_of(&again),
        Some(ErrorKind::Flow(FlowFailureKind::Quarantined))
    );
    assert_eq!(script.invocations("spin"), after);

    // Lifting it lets the version run again (here: exhaust its budget again).
    let lifted = engine.lift_quarantine("work", 1, "operator").await.unwrap();
    assert_eq!(lifted.quarantine, None);
    assert!(matches!(
        engine.lift_quarantine("work", 1, "operator").await,
        Err(EngineError::Conflict(_))
    ));
    assert!(matches!(
        engine.lift_quarantine("work", 9, "operator").await,
        Err(EngineError::NotFound(_))
    ));
    let resumed = engine.resume(&quarantined.id, "operator").await.unwrap();
    let resumed = engine.wait_until_settled(&resumed.id).await.unwrap();
    assert_eq!(
        error_of(&resumed),
        Some(ErrorKind::Flow(FlowFailureKind::CpuBudget))
    );
    assert_eq!(script.invocations("spin"), after + 1);

    // A fixed version is not quarantined: the run resumed on it completes.
    engine
        .deploy_flow("work", FlowKind::Autolaunched, b"ok".to_vec(), "test")
        .await
        .unwrap();
    let fixed = engine.resume(&again.id, "operator").await.unwrap();
    let fixed = engine.wait_until_settled(&fixed.id).await.unwrap();
    assert_eq!(fixed.status, RunStatus::Completed, "{:?}", fixed.error);
    engine.shutdown().await;
}

/// A flow version deployed with a memory limit of its own runs under it,
/// also after a restart; the next version, deployed without one, runs
/// under the default; a limit above the host's most is refused.
#[tokio::test]
async fn a_flow_version_runs_under_the_memory_limit_it_was_deployed_with() {
    let dir = tempfile::tempdir().expect("a directory");
    let (script, clock) = (Script::new(true), Arc::new(ManualClock::new(start())));
    let engine = open(&dir, &script, &clock).await;
    let record = engine
        .deploy_flow_with(
            "work",
            FlowKind::Autolaunched,
            b"ok".to_vec(),
            Some(200),
            "ops",
        )
        .await
        .unwrap();
    assert_eq!(record.memory_mib, Some(200));
    engine
        .deploy_orchestration(one_step(), "test")
        .await
        .unwrap();
    let run_once = |engine: Engine<SqliteStore>| async move {
        let run = engine
            .start_run("one_step", json!({}), "ada")
            .await
            .unwrap();
        let run = engine.wait_until_settled(&run.id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed, "{:?}", run.error);
        engine
    };
    let engine = run_once(engine).await;
    engine.shutdown().await;
    let engine = run_once(open(&dir, &script, &clock).await).await;
    engine
        .deploy_flow("work", FlowKind::Autolaunched, b"ok".to_vec(), "ops")
        .await
        .unwrap();
    let engine = run_once(engine).await;
    let limits = script.memory_limits.lock().expect("not poisoned").clone();
    assert_eq!(limits, [Some(200 << 20), Some(200 << 20), None]);
    engine.shutdown().await;
}
