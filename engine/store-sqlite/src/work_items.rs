//! Work-item queries (the rows are written with their run, in `runs`).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use stagecraft_core::run::{RunId, WorkItem, WorkItemId, WorkItemStatus};

use super::codec::{db, from_json, name_of, principal};
use stagecraft_store::{StoreResult, WorkItemFilter, WorkItemRecord};

/// Work items matching `filter`, oldest first.
pub(super) fn list(conn: &Connection, filter: &WorkItemFilter) -> StoreResult<Vec<WorkItemRecord>> {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if !filter.assignees.is_empty() {
        let any: Vec<_> = filter
            .assignees
            .iter()
            .map(|assignee| {
                let (kind, id) = principal(assignee);
                values.push(SqlValue::Text(kind.to_owned()));
                values.push(SqlValue::Text(id.to_owned()));
                "(assignee_kind = ? AND assignee_id = ?)"
            })
            .collect();
        conditions.push(format!("({})", any.join(" OR ")));
    }
    if filter.open_only {
        conditions.push("status = ?".to_owned());
        values.push(SqlValue::Text(name_of(&WorkItemStatus::Assigned)?));
    }
    if let Some(run) = &filter.run {
        conditions.push("run_id = ?".to_owned());
        values.push(SqlValue::Text(run.0.clone()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!("SELECT id, run_id, item FROM work_items {filter} ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let rows = stmt
        .query_map(params_from_iter(values), columns)
        .map_err(db)?;
    rows.map(|row| {
        let (id, run, item) = row.map_err(db)?;
        decode(&id, run, &item)
    })
    .collect()
}

/// One work item.
pub(super) fn one(conn: &Connection, id: &WorkItemId) -> StoreResult<Option<WorkItemRecord>> {
    let row = conn
        .prepare_cached("SELECT id, run_id, item FROM work_items WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([&id.0], columns).optional())
        .map_err(db)?;
    row.map(|(id, run, item)| decode(&id, run, &item))
        .transpose()
}

fn columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn decode(id: &str, run: String, item: &str) -> StoreResult<WorkItemRecord> {
    let item: WorkItem = from_json(item, &format!("work item {id}"))?;
    Ok(WorkItemRecord {
        run: RunId(run),
        item,
    })
}
