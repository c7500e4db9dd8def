//! The PostgreSQL store against a real server: the conformance suite every
//! backend passes, then what only PostgreSQL has (its schema versions,
//! several stores on one database). Each test works in a schema of its own.
//! Without `STAGECRAFT_TEST_DATABASE` the tests skip, loudly (and fail
//! under `CI=true`).

use std::sync::atomic::{AtomicU64, Ordering};

use stagecraft_core::run::RunId;
use stagecraft_store::{Store, StoreError};
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
    assert_eq!(versions, 2, "the schema is left as it was");
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

/// One node serves a database: a second one's claim is refused, and the
/// lock is free again once the first store is gone.
#[tokio::test]
async fn only_one_store_at_a_time_may_serve_a_database() {
    let Some(first) = TestStore::new("only_one_store_at_a_time_may_serve").await else {
        return;
    };
    first.store.claim_serving().await.unwrap();
    first
        .store
        .claim_serving()
        .await
        .expect("claiming again is a no-op");
    let second = PostgresStore::open(first.config.clone()).await.unwrap();
    match second.claim_serving().await {
        Err(StoreError::Conflict(message)) => assert!(message.contains("another"), "{message}"),
        other => panic!("expected the second node to be refused, got {other:?}"),
    }
    drop(first);
    let mut claimed = second.claim_serving().await;
    for _ in 0..100 {
        // The first store's connection closes as its pool drops.
        if claimed.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        claimed = second.claim_serving().await;
    }
    claimed.expect("the lock is free once the first store is gone");
}
