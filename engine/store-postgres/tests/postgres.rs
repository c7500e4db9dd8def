//! The PostgreSQL store against a real server: the conformance suite every
//! backend passes, then what only PostgreSQL has (its schema versions,
//! several stores on one database). Each test works in a schema of its own.
//! Without `STAGECRAFT_TEST_DATABASE` the tests skip, loudly (and fail
//! under `CI=true`).

use std::sync::atomic::{AtomicU64, Ordering};

use stagecraft_core::run::RunId;
use stagecraft_store::{Claim, Commit, RouteState, Store, StoreError};
use stagecraft_store_conformance::support::Loan;
use stagecraft_store_conformance::{Harness, test_database};
use stagecraft_store_postgres::{PostgresConfig, PostgresStore};
use tokio_postgres::NoTls;

/// A store on a fresh schema of the test database.
struct TestStore {
    store: PostgresStore,
    config: PostgresConfig,
}

impl TestStore {
    /// A fresh schema, or `None` when there is no database here.
    async fn new(test: &str) -> Option<Self> {
        let url = test_database(test)?;
        let schema = fresh_schema(&url).await;
        let mut config = PostgresConfig::from_url(&url).expect("a valid URL");
        config
            .connection
            .options(format!("-c search_path={schema}"));
        let store = PostgresStore::open(config.clone())
            .await
            .expect("the store opens");
        Some(Self { store, config })
    }
}

impl Harness for TestStore {
    type Store = PostgresStore;

    fn store(&self) -> &PostgresStore {
        &self.store
    }

    async fn reopen(self) -> Self {
        let Self { store, config } = self;
        // As a node that stops: the next one takes over its runs at once.
        store.leave().await.expect("the node leaves");
        drop(store);
        let store = PostgresStore::open(config.clone())
            .await
            .expect("the store reopens");
        Self { store, config }
    }
}

/// Creates an empty schema with a name no other test uses.
async fn fresh_schema(url: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        jiff::Timestamp::now().as_millisecond()
    );
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("the test database accepts connections");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("a schema is created");
    schema
}

async fn fresh() -> Option<TestStore> {
    TestStore::new("postgres conformance").await
}

stagecraft_store_conformance::store_conformance_tests!(fresh);

/// Two stores on one database (two nodes) see each other's writes.
#[tokio::test]
async fn two_stores_on_one_database_share_their_runs() {
    let Some(first) = TestStore::new("two_stores_on_one_database").await else {
        return;
    };
    let second = PostgresStore::open(first.config.clone()).await.unwrap();
    let loan = Loan::waiting_for_review("shared");
    first.store.commit_runs(vec![loan.shared()]).await.unwrap();
    assert_eq!(
        second.run(&RunId("shared".into())).await.unwrap(),
        Some(loan.run.clone())
    );
    assert!(first.store.transactions_committed() >= 1);
}

/// A database whose schema a newer Stagecraft made is refused, clearly,
/// and left as it is.
#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let Some(test) = TestStore::new("a_schema_newer_than_this_build").await else {
        return;
    };
    let (client, connection) = test.config.connection.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("INSERT INTO stagecraft_schema (version) VALUES (999)")
        .await
        .unwrap();
    let error = PostgresStore::open(test.config.clone())
        .await
        .expect_err("a newer schema is refused");
    match &error {
        StoreError::Incompatible(message) => {
            assert!(message.contains("999"), "{message}");
            assert!(message.contains("newer"), "{message}");
        }
        other => panic!("expected an incompatible database, got {other:?}"),
    }
    let versions: i64 = client
        .query_one("SELECT count(*) FROM stagecraft_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        versions,
        stagecraft_store_postgres::latest_schema_version() + 1,
        "the schema is left as it was"
    );
}

/// A server that cannot be reached is a retryable error, not a crash.
#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let mut config = PostgresConfig::from_url("postgres://nobody@127.0.0.1:1/none").unwrap();
    config
        .connection
        .connect_timeout(std::time::Duration::from_secs(2));
    match PostgresStore::open(config).await {
        Err(error @ StoreError::Unavailable { .. }) => assert!(error.is_retryable()),
        other => panic!("expected the store to be unavailable, got {other:?}"),
    }
}

/// A URL that is not one is refused before anything is tried.
#[test]
fn a_malformed_url_is_refused() {
    match PostgresConfig::from_url("postgres://a:b@host:notaport/db") {
        Err(StoreError::Incompatible(message)) => assert!(message.contains("URL"), "{message}"),
        other => panic!("expected the URL to be refused, got {other:?}"),
    }
}

/// Two nodes on one database: a run with work in flight is its node's; the
/// other node's claim names the owner and its commands are routed there;
/// once the owner's lease ends the run is taken over at a higher epoch,
/// and the old owner's late write is refused (fenced) without changing
/// anything; a run let go is claimed by the next command's node.
#[tokio::test]
async fn nodes_own_runs_through_fenced_leases_and_route_commands_to_the_owner() {
    let Some(first) = TestStore::new("nodes_own_runs_through_fenced_leases").await else {
        return;
    };
    let a = &first.store;
    let b = PostgresStore::open(first.config.clone()).await.unwrap();
    let mut loan = Loan::start("fenced");
    a.commit_runs(vec![loan.shared()]).await.unwrap();

    // A owns it: B is told whose it is, and nothing is taken over.
    match b.claim(&loan.run.id).await.unwrap() {
        Claim::OwnedBy(node) => assert_eq!(node, a.node_id()),
        other => panic!("expected the run to be A's, got {other:?}"),
    }
    assert!(b.take_over().await.unwrap().runs.is_empty());

    // A command routed by B waits for A, which takes and answers it.
    let route = b.route(&loan.run.id, "cancel".to_owned()).await.unwrap();
    assert_eq!(b.route_state(route).await.unwrap(), RouteState::Waiting);
    let taken = a.take_routed().await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].id, taken[0].command.as_str()), (route, "cancel"));
    assert!(a.take_routed().await.unwrap().is_empty(), "taken once");
    a.answer_routed(route, "done".to_owned()).await.unwrap();
    assert_eq!(
        b.route_state(route).await.unwrap(),
        RouteState::Answered("done".to_owned())
    );

    // A's lease ends (as if it stopped): B takes the run over.
    a.leave().await.unwrap();
    let taken = b.take_over().await.unwrap();
    assert_eq!(taken.runs.len(), 1);
    assert_eq!(taken.runs[0].id, loan.run.id);

    // A, back from a pause, writes a state it made before: refused whole.
    let before = b.run(&loan.run.id).await.unwrap().expect("the run");
    loan.finish_score();
    let stale = a.commit_runs(vec![loan.shared()]).await;
    match stale {
        Err(error @ StoreError::Unavailable { .. }) => {
            assert!(error.to_string().contains("another node"), "{error}");
        }
        other => panic!("expected A's write to be fenced, got {other:?}"),
    }
    assert_eq!(b.run(&loan.run.id).await.unwrap().as_ref(), Some(&before));

    // B writes and lets the run go; A's next command claims it.
    b.commit(Commit {
        runs: vec![loan.shared()],
        released: vec![loan.run.id.clone()],
        ..Commit::default()
    })
    .await
    .unwrap();
    match a.claim(&loan.run.id).await.unwrap() {
        Claim::Claimed(run) => assert_eq!(*run, *loan.shared()),
        other => panic!("expected A to claim the run let go, got {other:?}"),
    }
    // A routed command for a run nobody owns is withdrawn, not lost.
    a.commit(Commit {
        runs: vec![loan.shared()],
        released: vec![loan.run.id.clone()],
        ..Commit::default()
    })
    .await
    .unwrap();
    let route = b.route(&loan.run.id, "resume".to_owned()).await.unwrap();
    assert_eq!(b.route_state(route).await.unwrap(), RouteState::Withdrawn);
    assert!(a.take_routed().await.unwrap().is_empty());
}
