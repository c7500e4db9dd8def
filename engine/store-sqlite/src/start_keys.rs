//! The `start_keys` table: idempotency keys of run starts.

use rusqlite::{OptionalExtension, Transaction, params};

use super::codec::{db, nanos, timestamp};
use stagecraft_core::run::RunId;
use stagecraft_store::{StartKey, StoreResult};

/// Holds `key`, or returns the holding in its way (see `Store::hold_start_key`).
pub(super) fn hold(
    tx: &Transaction<'_>,
    key: &StartKey,
    replacing: Option<&RunId>,
) -> StoreResult<Option<StartKey>> {
    let at = nanos(key.at)?;
    let held = match replacing {
        None => tx
            .prepare_cached(
                "INSERT INTO start_keys (caller, key, request, run_id, held_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![key.caller, key.key, key.request, key.run.0, at])
            }),
        Some(old) => tx
            .prepare_cached(
                "UPDATE start_keys SET request = ?3, run_id = ?4, held_at = ?5
                 WHERE caller = ?1 AND key = ?2 AND run_id = ?6",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    key.caller,
                    key.key,
                    key.request,
                    key.run.0,
                    at,
                    old.0
                ])
            }),
    }
    .map_err(db)?;
    if held == 1 {
        return Ok(None);
    }
    let holder = tx
        .prepare_cached(
            "SELECT request, run_id, held_at FROM start_keys WHERE caller = ?1 AND key = ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![key.caller, key.key], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .optional()
        })
        .map_err(db)?;
    match holder {
        Some((request, run, at)) => Ok(Some(StartKey {
            caller: key.caller.clone(),
            key: key.key.clone(),
            request,
            run: RunId(run),
            at: timestamp(at, "a start key")?,
        })),
        // Replacing a holding that is gone (pruned): hold it afresh.
        None => hold(tx, key, None),
    }
}

/// Lets go `caller`'s `key` if it is held for `run`.
pub(super) fn release(
    tx: &Transaction<'_>,
    caller: &str,
    key: &str,
    run: &RunId,
) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM start_keys WHERE caller = ?1 AND key = ?2 AND run_id = ?3")
        .and_then(|mut stmt| stmt.execute(params![caller, key, run.0]))
        .map_err(db)?;
    Ok(())
}
