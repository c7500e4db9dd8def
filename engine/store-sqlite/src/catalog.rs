//! Flow and orchestration versions, and which one is active.
//!
//! Versions are numbered per name from 1. Inserting a version makes it
//! active in the same transaction; stored versions are never modified (a
//! trigger refuses updates).

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::codec::{corrupt, db, from_json, from_name, name_of, nanos, timestamp, version};
use stagecraft_store::{
    FlowRecord, NewFlow, NewOrchestration, OrchestrationRecord, Quarantine, StoreError, StoreResult,
};

/// Stores `flow` as the next version of its name and activates it.
pub(super) fn insert_flow(tx: &Transaction<'_>, flow: &NewFlow) -> StoreResult<FlowRecord> {
    let version = next_version(tx, "flows", &flow.name)?;
    let size = i64::try_from(flow.bytes.len())
        .map_err(|_| StoreError::write(format!("flow {}", flow.name), "too large"))?;
    let kind = name_of(&flow.kind)?;
    let deployed_at = nanos(flow.deployed_at)?;
    tx.prepare_cached(
        "INSERT INTO flows
             (name, version, kind, digest, size, bytes, deployed_by, deployed_at, memory_mib)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            flow.name,
            version,
            kind,
            flow.digest,
            size,
            flow.bytes,
            flow.deployed_by,
            deployed_at,
            flow.memory_mib,
        ])
    })
    .map_err(db)?;
    set_active(tx, "active_flows", &flow.name, version)?;
    flow_record(tx, &flow.name, version)?.ok_or_else(|| not_found("flow", &flow.name, version))
}

/// Makes an existing flow version the active one.
pub(super) fn activate_flow(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
) -> StoreResult<FlowRecord> {
    if flow_record(tx, name, version)?.is_none() {
        return Err(not_found("flow", name, version));
    }
    set_active(tx, "active_flows", name, version)?;
    flow_record(tx, name, version)?.ok_or_else(|| not_found("flow", name, version))
}

/// Quarantines a flow version unless it already is; `Ok(None)`: no such
/// version; the flag says whether it changed.
pub(super) fn quarantine_flow(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
    quarantine: &Quarantine,
) -> StoreResult<Option<(FlowRecord, bool)>> {
    if flow_record(tx, name, version)?.is_none() {
        return Ok(None);
    }
    let since = nanos(quarantine.since)?;
    let changed = tx
        .prepare_cached(
            "INSERT INTO flow_quarantines (name, version, reason, since) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name, version) DO NOTHING",
        )
        .and_then(|mut stmt| stmt.execute(params![name, version, quarantine.reason, since]))
        .map_err(db)?;
    Ok(flow_record(tx, name, version)?.map(|record| (record, changed > 0)))
}

/// Lifts a flow version's quarantine; `Ok(None)`: no such version.
pub(super) fn lift_quarantine(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
) -> StoreResult<Option<FlowRecord>> {
    tx.prepare_cached("DELETE FROM flow_quarantines WHERE name = ?1 AND version = ?2")
        .and_then(|mut stmt| stmt.execute(params![name, version]))
        .map_err(db)?;
    flow_record(tx, name, version)
}

/// Every flow version, by name then version.
pub(super) fn flows(conn: &Connection) -> StoreResult<Vec<FlowRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!("{FLOW_COLUMNS} ORDER BY f.name, f.version"))
        .map_err(db)?;
    let rows = stmt.query_map([], FlowRow::read).map_err(db)?;
    rows.map(|row| row.map_err(db)?.record()).collect()
}

/// A flow version's component bytes.
pub(super) fn flow_bytes(
    conn: &Connection,
    name: &str,
    version: u32,
) -> StoreResult<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT bytes FROM flows WHERE name = ?1 AND version = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![name, version], |row| row.get(0))
                .optional()
        })
        .map_err(db)
}

/// Stores `orchestration` as the next version of its name and activates it.
pub(super) fn insert_orchestration(
    tx: &Transaction<'_>,
    orchestration: &NewOrchestration,
) -> StoreResult<OrchestrationRecord> {
    let name = &orchestration.name;
    let version = next_version(tx, "orchestrations", name)?;
    let definition = serde_json::to_string(&orchestration.definition)
        .map_err(|e| StoreError::write(format!("orchestration {name}"), e))?;
    let deployed_at = nanos(orchestration.deployed_at)?;
    tx.prepare_cached(
        "INSERT INTO orchestrations (name, version, definition, deployed_by, deployed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            name,
            version,
            definition,
            orchestration.deployed_by,
            deployed_at,
        ])
    })
    .map_err(db)?;
    set_active(tx, "active_orchestrations", name, version)?;
    Ok(OrchestrationRecord {
        name: name.clone(),
        version,
        definition: orchestration.definition.clone(),
        deployed_by: orchestration.deployed_by.clone(),
        deployed_at: orchestration.deployed_at,
        active: true,
    })
}

/// Every orchestration version, by name then version.
pub(super) fn orchestrations(conn: &Connection) -> StoreResult<Vec<OrchestrationRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT o.name, o.version, o.definition, o.deployed_by, o.deployed_at,
                    a.version IS NOT NULL
             FROM orchestrations o
             LEFT JOIN active_orchestrations a ON a.name = o.name AND a.version = o.version
             ORDER BY o.name, o.version",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, bool>(5)?,
            ))
        })
        .map_err(db)?;
    rows.map(|row| {
        let (name, stored_version, definition, deployed_by, deployed_at, active) =
            row.map_err(db)?;
        let what = format!("orchestration {name} v{stored_version}");
        Ok(OrchestrationRecord {
            version: version(stored_version, &what)?,
            definition: from_json(&definition, &what)?,
            deployed_by,
            deployed_at: timestamp(deployed_at, &what)?,
            active,
            name,
        })
    })
    .collect()
}

const FLOW_COLUMNS: &str = "SELECT f.name, f.version, f.kind, f.digest, f.size, f.deployed_by,
        f.deployed_at, a.version IS NOT NULL, q.reason, q.since, f.memory_mib
    FROM flows f LEFT JOIN active_flows a ON a.name = f.name AND a.version = f.version
    LEFT JOIN flow_quarantines q ON q.name = f.name AND q.version = f.version";

/// The columns of a flow listing.
struct FlowRow {
    name: String,
    version: i64,
    kind: String,
    digest: String,
    size: i64,
    deployed_by: String,
    deployed_at: i64,
    active: bool,
    quarantine: Option<(String, i64)>,
    memory_mib: Option<i64>,
}

impl FlowRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            version: row.get(1)?,
            kind: row.get(2)?,
            digest: row.get(3)?,
            size: row.get(4)?,
            deployed_by: row.get(5)?,
            deployed_at: row.get(6)?,
            active: row.get(7)?,
            quarantine: match (row.get(8)?, row.get(9)?) {
                (Some(reason), Some(since)) => Some((reason, since)),
                _ => None,
            },
            memory_mib: row.get(10)?,
        })
    }

    fn record(self) -> StoreResult<FlowRecord> {
        let what = format!("flow {} v{}", self.name, self.version);
        Ok(FlowRecord {
            version: version(self.version, &what)?,
            kind: from_name(self.kind, &what)?,
            size: u64::try_from(self.size).map_err(|_| corrupt(&what, "negative size"))?,
            deployed_at: timestamp(self.deployed_at, &what)?,
            name: self.name,
            digest: self.digest,
            deployed_by: self.deployed_by,
            active: self.active,
            quarantine: self
                .quarantine
                .map(|(reason, since)| {
                    Ok::<_, StoreError>(Quarantine {
                        reason,
                        since: timestamp(since, &what)?,
                    })
                })
                .transpose()?,
            memory_mib: self
                .memory_mib
                .map(|mib| u32::try_from(mib).map_err(|_| corrupt(&what, "memory limit")))
                .transpose()?,
        })
    }
}

fn flow_record(conn: &Connection, name: &str, version: u32) -> StoreResult<Option<FlowRecord>> {
    conn.prepare_cached(&format!(
        "{FLOW_COLUMNS} WHERE f.name = ?1 AND f.version = ?2"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![name, version], FlowRow::read)
            .optional()
    })
    .map_err(db)?
    .map(FlowRow::record)
    .transpose()
}

/// The version after the highest stored for `name` in `table`, or 1.
fn next_version(tx: &Transaction<'_>, table: &str, name: &str) -> StoreResult<u32> {
    let highest: i64 = tx
        .prepare_cached(&format!(
            "SELECT coalesce(max(version), 0) FROM {table} WHERE name = ?1"
        ))
        .and_then(|mut stmt| stmt.query_row([name], |row| row.get(0)))
        .map_err(db)?;
    let what = format!("{table} {name}");
    version(highest, &what)?
        .checked_add(1)
        .ok_or_else(|| corrupt(what, "no version left"))
}

/// Points `name` at `version` in the `table` of active versions.
fn set_active(tx: &Transaction<'_>, table: &str, name: &str, version: u32) -> StoreResult<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO {table} (name, version) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version"
    ))
    .and_then(|mut stmt| stmt.execute(params![name, version]))
    .map_err(db)?;
    Ok(())
}

fn not_found(what: &str, name: &str, version: u32) -> StoreError {
    StoreError::NotFound(format!("{what} {name} v{version}"))
}
