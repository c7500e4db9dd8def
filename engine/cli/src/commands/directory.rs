//! `stagecraft user|group|queue|whoami ...`

use crate::cli::{MembersCommand, UserCommand};
use crate::client::Client;
use crate::output::{Output, cell};
use anyhow::Result;
use serde_json::json;
use stagecraft_api_model::{IssuedToken, Me, PutMembers, RevokedTokens};

/// Runs a user command.
pub async fn user(client: &Client, out: Output, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::List => out.table(
            &client.get(&["users"], &[]).await?,
            &[("id", "/id"), ("name", "/name"), ("status", "/status")],
        ),
        UserCommand::Put { id, name, status } => {
            let user = client
                .put(&["users", &id], &json!({ "name": name, "status": status }))
                .await?;
            out.print(&user, |_| println!("user {id} saved"));
        }
        UserCommand::Token { id } => {
            let answer = client.post(&["users", &id, "tokens"], &()).await?;
            let issued: IssuedToken = serde_json::from_value(answer.clone())?;
            out.print(&answer, |_| {
                println!("token for {id} (shown once; keep it secret):");
                println!("{}", issued.token);
            });
        }
        UserCommand::Revoke { id } => {
            let revoked = client.delete(&["users", &id, "tokens"]).await?;
            out.show(&revoked, |revoked: &RevokedTokens| {
                println!("revoked {} token(s) of {id}", revoked.revoked);
            })?;
        }
    }
    Ok(())
}

/// Runs a group or queue command; `kind` is `groups` or `queues`.
pub async fn members(
    client: &Client,
    out: Output,
    kind: &str,
    command: MembersCommand,
) -> Result<()> {
    match command {
        MembersCommand::List => {
            let list = client.get(&[kind], &[]).await?;
            out.print(&list, |list| {
                let rows: Vec<_> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|entry| {
                        let members: Vec<String> = entry["members"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(cell)
                            .collect();
                        json!({ "id": entry["id"], "name": entry["name"], "members": members.join(", ") })
                    })
                    .collect();
                if rows.is_empty() {
                    println!("(none)");
                } else {
                    println!(
                        "{}",
                        crate::output::table(
                            &rows,
                            &[("id", "/id"), ("name", "/name"), ("members", "/members")]
                        )
                    );
                }
            });
        }
        MembersCommand::Put { id, name, members } => {
            let saved = client
                .put(&[kind, &id], &PutMembers { name, members })
                .await?;
            out.print(&saved, |_| {
                println!("{} {id} saved", kind.trim_end_matches('s'))
            });
        }
    }
    Ok(())
}

/// Prints who the token belongs to.
pub async fn whoami(client: &Client, out: Output) -> Result<()> {
    let me = client.get(&["me"], &[]).await?;
    out.show(&me, |me: &Me| match me {
        Me::Admin => println!("admin"),
        Me::User {
            user,
            groups,
            queues,
        } => println!(
            "{user} (groups: {}; queues: {})",
            serde_json::json!(groups),
            serde_json::json!(queues)
        ),
    })
}
