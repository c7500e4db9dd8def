//! Numbered migrations, applied when a store opens.

use stagecraft_store::{StoreError, StoreResult};

use crate::error::write_error;

/// The migrations, in order; migration `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/001_initial.sql"),
    include_str!("schema/002_nodes.sql"),
    include_str!("schema/003_start_keys.sql"),
    include_str!("schema/004_job_cancels.sql"),
    include_str!("schema/005_retention.sql"),
    include_str!("schema/006_quarantines_and_memory.sql"),
];

/// The advisory lock nodes take to migrate one at a time ("STGC").
const MIGRATION_LOCK: i64 = 0x5354_4743;

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Brings the database to [`latest_version`], or refuses one that is newer.
pub(crate) async fn migrate(client: &mut deadpool_postgres::Object) -> StoreResult<()> {
    let failed = write_error("the schema");
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(error) => return Err(failed(error)),
    };
    let steps = async {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS stagecraft_schema (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let current: Option<i64> = tx
            .query_one("SELECT max(version) FROM stagecraft_schema", &[])
            .await?
            .try_get(0)?;
        Ok::<_, tokio_postgres::Error>(current.unwrap_or(0))
    };
    let current = steps.await.map_err(write_error("the schema"))?;
    if current > latest_version() {
        return Err(StoreError::Incompatible(format!(
            "the database's schema version {current} is newer than this build of Stagecraft \
             knows ({}); run a newer Stagecraft on it",
            latest_version()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        if version <= current {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .map_err(write_error(&format!("migration {version}")))?;
        tx.execute(
            "INSERT INTO stagecraft_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(write_error(&format!("migration {version}")))?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    tx.commit().await.map_err(write_error("the schema"))
}
