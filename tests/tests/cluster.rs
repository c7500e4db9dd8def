//! Engines on one PostgreSQL database, in one process, each on a runtime of
//! its own so that a node can be stopped dead (its runtime dropped: no task
//! of it runs again, as after kill -9). Skipped loudly without
//! `STAGECRAFT_TEST_DATABASE`; failing under `CI=true`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stagecraft_core::run::{Run, RunId, RunStatus};
use stagecraft_engine::{ActionCall, Engine, EngineBuilder, EngineConfig};
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
