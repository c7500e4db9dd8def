//! The `start_keys` table: idempotency keys of run starts, shared by every
//! node, so that a retry through another node finds the first request's run.

use deadpool_postgres::Client;
use stagecraft_core::run::RunId;
use stagecraft_store::encoding::{nanos, timestamp};
use stagecraft_store::{StartKey, StoreResult};

use crate::error::{read_error, write_error};

/// Holds `key`, or returns the holding in its way (see `Store::hold_start_key`).
/// Each statement is atomic on its own: a holding released between the
/// failed insert and the read is held afresh.
pub(crate) async fn hold(
    client: &Client,
    key: &StartKey,
    replacing: Option<&RunId>,
) -> StoreResult<Option<StartKey>> {
    let at = nanos(key.at)?;
    let failed = || write_error("a start key");
    let mut replacing = replacing;
    loop {
        let held = match replacing {
            None => {
                client
                    .execute(
                        "INSERT INTO start_keys (caller, key, request, run_id, held_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                        &[&key.caller, &key.key, &key.request, &key.run.0, &at],
                    )
                    .await
            }
            Some(old) => {
                client
                    .execute(
                        "UPDATE start_keys SET request = $3, run_id = $4, held_at = $5
                         WHERE caller = $1 AND key = $2 AND run_id = $6",
                        &[&key.caller, &key.key, &key.request, &key.run.0, &at, &old.0],
                    )
                    .await
            }
        }
        .map_err(failed())?;
        if held == 1 {
            return Ok(None);
        }
        let holder = client
            .query_opt(
                "SELECT request, run_id, held_at FROM start_keys WHERE caller = $1 AND key = $2",
                &[&key.caller, &key.key],
            )
            .await
            .map_err(read_error("a start key"))?;
        match holder {
            Some(row) => {
                let failed = || read_error("a start key");
                return Ok(Some(StartKey {
                    caller: key.caller.clone(),
                    key: key.key.clone(),
                    request: row.try_get(0).map_err(failed())?,
                    run: RunId(row.try_get(1).map_err(failed())?),
                    at: timestamp(row.try_get(2).map_err(failed())?, "a start key")?,
                }));
            }
            // Released or pruned meanwhile: hold it afresh.
            None => replacing = None,
        }
    }
}

/// Lets go `caller`'s `key` if it is held for `run`.
pub(crate) async fn release(
    client: &Client,
    caller: &str,
    key: &str,
    run: &RunId,
) -> StoreResult<()> {
    client
        .execute(
            "DELETE FROM start_keys WHERE caller = $1 AND key = $2 AND run_id = $3",
            &[&caller, &key, &run.0],
        )
        .await
        .map_err(write_error("a start key"))?;
    Ok(())
}
