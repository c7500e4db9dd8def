//! Users, groups and queues.
//!
//! Groups and queues have the same shape (an id, a name, member user ids);
//! [`Set`] picks the tables. Members are returned sorted and without
//! duplicates: membership is a set.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::codec::{db, from_name, name_of};
use stagecraft_store::{Group, Memberships, Queue, StoreResult, User};

/// Which kind of user set.
#[derive(Debug, Clone, Copy)]
pub(super) enum Set {
    /// `groups` / `group_members`.
    Group,
    /// `queues` / `queue_members`.
    Queue,
}

impl Set {
    /// The set table, its members table and the members' key column.
    fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Group => ("groups", "group_members", "group_id"),
            Self::Queue => ("queues", "queue_members", "queue_id"),
        }
    }
}

/// Creates or replaces a user.
pub(super) fn put_user(tx: &Transaction<'_>, user: &User) -> StoreResult<()> {
    let status = name_of(&user.status)?;
    tx.prepare_cached(
        "INSERT INTO users (id, name, status) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status",
    )
    .and_then(|mut stmt| stmt.execute(params![user.id, user.name, status]))
    .map_err(db)?;
    Ok(())
}

/// Creates or replaces a group or queue with exactly `members`.
pub(super) fn put_set(
    tx: &Transaction<'_>,
    set: Set,
    id: &str,
    name: &str,
    members: &[String],
) -> StoreResult<()> {
    let (table, members_table, key) = set.tables();
    tx.prepare_cached(&format!(
        "INSERT INTO {table} (id, name) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name"
    ))
    .and_then(|mut stmt| stmt.execute([id, name]))
    .map_err(db)?;
    tx.prepare_cached(&format!("DELETE FROM {members_table} WHERE {key} = ?1"))
        .and_then(|mut stmt| stmt.execute([id]))
        .map_err(db)?;
    let mut insert = tx
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO {members_table} ({key}, user_id) VALUES (?1, ?2)"
        ))
        .map_err(db)?;
    for member in members {
        insert.execute([id, member]).map_err(db)?;
    }
    Ok(())
}

/// One user.
pub(super) fn user(conn: &Connection, id: &str) -> StoreResult<Option<User>> {
    let row = conn
        .prepare_cached("SELECT id, name, status FROM users WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], user_columns).optional())
        .map_err(db)?;
    row.map(decode_user).transpose()
}

/// One group.
pub(super) fn group(conn: &Connection, id: &str) -> StoreResult<Option<Group>> {
    Ok(set(conn, Set::Group, id)?.map(|(id, name, members)| Group { id, name, members }))
}

/// One queue.
pub(super) fn queue(conn: &Connection, id: &str) -> StoreResult<Option<Queue>> {
    Ok(set(conn, Set::Queue, id)?.map(|(id, name, members)| Queue { id, name, members }))
}

/// Every user, group and queue, by id, read in one snapshot.
pub(super) fn all(conn: &Connection) -> StoreResult<(Vec<User>, Vec<Group>, Vec<Queue>)> {
    let snapshot = conn.unchecked_transaction().map_err(db)?;
    let users = {
        let mut stmt = snapshot
            .prepare_cached("SELECT id, name, status FROM users ORDER BY id")
            .map_err(db)?;
        let rows = stmt.query_map([], user_columns).map_err(db)?;
        rows.map(|row| decode_user(row.map_err(db)?))
            .collect::<StoreResult<Vec<_>>>()?
    };
    let groups = sets(&snapshot, Set::Group)?
        .into_iter()
        .map(|(id, name, members)| Group { id, name, members })
        .collect();
    let queues = sets(&snapshot, Set::Queue)?
        .into_iter()
        .map(|(id, name, members)| Queue { id, name, members })
        .collect();
    Ok((users, groups, queues))
}

/// The groups and queues `user` is a member of, by id.
pub(super) fn memberships(conn: &Connection, user: &str) -> StoreResult<Memberships> {
    let snapshot = conn.unchecked_transaction().map_err(db)?;
    let ids = |set: Set| -> StoreResult<Vec<String>> {
        let (_, members_table, key) = set.tables();
        let mut stmt = snapshot
            .prepare_cached(&format!(
                "SELECT {key} FROM {members_table} WHERE user_id = ?1 ORDER BY {key}"
            ))
            .map_err(db)?;
        let rows = stmt.query_map([user], |row| row.get(0)).map_err(db)?;
        rows.map(|row| row.map_err(db)).collect()
    };
    Ok(Memberships {
        groups: ids(Set::Group)?,
        queues: ids(Set::Queue)?,
    })
}

/// A set's id, name and members.
type SetRow = (String, String, Vec<String>);

fn set(conn: &Connection, set: Set, id: &str) -> StoreResult<Option<SetRow>> {
    let (table, members_table, key) = set.tables();
    let snapshot = conn.unchecked_transaction().map_err(db)?;
    let name: Option<String> = snapshot
        .prepare_cached(&format!("SELECT name FROM {table} WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)).optional())
        .map_err(db)?;
    let Some(name) = name else {
        return Ok(None);
    };
    let mut stmt = snapshot
        .prepare_cached(&format!(
            "SELECT user_id FROM {members_table} WHERE {key} = ?1 ORDER BY user_id"
        ))
        .map_err(db)?;
    let members = stmt
        .query_map([id], |row| row.get(0))
        .map_err(db)?
        .map(|row| row.map_err(db))
        .collect::<StoreResult<_>>()?;
    Ok(Some((id.to_owned(), name, members)))
}

fn sets(conn: &Connection, set: Set) -> StoreResult<Vec<SetRow>> {
    let (table, members_table, key) = set.tables();
    let mut by_id: BTreeMap<String, SetRow> = BTreeMap::new();
    let mut stmt = conn
        .prepare_cached(&format!("SELECT id, name FROM {table}"))
        .map_err(db)?;
    let rows = stmt
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))
        .map_err(db)?;
    for row in rows {
        let (id, name) = row.map_err(db)?;
        by_id.insert(id.clone(), (id, name, Vec::new()));
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {key}, user_id FROM {members_table} ORDER BY {key}, user_id"
        ))
        .map_err(db)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(db)?;
    for row in rows {
        let (id, member) = row.map_err(db)?;
        if let Some((_, _, members)) = by_id.get_mut(&id) {
            members.push(member);
        }
    }
    Ok(by_id.into_values().collect())
}

fn user_columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn decode_user((id, name, status): (String, String, String)) -> StoreResult<User> {
    let status = from_name(status, &format!("user {id}"))?;
    Ok(User { id, name, status })
}
