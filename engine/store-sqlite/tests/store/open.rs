//! Opening: schema creation, reopening, and files that must be refused.

use rusqlite::Connection;
use stagecraft_core::run::RunId;
use stagecraft_store::{Store, StoreError, User, UserStatus};
use stagecraft_store_sqlite::{SqliteConfig, SqliteStore};

use crate::support::{Loan, TestStore, audit};

fn open_error(config: SqliteConfig) -> String {
    match SqliteStore::open(config) {
        Ok(_) => panic!("the store should refuse this file"),
        Err(StoreError::Incompatible(message)) => message,
        Err(other) => panic!("expected the database to be refused as incompatible, got {other:?}"),
    }
}

#[test]
fn the_store_is_shareable() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<SqliteStore>();
}

#[tokio::test]
async fn open_creates_the_schema_in_wal_mode_and_reopening_keeps_the_data() {
    let test = TestStore::new();
    let loan = Loan::waiting_for_review("run-1");
    test.store.commit_runs(vec![loan.shared()]).await.unwrap();
    let alice = User {
        id: "alice".into(),
        name: "Alice".into(),
        status: UserStatus::Active,
    };
    test.store.put_user(alice.clone(), audit()).await.unwrap();

    let conn = Connection::open(test.path()).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 8, "every migration applied");
    let dropped: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'runs_by_update'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(dropped, 0, "migration 3 dropped the unused index");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    assert_eq!(
        tables,
        [
            "active_flows",
            "active_orchestrations",
            "audit",
            "flow_quarantines",
            "flows",
            "group_members",
            "groups",
            "job_runs",
            "jobs",
            "orchestrations",
            "queue_members",
            "queues",
            "runs",
            "start_keys",
            "step_logs",
            "tokens",
            "users",
            "work_items",
        ]
    );
    drop(conn);

    let test = test.reopen();
    let stored = test.store.run(&RunId("run-1".into())).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&loan.run));
    assert_eq!(test.store.user("alice").await.unwrap(), Some(alice));
}

#[test]
fn open_creates_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("store.db");
    SqliteStore::open(SqliteConfig::new(&path)).unwrap();
    assert!(path.exists());
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let contents = "these are not the bytes of a SQLite database\n".repeat(100);
    std::fs::write(&path, &contents).unwrap();
    let message = open_error(SqliteConfig::new(&path));
    assert!(message.contains("not a SQLite database"), "{message}");
    assert!(message.contains("store.db"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), contents);
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    let message = open_error(SqliteConfig::new(&path));
    assert!(message.contains("not a Stagecraft store"), "{message}");
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(SqliteConfig::new(&path)).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let message = open_error(SqliteConfig::new(&path));
    assert!(message.contains("schema version 99 is newer"), "{message}");
}
