//! Opening connections: identity and version checks, pragmas, migrations.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, MigrationDefinitionError, Migrations};

use super::codec::db;
use super::{IntegrityCheck, SqliteConfig, Synchronous};
use stagecraft_store::{StoreError, StoreResult};

/// The schema migrations, applied in order; the schema version (SQLite's
/// `user_version`) is the number applied. Never edit one that shipped: add
/// the next.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("schema/001_initial.sql")),
        M::up(include_str!("schema/002_step_logs.sql")),
        M::up(include_str!("schema/003_drop_runs_by_update.sql")),
        M::up(include_str!("schema/004_audit_and_jobs.sql")),
        M::up(include_str!("schema/005_tokens.sql")),
        M::up_with_hook(
            include_str!("schema/006_runs_by_stage.sql"),
            super::runs::fill_stages,
        ),
        M::up(include_str!("schema/007_start_keys.sql")),
        M::up(include_str!("schema/008_quarantines_and_memory.sql")),
    ])
}

/// How many migrations there are: the schema version this build writes.
const MIGRATION_COUNT: i64 = 8;

/// `PRAGMA application_id` of a Stagecraft store ("STGC"), set by migration 1.
const APPLICATION_ID: i64 = 0x5354_4743;

/// The schema version this build writes.
fn latest_version() -> i64 {
    MIGRATION_COUNT
}

/// Opens the write connection: checks the file is a Stagecraft store this
/// build understands (or a new file), switches to WAL and migrates.
pub(super) fn open_writer(config: &SqliteConfig) -> StoreResult<Connection> {
    let path = &config.path;
    let mut conn = Connection::open(path).map_err(|e| failed(path, e))?;
    conn.busy_timeout(config.busy_timeout)
        .map_err(|e| failed(path, e))?;
    // The first statements read the file header: a file that is not SQLite
    // fails here, before anything is written to it.
    check_identity(&conn, path)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| failed(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::write(
            path.display().to_string(),
            format!("cannot switch to WAL mode (journal mode is {mode})"),
        ));
    }
    let synchronous = match config.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .map_err(|e| failed(path, e))?;
    check_integrity(&conn, path, config.integrity_check)?;
    migrations()
        .to_latest(&mut conn)
        .map_err(|e| migration_failed(path, e))?;
    Ok(conn)
}

/// What to do about a damaged database file.
const RECOVER: &str = "Restore it from a backup (or salvage what is readable with the sqlite3 \
                       shell's .recover into a new file) and start again";

/// Refuses a database whose pages or records fail SQLite's own checks.
fn check_integrity(conn: &Connection, path: &Path, check: IntegrityCheck) -> StoreResult<()> {
    let pragma = match check {
        IntegrityCheck::Off => return Ok(()),
        IntegrityCheck::Quick => "quick_check",
        IntegrityCheck::Full => "integrity_check",
    };
    let problems: Result<Vec<String>, rusqlite::Error> = conn
        .prepare(&format!("PRAGMA {pragma}(20)"))
        .and_then(|mut stmt| stmt.query_map([], |row| row.get::<_, String>(0))?.collect());
    let problems = match problems {
        Ok(rows) if rows.iter().all(|row| row == "ok") => return Ok(()),
        Ok(rows) => rows.join("; "),
        Err(error) => error.to_string(),
    };
    Err(StoreError::corrupt(
        path.display().to_string(),
        format!("the database failed SQLite's {pragma} ({problems}); it is not served. {RECOVER}"),
    ))
}

/// Opens a read-only connection; the writer must have opened the file first.
pub(super) fn open_reader(config: &SqliteConfig) -> StoreResult<Connection> {
    let path = &config.path;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| failed(path, e))?;
    conn.busy_timeout(config.busy_timeout)
        .map_err(|e| failed(path, e))?;
    Ok(conn)
}

/// Refuses files that are not a Stagecraft store: another application's
/// database, or a schema version newer than this build.
fn check_identity(conn: &Connection, path: &Path) -> StoreResult<()> {
    let pragma = |name: &str| -> StoreResult<i64> {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .map_err(|e| failed(path, e))
    };
    let application_id = pragma("application_id")?;
    let version = pragma("user_version")?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(|e| failed(path, e))?;
    let empty = application_id == 0 && version == 0 && objects == 0;
    if application_id != APPLICATION_ID && !empty {
        return Err(StoreError::Incompatible(format!(
            "{} is a SQLite database but not a Stagecraft store (application_id {application_id:#x})",
            path.display()
        )));
    }
    if version > latest_version() {
        return Err(newer_schema(path, Some(version)));
    }
    Ok(())
}

fn newer_schema(path: &Path, version: Option<i64>) -> StoreError {
    let found = version.map_or_else(String::new, |v| format!(" {v}"));
    StoreError::Incompatible(format!(
        "{}: schema version{found} is newer than this build of Stagecraft knows ({}); \
         open it with a newer Stagecraft",
        path.display(),
        latest_version()
    ))
}

fn failed(path: &Path, error: rusqlite::Error) -> StoreError {
    if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) {
        return StoreError::corrupt(
            path.display().to_string(),
            format!("{error}; it is not served. {RECOVER}"),
        );
    }
    match db(error) {
        StoreError::Write { source, .. } => StoreError::Read {
            what: path.display().to_string(),
            source,
        },
        StoreError::Incompatible(reason) => {
            StoreError::Incompatible(format!("{}: {reason}", path.display()))
        }
        other => other,
    }
}

fn migration_failed(path: &Path, error: rusqlite_migration::Error) -> StoreError {
    match error {
        rusqlite_migration::Error::MigrationDefinition(
            MigrationDefinitionError::DatabaseTooFarAhead,
        ) => newer_schema(path, None),
        error => StoreError::write(
            format!(
                "{}: the migration to schema version {}",
                path.display(),
                latest_version()
            ),
            error,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration list is well formed (rusqlite_migration's own check).
    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    /// The version the migrations reach is the one this build writes.
    #[test]
    fn migrations_reach_the_latest_version() {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        migrations().to_latest(&mut conn).expect("migrated");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version");
        assert_eq!(version, latest_version());
    }
}
