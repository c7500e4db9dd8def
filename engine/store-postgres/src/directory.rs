//! Users, groups, queues, memberships and tokens.

use std::collections::BTreeMap;

use deadpool_postgres::{Client, Transaction};
use stagecraft_store::encoding::{corrupt, from_name, name_of, nanos};
use stagecraft_store::{Group, Memberships, Queue, StoreResult, User};

use crate::error::{read_error, write_error};

/// Groups and queues share their shape.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Set {
    Group,
    Queue,
}

impl Set {
    fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Group => ("groups", "group_members", "group_id"),
            Self::Queue => ("queues", "queue_members", "queue_id"),
        }
    }
}

/// A group or queue: its id, name and members.
pub(crate) type SetRow = (String, String, Vec<String>);

pub(crate) async fn put_user(tx: &Transaction<'_>, user: &User) -> StoreResult<()> {
    let status = name_of(&user.status)?;
    tx.execute(
        "INSERT INTO users (id, name, status) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status",
        &[&user.id, &user.name, &status],
    )
    .await
    .map_err(write_error("a user"))?;
    Ok(())
}

pub(crate) async fn put_set(
    tx: &Transaction<'_>,
    set: Set,
    id: &str,
    name: &str,
    members: &[String],
) -> StoreResult<()> {
    let (table, members_table, key) = set.tables();
    let failed = || write_error(table);
    tx.execute(
        &format!(
            "INSERT INTO {table} (id, name) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name"
        ),
        &[&id, &name],
    )
    .await
    .map_err(failed())?;
    tx.execute(
        &format!("DELETE FROM {members_table} WHERE {key} = $1"),
        &[&id],
    )
    .await
    .map_err(failed())?;
    tx.execute(
        &format!(
            "INSERT INTO {members_table} ({key}, user_id)
             SELECT $1, member FROM UNNEST($2::text[]) AS m(member)
             ON CONFLICT DO NOTHING"
        ),
        &[&id, &members],
    )
    .await
    .map_err(failed())?;
    Ok(())
}

pub(crate) async fn user(client: &Client, id: &str) -> StoreResult<Option<User>> {
    let failed = || read_error("a user");
    let stmt = client
        .prepare_cached("SELECT id, name, status FROM users WHERE id = $1")
        .await
        .map_err(failed())?;
    let row = client.query_opt(&stmt, &[&id]).await.map_err(failed())?;
    row.map(|row| {
        decode_user(
            row.try_get(0).map_err(failed())?,
            row.try_get(1).map_err(failed())?,
            row.try_get(2).map_err(failed())?,
        )
    })
    .transpose()
}

/// One group or queue, read in one statement (a consistent snapshot).
pub(crate) async fn set(client: &Client, set: Set, id: &str) -> StoreResult<Option<SetRow>> {
    let (table, members_table, key) = set.tables();
    let failed = || read_error(table);
    let stmt = client
        .prepare_cached(&format!(
            "SELECT s.name, array_remove(array_agg(m.user_id ORDER BY m.user_id), NULL)
             FROM {table} s LEFT JOIN {members_table} m ON m.{key} = s.id
             WHERE s.id = $1 GROUP BY s.name"
        ))
        .await
        .map_err(failed())?;
    let row = client.query_opt(&stmt, &[&id]).await.map_err(failed())?;
    row.map(|row| {
        Ok((
            id.to_owned(),
            row.try_get(0).map_err(failed())?,
            row.try_get(1).map_err(failed())?,
        ))
    })
    .transpose()
}

/// All users, groups and queues, in the caller's snapshot.
pub(crate) async fn all(tx: &Transaction<'_>) -> StoreResult<(Vec<User>, Vec<Group>, Vec<Queue>)> {
    let failed = || read_error("the directory");
    let rows = tx
        .query("SELECT id, name, status FROM users ORDER BY id", &[])
        .await
        .map_err(failed())?;
    let users = rows
        .iter()
        .map(|row| {
            decode_user(
                row.try_get(0).map_err(failed())?,
                row.try_get(1).map_err(failed())?,
                row.try_get(2).map_err(failed())?,
            )
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let groups = sets(tx, Set::Group)
        .await?
        .into_iter()
        .map(|(id, name, members)| Group { id, name, members })
        .collect();
    let queues = sets(tx, Set::Queue)
        .await?
        .into_iter()
        .map(|(id, name, members)| Queue { id, name, members })
        .collect();
    Ok((users, groups, queues))
}

async fn sets(tx: &Transaction<'_>, set: Set) -> StoreResult<Vec<SetRow>> {
    let (table, members_table, key) = set.tables();
    let failed = || read_error(table);
    let mut by_id: BTreeMap<String, SetRow> = BTreeMap::new();
    for row in tx
        .query(&format!("SELECT id, name FROM {table}"), &[])
        .await
        .map_err(failed())?
    {
        let id: String = row.try_get(0).map_err(failed())?;
        let name: String = row.try_get(1).map_err(failed())?;
        by_id.insert(id.clone(), (id, name, Vec::new()));
    }
    for row in tx
        .query(
            &format!("SELECT {key}, user_id FROM {members_table} ORDER BY {key}, user_id"),
            &[],
        )
        .await
        .map_err(failed())?
    {
        let id: String = row.try_get(0).map_err(failed())?;
        if let Some((_, _, members)) = by_id.get_mut(&id) {
            members.push(row.try_get(1).map_err(failed())?);
        }
    }
    Ok(by_id.into_values().collect())
}

/// The groups and queues `user` belongs to, in one statement.
pub(crate) async fn memberships(client: &Client, user: &str) -> StoreResult<Memberships> {
    let failed = || read_error("memberships");
    let stmt = client
        .prepare_cached(
            "SELECT 'group', group_id FROM group_members WHERE user_id = $1
             UNION ALL
             SELECT 'queue', queue_id FROM queue_members WHERE user_id = $1
             ORDER BY 1, 2",
        )
        .await
        .map_err(failed())?;
    let mut memberships = Memberships::default();
    for row in client.query(&stmt, &[&user]).await.map_err(failed())? {
        let kind: String = row.try_get(0).map_err(failed())?;
        let id: String = row.try_get(1).map_err(failed())?;
        match kind.as_str() {
            "group" => memberships.groups.push(id),
            _ => memberships.queues.push(id),
        }
    }
    Ok(memberships)
}

pub(crate) async fn issue_token(
    tx: &Transaction<'_>,
    user: &str,
    sha256: &[u8; 32],
    at: jiff::Timestamp,
) -> StoreResult<()> {
    let at = nanos(at)?;
    tx.execute(
        "INSERT INTO tokens (sha256, user_id, issued_at) VALUES ($1, $2, $3)",
        &[&&sha256[..], &user, &at],
    )
    .await
    .map_err(write_error("a token"))?;
    Ok(())
}

pub(crate) async fn revoke_tokens(tx: &Transaction<'_>, user: &str) -> StoreResult<u64> {
    tx.execute("DELETE FROM tokens WHERE user_id = $1", &[&user])
        .await
        .map_err(write_error("tokens"))
}

pub(crate) async fn tokens(client: &Client) -> StoreResult<Vec<(String, [u8; 32])>> {
    let failed = || read_error("tokens");
    let stmt = client
        .prepare_cached("SELECT user_id, sha256 FROM tokens ORDER BY issued_at")
        .await
        .map_err(failed())?;
    client
        .query(&stmt, &[])
        .await
        .map_err(failed())?
        .iter()
        .map(|row| {
            let user: String = row.try_get(0).map_err(failed())?;
            let hash: Vec<u8> = row.try_get(1).map_err(failed())?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| corrupt(format!("token of {user}"), "not a SHA-256 hash"))?;
            Ok((user, hash))
        })
        .collect()
}

fn decode_user(id: String, name: String, status: String) -> StoreResult<User> {
    let status = from_name(status, &format!("user {id}"))?;
    Ok(User { id, name, status })
}
