//! Engines on one PostgreSQL database, in one process, each on a runtime of
//! its own so that a node can be stopped dead (its runtime dropped: no task
//! of it runs again, as after kill -9). Skipped loudly without
//! `STAGECRAFT_TEST_DATABASE`; failing under `CI=true`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stagecraft_core::run::{Run, RunId, RunStatus};
use stagecraft_engine::{ActionCall, Engine, EngineBuilder, EngineConfig};
use stagecraft_store::Store;
use stagecraft_store_conformance::{fresh_database, test_database};
use stagecraft_store_postgres::{PostgresConfig, PostgresStore};
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// One node: its runtime, engine and store.
struct Node {
    runtime: Runtime,
    engine: Engine<PostgresStore>,
    store: PostgresStore,
    url: String,
    _dir: TempDir,
}

/// The calls an external action `book` received, by node.
type Calls = Arc<Mutex<Vec<(&'static str, ActionCall)>>>;

impl Node {
    /// A node on `url` whose lease lasts `ttl`, whose action `book` records
    /// its calls in `calls` and answers only if `answers`.
    fn start(name: &'static str, url: &str, ttl: Duration, calls: &Calls, answers: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a directory");
        let calls = Arc::clone(calls);
        let (engine, store) = runtime.block_on(async {
            let mut config = PostgresConfig::from_url(url).expect("a valid URL");
            config.lease_ttl = ttl;
            let store = PostgresStore::open(config).await.expect("the store opens");
            let engine = EngineBuilder::new(EngineConfig::new(dir.path()))
                .action("book", move |call: ActionCall| {
                    calls.lock().expect("not poisoned").push((name, call));
                    async move {
                        if !answers {
                            std::future::pending::<()>().await;
                        }
                        Ok(json!({"booked": true}))
                    }
                })
                .open_on(store.clone())
                .await
                .expect("the engine opens");
            (engine, store)
        });
        Self {
            runtime,
            engine,
            store,
            url: url.to_owned(),
            _dir: dir,
        }
    }

    /// Stops the node dead, then takes its lease away as SIGTERM's leave
    /// does: its runs belong to no live node from now on.
    fn kill_and_leave(self, through: &Node) {
        let id = self.store.node_id().to_owned();
        let Node {
            runtime,
            engine,
            store,
            ..
        } = self;
        drop((engine, store));
        runtime.shutdown_background();
        through.runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&through.url, tokio_postgres::NoTls)
                .await
                .expect("the database accepts connections");
            tokio::spawn(connection);
            client
                .execute("DELETE FROM nodes WHERE id = $1", &[&id])
                .await
                .expect("the node's lease is removed");
        });
    }

    fn wait_for(&self, run: &RunId, done: impl Fn(&Run) -> bool) -> Option<Arc<Run>> {
        self.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                self.engine.wait_for(run, |run| done(run)),
            )
            .await
            .ok()
            .map(|run| run.expect("the run exists"))
        })
    }
}

/// One stage whose one step calls the external action `book`.
fn booking() -> Value {
    json!({
        "format": 1, "name": "booking",
        "elements": [{
            "type": "stage", "name": "book", "next": null,
            "steps": [{"name": "call", "kind": {"type": "external", "action": "book"}}]
        }]
    })
}

/// Issue 20, defect 1: node A stops with a step's work in flight; before
/// any take-over round reaches the run, a command for it arrives at node B.
/// B's claim of the run must carry its outstanding work on, as a take-over
/// does: the step is performed again on B (with the same idempotency key)
/// and the run completes, instead of being owned by B with nothing in
/// flight, forever.
#[test]
fn a_command_that_claims_a_run_of_a_stopped_node_carries_its_work_on() {
    let Some(server) = test_database("cluster_claim_adopts") else {
        return;
    };
    let setup = tokio::runtime::Runtime::new().expect("a runtime");
    let url = setup.block_on(fresh_database(&server, "cluster_claim_adopts"));
    let calls = Calls::default();
    // B's own take-over rounds come every 30 s: its first, at its start,
    // finds nothing; the test is over long before the second.
    let b = Node::start("b", &url, Duration::from_secs(60), &calls, true);
    b.runtime
        .block_on(b.engine.deploy_orchestration(booking(), "test"))
        .expect("the orchestration deploys");
    let a = Node::start("a", &url, Duration::from_secs(1), &calls, false);
    let run = a
        .runtime
        .block_on(a.engine.start_run("booking", json!({}), "test"))
        .expect("the run starts");
    let started = std::time::Instant::now();
    while calls.lock().expect("not poisoned").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A never called"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    a.kill_and_leave(&b);

    b.runtime
        .block_on(b.engine.publish_event(&run.id, "nudge", "test"))
        .expect("B takes the command");
    let done = b.wait_for(&run.id, |run| run.status != RunStatus::InProgress);
    let done = done.expect("the run is stranded: B claimed it and never performed its step");
    assert_eq!(done.status, RunStatus::Completed, "{:?}", done.error);
    let calls = calls.lock().expect("not poisoned");
    let by: Vec<&str> = calls.iter().map(|(node, _)| *node).collect();
    assert_eq!(by, ["a", "b"]);
    assert_eq!(calls[0].1.idempotency_key, calls[1].1.idempotency_key);
}

/// Issue 20, defect 5: a deploy answered through node A is used by the
/// very next request through node B, which once acted on the catalog it
/// had until PostgreSQL's word of the change reached it (404 for an
/// orchestration A had just answered 201 for; a run on the old flow
/// version). Each round deploys a flow version and an orchestration
/// through A and starts a run of them through B at once: the run exists,
/// and it ran the version deployed last (v1 of `noop` is the hostile flow,
/// which fails on these inputs; the next is the no-op, which completes).
#[test]
fn a_deploy_answered_through_one_node_is_used_at_once_by_the_next_request_through_another() {
    let Some(server) = test_database("cluster_catalog_fresh") else {
        return;
    };
    let setup = tokio::runtime::Runtime::new().expect("a runtime");
    let url = setup.block_on(fresh_database(&server, "cluster_catalog_fresh"));
    let calls = Calls::default();
    // Long leases: the background look at the catalog (every tenth of one)
    // does not come between a deploy and the start that follows it.
    let a = Node::start("a", &url, Duration::from_secs(60), &calls, true);
    let b = Node::start("b", &url, Duration::from_secs(60), &calls, true);
    for round in 0..8 {
        let (component, ends) = if round % 2 == 0 {
            (stagecraft_tests::HOSTILE, RunStatus::Error)
        } else {
            (stagecraft_tests::NOOP, RunStatus::Completed)
        };
        let name = format!("chain_{round}");
        a.runtime
            .block_on(async {
                a.engine
                    .deploy_flow(
                        "noop",
                        stagecraft_engine::FlowKind::Autolaunched,
                        stagecraft_tests::bytes(component),
                        "test",
                    )
                    .await?;
                a.engine
                    .deploy_orchestration(stagecraft_tests::chain_orchestration(&name, 1), "test")
                    .await
            })
            .expect("deployed through A");
        let run = b
            .runtime
            .block_on(b.engine.start_run(&name, json!({}), "test"))
            .unwrap_or_else(|error| panic!("round {round}: B refused the start: {error}"));
        let settled = b
            .wait_for(&run.id, |run| run.status != RunStatus::InProgress)
            .expect("the run settles");
        assert_eq!(
            settled.status, ends,
            "round {round}: B ran another version than A deployed last"
        );
    }
}

/// Runs in Error of the job tests: more than two of the driver's batches
/// (512 runs each), so that the job is surely under way when the test acts.
const RUNS_IN_ERROR: usize = 1100;

/// Deploys `noop` (the hostile flow first) and a one-stage chain through
/// `a`, puts [`RUNS_IN_ERROR`] runs of it in Error, deploys the fix and
/// starts a job resuming them through `a`.
fn errored_runs_and_a_job_resuming_them(a: &Node) -> stagecraft_store::JobRecord {
    const RUNS: usize = RUNS_IN_ERROR;
    a.runtime
        .block_on(async {
            let noop = stagecraft_engine::FlowKind::Autolaunched;
            let hostile = stagecraft_tests::bytes(stagecraft_tests::HOSTILE);
            a.engine.deploy_flow("noop", noop, hostile, "test").await?;
            a.engine
                .deploy_orchestration(stagecraft_tests::chain_orchestration("chain", 1), "test")
                .await?;
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                runs.push(
                    a.engine
                        .start_run("chain", json!({}), "test")
                        .await?
                        .id
                        .clone(),
                );
            }
            for run in &runs {
                a.engine
                    .wait_for(run, |run| run.status == RunStatus::Error)
                    .await?;
            }
            let fixed = stagecraft_tests::bytes(stagecraft_tests::NOOP);
            a.engine.deploy_flow("noop", noop, fixed, "test").await?;
            let filter = stagecraft_engine::RepairFilter {
                flow: Some("noop".to_owned()),
                ..Default::default()
            };
            a.engine
                .resume_many(
                    stagecraft_engine::ResumeJob {
                        filter,
                        ..Default::default()
                    },
                    "test",
                )
                .await
        })
        .expect("the job starts through A")
}

/// Issue 20, defect 4: a resume job canceled through a node that does not
/// drive it once answered `canceled` while its driver went on resuming
/// every run. The cancel is carried out by the driver: once it answers, the
/// job's counts are final and no run of the job changes any more.
#[test]
fn a_job_canceled_through_another_node_changes_no_run_after_the_answer() {
    let Some(server) = test_database("cluster_job_cancel") else {
        return;
    };
    let setup = tokio::runtime::Runtime::new().expect("a runtime");
    let url = setup.block_on(fresh_database(&server, "cluster_job_cancel"));
    let calls = Calls::default();
    let a = Node::start("a", &url, Duration::from_secs(1), &calls, true);
    let b = Node::start("b", &url, Duration::from_secs(1), &calls, true);
    const RUNS: usize = RUNS_IN_ERROR;
    let job = errored_runs_and_a_job_resuming_them(&a);
    // Canceled in the middle of A's batch, once its first resumes landed.
    let canceled = b
        .runtime
        .block_on(async {
            while b.engine.job(&job.id).await?.counts.resumed == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            b.engine.cancel_job(&job.id, "test").await
        })
        .expect("the job is canceled through B while A drives it");
    assert_eq!(canceled.status, stagecraft_store::JobStatus::Canceled);
    let resumed = canceled.counts.resumed;
    assert!(
        resumed < RUNS as u64,
        "the job was still under way when canceled: {canceled:?}"
    );
    // Whatever A had under way committed before the answer: the runs no
    // longer in Error are exactly those the answer counts, now and once
    // the resumed ones have finished.
    let (after, moved) = a.runtime.block_on(async {
        let moved = loop {
            let counts = a.engine.run_counts(None).await.expect("run counts");
            let count = |status| {
                counts
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n)
            };
            if count(RunStatus::InProgress) == 0 {
                break RUNS as u64 - count(RunStatus::Error);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        (a.engine.job(&job.id).await.expect("the job"), moved)
    });
    assert_eq!(
        after.counts, canceled.counts,
        "the job changed after its cancel"
    );
    assert_eq!(moved, resumed, "runs resumed after the cancel's answer");
}

/// How many runs there are with `status`, through `node`.
fn runs_with(node: &Node, status: RunStatus) -> u64 {
    let counts = node
        .runtime
        .block_on(node.engine.run_counts(None))
        .expect("run counts");
    counts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

/// Issue 20, defect 7: a job driver that lost its job (paused past its
/// lease, so that another node took the job over) went on driving it
/// beside the new driver. It lets the job go at its next batch, and the
/// job ends with every run resumed once and none refused.
#[test]
fn a_driver_that_lost_its_job_lets_the_new_driver_finish_it_alone() {
    let Some(server) = test_database("cluster_job_driver") else {
        return;
    };
    let setup = tokio::runtime::Runtime::new().expect("a runtime");
    let url = setup.block_on(fresh_database(&server, "cluster_job_driver"));
    let calls = Calls::default();
    let a = Node::start("a", &url, Duration::from_secs(1), &calls, true);
    let b = Node::start("b", &url, Duration::from_secs(1), &calls, true);
    let job = errored_runs_and_a_job_resuming_them(&a);
    let b_id = b.store.node_id().to_owned();
    let record = b.runtime.block_on(async {
        while b.engine.job(&job.id).await?.counts.resumed == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // What B's take-over does once A's lease has run out.
        let (client, connection) = tokio_postgres::connect(&b.url, tokio_postgres::NoTls)
            .await
            .expect("the database accepts connections");
        tokio::spawn(connection);
        client
            .execute(
                "UPDATE jobs SET owner = $1 WHERE id = $2",
                &[&b_id, &job.id.0],
            )
            .await
            .expect("the job is handed to B");
        tokio::time::timeout(Duration::from_secs(60), b.engine.wait_for_job(&job.id))
            .await
            .expect("the job ends within a minute")
    });
    let record = record.expect("the job");
    assert_eq!(record.status, stagecraft_store::JobStatus::Completed);
    assert_eq!(
        (record.counts.resumed, record.counts.refused),
        (RUNS_IN_ERROR as u64, 0),
        "{record:?}"
    );
    let settled = loop {
        if runs_with(&b, RunStatus::InProgress) == 0 {
            break runs_with(&b, RunStatus::Completed);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(settled, RUNS_IN_ERROR as u64);
}

/// Issue 20, defect 13: a node that claims a run of an orchestration
/// version it has not read yet (deployed through another node a moment
/// ago) once let the run go with its work in flight never redone. It keeps
/// the run, answers its command "try again", and carries the run on once
/// it has read the catalog.
#[test]
fn a_run_claimed_before_its_orchestration_is_known_here_is_carried_on_once_it_is() {
    let Some(server) = test_database("cluster_plan_unknown") else {
        return;
    };
    let setup = tokio::runtime::Runtime::new().expect("a runtime");
    let url = setup.block_on(fresh_database(&server, "cluster_plan_unknown"));
    let calls = Calls::default();
    // B starts first, with long leases: it reads the catalog (empty) at its
    // start, and not again on its own before the test is over.
    let b = Node::start("b", &url, Duration::from_secs(60), &calls, true);
    let a = Node::start("a", &url, Duration::from_secs(1), &calls, false);
    let run = a.runtime.block_on(async {
        a.engine.deploy_orchestration(booking(), "test").await?;
        a.engine.start_run("booking", json!({}), "test").await
    });
    let run = run.expect("the run starts through A");
    while calls.lock().expect("not poisoned").is_empty() {
        std::thread::sleep(Duration::from_millis(5));
    }
    a.kill_and_leave(&b);
    let event = b
        .runtime
        .block_on(b.engine.publish_event(&run.id, "nudge", "test"));
    assert!(
        matches!(event, Err(stagecraft_engine::EngineError::Unavailable(_))),
        "B cannot apply a command for a run whose orchestration it does not know yet: {event:?}"
    );
    b.runtime
        .block_on(b.engine.sync_catalog())
        .expect("B reads the catalog");
    let done = b
        .wait_for(&run.id, |run| run.status == RunStatus::Completed)
        .expect("B carries the run on once it knows its orchestration");
    assert_eq!(done.status, RunStatus::Completed);
    let calls = calls.lock().expect("not poisoned");
    assert_eq!(
        calls.iter().map(|(node, _)| *node).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

/// Issue 20, defect 8: a node that routed a command to a run's owner waited
/// for the answer until tidying removed the route, about an hour later, if
/// the owner never took it or never wrote its answer. It gives up after six
/// lease TTLs and tells its caller what is known: not applied (the command
/// was never taken, and no node will take it now), or unknown (taken, not
/// answered). Node X here is a store with no engine: it owns the run and
/// renews its lease, but takes commands only when the test says so, and
/// answers none.
#[test]
fn a_routed_command_nobody_answers_is_given_up_after_six_leases() {
    let Some(server) = test_database("cluster_route_patience") else {
        return;
    };
    let setup = tokio::runtime::Runtime::new().expect("a runtime");
    let url = setup.block_on(fresh_database(&server, "cluster_route_patience"));
    let calls = Calls::default();
    let ttl = Duration::from_millis(400);
    let a = Node::start("a", &url, ttl, &calls, false);
    let b = Node::start("b", &url, ttl, &calls, true);
    let run = a.runtime.block_on(async {
        a.engine.deploy_orchestration(booking(), "test").await?;
        a.engine.start_run("booking", json!({}), "test").await
    });
    let run = run.expect("the run starts through A");
    let (x, sql) = setup.block_on(async {
        let mut config = PostgresConfig::from_url(&url).expect("a valid URL");
        config.lease_ttl = Duration::from_secs(60);
        let x = PostgresStore::open(config).await.expect("X opens");
        let (sql, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the database accepts connections");
        tokio::spawn(connection);
        sql.execute(
            "UPDATE runs SET owner = $1, epoch = epoch + 1 WHERE id = $2",
            &[&x.node_id(), &run.id.0],
        )
        .await
        .expect("the run is handed to X");
        (x, sql)
    });

    // Never taken: not applied.
    let started = std::time::Instant::now();
    let untaken = b
        .runtime
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                b.engine.publish_event(&run.id, "nudge", "test"),
            )
            .await
        })
        .expect("B gives up on the route long before tidying would");
    match untaken {
        Err(stagecraft_engine::EngineError::Unavailable(why)) => {
            assert!(why.contains("it was not applied"), "{why}");
        }
        other => panic!("B answers that the command was not applied: {other:?}"),
    }
    assert!(started.elapsed() >= ttl * 6, "B waited six leases first");

    // Taken by X, never answered: unknown.
    let publish = {
        let engine = b.engine.clone();
        let run = run.id.clone();
        b.runtime.spawn(async move {
            tokio::time::timeout(
                Duration::from_secs(30),
                engine.publish_event(&run, "nudge", "test"),
            )
            .await
        })
    };
    let taken = setup.block_on(async {
        loop {
            let taken = x.take_routed().await.expect("X takes its commands");
            if !taken.is_empty() {
                break taken;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert_eq!(taken.len(), 1);
    let unanswered = b
        .runtime
        .block_on(publish)
        .expect("the publish ends")
        .expect("B gives up on the route long before tidying would");
    match unanswered {
        Err(stagecraft_engine::EngineError::Unavailable(why)) => {
            assert!(why.contains("whether it was applied is unknown"), "{why}");
        }
        other => panic!("B answers that the outcome is unknown: {other:?}"),
    }
    let left: i64 = setup
        .block_on(sql.query_one("SELECT count(*) FROM routed_commands", &[]))
        .expect("the routes")
        .get(0);
    assert_eq!(left, 0, "a route given up on is removed");
    // A late answer is dropped.
    setup
        .block_on(x.answer_routed(taken[0].id, "late".to_owned()))
        .expect("a late answer is accepted and ignored");
}
