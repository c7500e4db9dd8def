//! The `audit` table.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, Transaction, params, params_from_iter};

use super::codec::{corrupt, db, nanos, timestamp};
use stagecraft_store::{
    AuditAction, AuditEntry, AuditFilter, AuditOutcome, AuditRecord, StoreResult,
};

/// Records listed when the filter sets no limit.
const DEFAULT_LIMIT: u32 = 100;
/// Most records one listing returns.
const MAX_LIMIT: u32 = 1000;

/// Appends `record`.
pub(super) fn put(tx: &Transaction<'_>, record: &AuditRecord) -> StoreResult<()> {
    let (outcome, reason) = match &record.outcome {
        AuditOutcome::Done => ("done", None),
        AuditOutcome::Refused { reason } => ("refused", Some(reason.as_str())),
    };
    let detail = (!record.detail.is_null()).then(|| record.detail.to_string());
    let at = nanos(record.at)?;
    tx.prepare_cached(
        "INSERT INTO audit (at, actor, action, target, outcome, reason, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            at,
            record.actor,
            record.action.name(),
            record.target,
            outcome,
            reason,
            detail,
        ])
    })
    .map_err(db)?;
    Ok(())
}

/// Records matching `filter`, newest first.
pub(super) fn list(conn: &Connection, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(actor) = &filter.actor {
        conditions.push("actor = ?");
        values.push(SqlValue::Text(actor.clone()));
    }
    if let Some(action) = filter.action {
        conditions.push("action = ?");
        values.push(SqlValue::Text(action.name().to_owned()));
    }
    if let Some(target) = &filter.target {
        conditions.push("target = ?");
        values.push(SqlValue::Text(target.clone()));
    }
    // Times the store cannot hold select everything or nothing, not fail.
    if let Some(since) = filter.since {
        conditions.push("at >= ?");
        values.push(SqlValue::Integer(clamped(since)));
    }
    if let Some(until) = filter.until {
        conditions.push("at < ?");
        values.push(SqlValue::Integer(clamped(until)));
    }
    if let Some(before) = filter.before {
        conditions.push("id < ?");
        values.push(SqlValue::Integer(i64::try_from(before).unwrap_or(i64::MAX)));
    }
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut sql =
        "SELECT id, at, actor, action, target, outcome, reason, detail FROM audit".to_owned();
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let rows = stmt
        .query_map(params_from_iter(values), AuditRow::read)
        .map_err(db)?;
    rows.map(|row| row.map_err(db)?.entry()).collect()
}

/// The oldest records recorded before `before`, oldest first, the newest
/// record of the log excepted: ids only grow while it stays.
pub(super) fn oldest(
    conn: &Connection,
    before: jiff::Timestamp,
    limit: u32,
) -> StoreResult<Vec<AuditEntry>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, at, actor, action, target, outcome, reason, detail FROM audit
             WHERE id < (SELECT max(id) FROM audit) ORDER BY id LIMIT ?1",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([i64::from(limit)], AuditRow::read)
        .map_err(db)?;
    let before = clamped(before);
    let mut oldest = Vec::new();
    // In id order, which is the order they were recorded in: the first one
    // recent enough ends the list.
    for row in rows {
        let row = row.map_err(db)?;
        if row.at >= before {
            break;
        }
        oldest.push(row.entry()?);
    }
    Ok(oldest)
}

/// Removes the records up to id `through` recorded before `before`, the
/// newest record excepted; how many.
pub(super) fn prune(
    tx: &Transaction<'_>,
    through: u64,
    before: jiff::Timestamp,
) -> StoreResult<u64> {
    let through = i64::try_from(through).unwrap_or(i64::MAX);
    let removed = tx
        .prepare_cached(
            "DELETE FROM audit WHERE id <= ?1 AND at < ?2
                 AND id < (SELECT max(id) FROM audit)",
        )
        .and_then(|mut stmt| stmt.execute(params![through, clamped(before)]))
        .map_err(db)?;
    Ok(u64::try_from(removed).unwrap_or(0))
}

/// `at` as stored, clamped into what a column holds.
fn clamped(at: jiff::Timestamp) -> i64 {
    nanos(at).unwrap_or(if at.as_second() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    reason: Option<String>,
    detail: Option<String>,
}

impl AuditRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            at: row.get(1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            target: row.get(4)?,
            outcome: row.get(5)?,
            reason: row.get(6)?,
            detail: row.get(7)?,
        })
    }

    fn entry(self) -> StoreResult<AuditEntry> {
        let what = format!("audit record {}", self.id);
        let action = AuditAction::parse(&self.action)
            .ok_or_else(|| corrupt(&what, format!("unknown action {:?}", self.action)))?;
        let outcome = match (self.outcome.as_str(), self.reason) {
            ("done", _) => AuditOutcome::Done,
            ("refused", reason) => AuditOutcome::Refused {
                reason: reason.unwrap_or_default(),
            },
            (other, _) => return Err(corrupt(&what, format!("unknown outcome {other:?}"))),
        };
        let detail = match self.detail {
            Some(json) => serde_json::from_str(&json).map_err(|e| corrupt(&what, e))?,
            None => serde_json::Value::Null,
        };
        Ok(AuditEntry {
            id: u64::try_from(self.id).map_err(|_| corrupt(&what, "negative id"))?,
            record: AuditRecord {
                at: timestamp(self.at, &what)?,
                actor: self.actor,
                action,
                target: self.target,
                outcome,
                detail,
            },
        })
    }
}
