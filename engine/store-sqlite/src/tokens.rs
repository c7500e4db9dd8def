//! The `tokens` table: users' bearer tokens, as SHA-256 hashes.

use rusqlite::{Connection, Transaction, params};

use super::codec::{corrupt, db, nanos};
use stagecraft_store::StoreResult;

/// Stores the hash of a token issued to `user`.
pub(super) fn issue(
    tx: &Transaction<'_>,
    user: &str,
    sha256: &[u8; 32],
    at: jiff::Timestamp,
) -> StoreResult<()> {
    let at = nanos(at)?;
    tx.prepare_cached("INSERT INTO tokens (sha256, user_id, issued_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut stmt| stmt.execute(params![&sha256[..], user, at]))
        .map_err(db)?;
    Ok(())
}

/// Forgets every token of `user`; how many there were.
pub(super) fn revoke(tx: &Transaction<'_>, user: &str) -> StoreResult<u64> {
    let removed = tx
        .prepare_cached("DELETE FROM tokens WHERE user_id = ?1")
        .and_then(|mut stmt| stmt.execute([user]))
        .map_err(db)?;
    Ok(u64::try_from(removed).unwrap_or(0))
}

/// Every token: its holder and hash.
pub(super) fn all(conn: &Connection) -> StoreResult<Vec<(String, [u8; 32])>> {
    let mut stmt = conn
        .prepare_cached("SELECT user_id, sha256 FROM tokens ORDER BY issued_at")
        .map_err(db)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(db)?;
    rows.map(|row| {
        let (user, hash) = row.map_err(db)?;
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| corrupt(format!("token of {user}"), "not a SHA-256 hash"))?;
        Ok((user, hash))
    })
    .collect()
}
