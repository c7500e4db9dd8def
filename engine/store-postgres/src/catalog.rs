//! Flow and orchestration versions, and which of each is active.

use deadpool_postgres::{Client, Transaction};
use stagecraft_store::encoding::{
    corrupt, from_json, from_name, name_of, nanos, timestamp, version,
};
use stagecraft_store::{
    FlowRecord, NewFlow, NewOrchestration, OrchestrationRecord, Quarantine, StoreError, StoreResult,
};
use tokio_postgres::Row;

use crate::error::{read_error, write_error};

const FLOW_COLUMNS: &str = "SELECT f.name, f.version, f.kind, f.digest, f.size, f.deployed_by,
        f.deployed_at, a.version IS NOT NULL, q.reason, q.since, f.memory_mib
    FROM flows f LEFT JOIN active_flows a ON a.name = f.name AND a.version = f.version
    LEFT JOIN flow_quarantines q ON q.name = f.name AND q.version = f.version";

/// Stores a new version of a flow and makes it active.
pub(crate) async fn insert_flow(tx: &Transaction<'_>, flow: &NewFlow) -> StoreResult<FlowRecord> {
    let failed = || write_error("a flow version");
    let version = next_version(tx, "flows", &flow.name).await?;
    let size = i64::try_from(flow.bytes.len())
        .map_err(|_| StoreError::write(format!("flow {}", flow.name), "too large"))?;
    let kind = name_of(&flow.kind)?;
    let deployed_at = nanos(flow.deployed_at)?;
    tx.execute(
        "INSERT INTO flows
             (name, version, kind, digest, size, bytes, deployed_by, deployed_at, memory_mib)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &flow.name,
            &i64::from(version),
            &kind,
            &flow.digest,
            &size,
            &flow.bytes,
            &flow.deployed_by,
            &deployed_at,
            &flow.memory_mib.map(i64::from),
        ],
    )
    .await
    .map_err(failed())?;
    set_active(tx, "active_flows", &flow.name, version).await?;
    flow_record(tx, &flow.name, version)
        .await?
        .ok_or_else(|| not_found("flow", &flow.name, version))
}

/// Makes an existing flow version active.
pub(crate) async fn activate_flow(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
) -> StoreResult<FlowRecord> {
    if flow_record(tx, name, version).await?.is_none() {
        return Err(not_found("flow", name, version));
    }
    set_active(tx, "active_flows", name, version).await?;
    flow_record(tx, name, version)
        .await?
        .ok_or_else(|| not_found("flow", name, version))
}

/// Quarantines a flow version unless it already is; `Ok(None)`: no such
/// version; the flag says whether it changed.
pub(crate) async fn quarantine_flow(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
    quarantine: &Quarantine,
) -> StoreResult<Option<(FlowRecord, bool)>> {
    if flow_record(tx, name, version).await?.is_none() {
        return Ok(None);
    }
    let changed = tx
        .execute(
            "INSERT INTO flow_quarantines (name, version, reason, since) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name, version) DO NOTHING",
            &[
                &name,
                &i64::from(version),
                &quarantine.reason,
                &nanos(quarantine.since)?,
            ],
        )
        .await
        .map_err(write_error("a flow's quarantine"))?;
    Ok(flow_record(tx, name, version)
        .await?
        .map(|record| (record, changed > 0)))
}

/// Lifts a flow version's quarantine; `Ok(None)`: no such version.
pub(crate) async fn lift_quarantine(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
) -> StoreResult<Option<FlowRecord>> {
    tx.execute(
        "DELETE FROM flow_quarantines WHERE name = $1 AND version = $2",
        &[&name, &i64::from(version)],
    )
    .await
    .map_err(write_error("a flow's quarantine"))?;
    flow_record(tx, name, version).await
}

/// Every flow version, by name then version.
pub(crate) async fn flows(client: &Client) -> StoreResult<Vec<FlowRecord>> {
    let failed = || read_error("flows");
    let stmt = client
        .prepare_cached(&format!("{FLOW_COLUMNS} ORDER BY f.name, f.version"))
        .await
        .map_err(failed())?;
    let rows = client.query(&stmt, &[]).await.map_err(failed())?;
    rows.iter().map(flow_row).collect()
}

/// A flow version's component bytes.
pub(crate) async fn flow_bytes(
    client: &Client,
    name: &str,
    version: u32,
) -> StoreResult<Option<Vec<u8>>> {
    let failed = || read_error("a flow's component");
    let stmt = client
        .prepare_cached("SELECT bytes FROM flows WHERE name = $1 AND version = $2")
        .await
        .map_err(failed())?;
    let row = client
        .query_opt(&stmt, &[&name, &i64::from(version)])
        .await
        .map_err(failed())?;
    row.map(|row| row.try_get(0).map_err(failed())).transpose()
}

/// Stores a new version of an orchestration and makes it active.
pub(crate) async fn insert_orchestration(
    tx: &Transaction<'_>,
    orchestration: &NewOrchestration,
) -> StoreResult<OrchestrationRecord> {
    let name = &orchestration.name;
    let version = next_version(tx, "orchestrations", name).await?;
    let definition = serde_json::to_string(&orchestration.definition)
        .map_err(|e| StoreError::write(format!("orchestration {name}"), e))?;
    let deployed_at = nanos(orchestration.deployed_at)?;
    tx.execute(
        "INSERT INTO orchestrations (name, version, definition, deployed_by, deployed_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            name,
            &i64::from(version),
            &definition,
            &orchestration.deployed_by,
            &deployed_at,
        ],
    )
    .await
    .map_err(write_error("an orchestration version"))?;
    set_active(tx, "active_orchestrations", name, version).await?;
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
pub(crate) async fn orchestrations(client: &Client) -> StoreResult<Vec<OrchestrationRecord>> {
    let failed = || read_error("orchestrations");
    let stmt = client
        .prepare_cached(
            "SELECT o.name, o.version, o.definition, o.deployed_by, o.deployed_at,
                    a.version IS NOT NULL
             FROM orchestrations o
             LEFT JOIN active_orchestrations a ON a.name = o.name AND a.version = o.version
             ORDER BY o.name, o.version",
        )
        .await
        .map_err(failed())?;
    let rows = client.query(&stmt, &[]).await.map_err(failed())?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0).map_err(failed())?;
            let stored: i64 = row.try_get(1).map_err(failed())?;
            let definition: String = row.try_get(2).map_err(failed())?;
            let what = format!("orchestration {name} v{stored}");
            Ok(OrchestrationRecord {
                version: version(stored, &what)?,
                definition: from_json(&definition, &what)?,
                deployed_by: row.try_get(3).map_err(failed())?,
                deployed_at: timestamp(row.try_get(4).map_err(failed())?, &what)?,
                active: row.try_get(5).map_err(failed())?,
                name,
            })
        })
        .collect()
}

fn flow_row(row: &Row) -> StoreResult<FlowRecord> {
    let failed = || read_error("a flow");
    let name: String = row.try_get(0).map_err(failed())?;
    let stored: i64 = row.try_get(1).map_err(failed())?;
    let what = format!("flow {name} v{stored}");
    let size: i64 = row.try_get(4).map_err(failed())?;
    Ok(FlowRecord {
        version: version(stored, &what)?,
        kind: from_name(row.try_get(2).map_err(failed())?, &what)?,
        digest: row.try_get(3).map_err(failed())?,
        size: u64::try_from(size).map_err(|_| corrupt(&what, "negative size"))?,
        deployed_by: row.try_get(5).map_err(failed())?,
        deployed_at: timestamp(row.try_get(6).map_err(failed())?, &what)?,
        active: row.try_get(7).map_err(failed())?,
        quarantine: match (
            row.try_get::<_, Option<String>>(8).map_err(failed())?,
            row.try_get::<_, Option<i64>>(9).map_err(failed())?,
        ) {
            (Some(reason), Some(since)) => Some(Quarantine {
                reason,
                since: timestamp(since, &what)?,
            }),
            _ => None,
        },
        memory_mib: row
            .try_get::<_, Option<i64>>(10)
            .map_err(failed())?
            .map(|mib| u32::try_from(mib).map_err(|_| corrupt(&what, "memory limit")))
            .transpose()?,
        name,
    })
}

async fn flow_record(
    tx: &Transaction<'_>,
    name: &str,
    version: u32,
) -> StoreResult<Option<FlowRecord>> {
    let row = tx
        .query_opt(
            &format!("{FLOW_COLUMNS} WHERE f.name = $1 AND f.version = $2"),
            &[&name, &i64::from(version)],
        )
        .await
        .map_err(read_error("a flow"))?;
    row.as_ref().map(flow_row).transpose()
}

/// The next version of `name` in `table`. Of two nodes deploying the same
/// name at once, the second fails on the primary key (a conflict) rather
/// than reusing a number.
async fn next_version(tx: &Transaction<'_>, table: &str, name: &str) -> StoreResult<u32> {
    let highest: i64 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {table} WHERE name = $1"),
            &[&name],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(read_error("the latest version"))?;
    let what = format!("{table} {name}");
    version(highest, &what)?
        .checked_add(1)
        .ok_or_else(|| corrupt(what, "no version left"))
}

async fn set_active(
    tx: &Transaction<'_>,
    table: &str,
    name: &str,
    version: u32,
) -> StoreResult<()> {
    tx.execute(
        &format!(
            "INSERT INTO {table} (name, version) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET version = excluded.version"
        ),
        &[&name, &i64::from(version)],
    )
    .await
    .map_err(write_error("the active version"))?;
    Ok(())
}

fn not_found(what: &str, name: &str, version: u32) -> StoreError {
    StoreError::NotFound(format!("{what} {name} v{version}"))
}
