//! Bearer tokens. The admin token is configured when the server starts (or
//! generated and printed once); user tokens are issued by the admin and kept
//! in the store as SHA-256 hashes only. Raw tokens are never stored or
//! logged; hashes are compared in constant time.

use super::AppState;
use super::error::{ApiError, UnauditedRefusal};
use crate::backend::Engine;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stagecraft_engine::{AuditAction, UserStatus};
use stagecraft_store::Store as _;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::sync::RwLock;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The holder of the admin token.
    Admin,
    /// A directory user, by id.
    User(String),
}

impl Caller {
    /// Succeeds for the admin only.
    pub fn admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::User(user) => Err(ApiError::refused_role(format!(
                "{user} is not an administrator; this needs the admin token"
            ))),
        }
    }

    /// Who acts, as the audit log names them: `admin`, or the user's id.
    pub fn name(&self) -> &str {
        match self {
            Caller::Admin => "admin",
            Caller::User(user) => user,
        }
    }
}

/// Why the tokens could not be loaded or issued.
#[derive(Debug, Error)]
pub enum TokenError {
    /// Reading or renaming the legacy token file failed.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The legacy token file is not what this program wrote.
    #[error("token file {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: serde_json::Error,
    },
    /// The system random source failed.
    #[error("no randomness for a token: {0}")]
    Random(getrandom::Error),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] stagecraft_engine::EngineError),
}

/// The file earlier versions kept user tokens in, imported once.
#[derive(Debug, Default, Deserialize)]
struct TokenFile {
    tokens: Vec<StoredToken>,
}

#[derive(Debug, Clone, Deserialize)]
struct StoredToken {
    user: String,
    /// SHA-256 of the token, hex.
    sha256: String,
}

/// The tokens the server accepts: the admin token's hash, and the users'
/// tokens, kept in the store (as hashes, issued and revoked with their
/// audit records) and cached here for every request.
#[derive(Debug)]
pub struct Tokens {
    admin: [u8; 32],
    users: RwLock<Vec<(String, [u8; 32])>>,
    /// With several nodes on one database, tokens are issued and revoked
    /// through any of them: the list is read again when it is older than
    /// [`SHARED_TOKENS_FRESH`], and for a token not in it (lookups waiting
    /// at once share one read). `None` on a store only this node uses.
    shared: Option<(
        crate::backend::Backend,
        tokio::sync::Mutex<std::time::Instant>,
    )>,
}

/// How fresh [`Tokens::refresh`] wants the list.
#[derive(Debug, Clone, Copy)]
enum Fresh {
    /// Read at most this long ago.
    Within(std::time::Duration),
    /// Read after this instant.
    Since(std::time::Instant),
}

/// How stale the token list of a node sharing its database may be: a token
/// revoked through another node is refused here within this time.
const SHARED_TOKENS_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl Tokens {
    /// Loads the user tokens from the store, after importing the
    /// `tokens.json` of an earlier version from `data_dir` (renamed to
    /// `tokens.json.imported` once it is in), and takes the admin token's
    /// hash.
    pub async fn open(
        engine: &Engine,
        data_dir: &Path,
        admin_token: &str,
    ) -> Result<Self, TokenError> {
        let path = data_dir.join("tokens.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: TokenFile =
                    serde_json::from_slice(&bytes).map_err(|source| TokenError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                let known = engine.tokens().await?;
                for stored in file.tokens {
                    let mut hash = [0u8; 32];
                    if hex::decode_to_slice(&stored.sha256, &mut hash).is_err()
                        || known.iter().any(|(_, h)| *h == hash)
                    {
                        continue;
                    }
                    engine
                        .import_token(&stored.user, hash, "tokens.json")
                        .await?;
                }
                let imported = path.with_extension("json.imported");
                std::fs::rename(&path, &imported).map_err(|source| TokenError::Io {
                    path: path.clone(),
                    source,
                })?;
                tracing::info!(from = %path.display(), "user tokens imported into the store");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(TokenError::Io { path, source }),
        }
        let shared = engine.store().lease_ttl().map(|_| {
            (
                engine.store().clone(),
                tokio::sync::Mutex::new(std::time::Instant::now()),
            )
        });
        Ok(Self {
            admin: digest(admin_token),
            users: RwLock::new(engine.tokens().await?),
            shared,
        })
    }

    /// Who holds `token`, if anyone.
    pub async fn caller(&self, token: &str) -> Option<Caller> {
        self.caller_by_digest(&digest(token)).await
    }

    /// Who holds the token whose SHA-256 is `hash`, if anyone (a console
    /// session keeps only that hash, and ends when the token is revoked).
    pub async fn caller_by_digest(&self, hash: &[u8; 32]) -> Option<Caller> {
        if bool::from(hash.ct_eq(&self.admin)) {
            return Some(Caller::Admin);
        }
        let asked = std::time::Instant::now();
        if let Some(found) = self.known(hash).await {
            return Some(found);
        }
        // Perhaps issued through another node since the last read.
        self.shared.as_ref()?;
        self.refresh(Fresh::Since(asked)).await;
        self.known(hash).await
    }

    /// The holder of the token hashed `hash` in the list as it is, once it
    /// is fresh enough.
    async fn known(&self, hash: &[u8; 32]) -> Option<Caller> {
        self.refresh(Fresh::Within(SHARED_TOKENS_FRESH)).await;
        let users = self.users.read().await;
        let mut found = None;
        for (user, stored) in users.iter() {
            if bool::from(hash.ct_eq(stored)) && found.is_none() {
                found = Some(Caller::User(user.clone()));
            }
        }
        found
    }

    /// Reads the token list again if the database is shared and the list is
    /// not as fresh as `fresh` asks. A failed read keeps the list as it was.
    async fn refresh(&self, fresh: Fresh) {
        let Some((store, read_at)) = &self.shared else {
            return;
        };
        let mut read_at = read_at.lock().await;
        let fresh_enough = match fresh {
            Fresh::Within(age) => read_at.elapsed() < age,
            Fresh::Since(asked) => *read_at > asked,
        };
        if fresh_enough {
            return;
        }
        match stagecraft_store::Store::tokens(store).await {
            Ok(tokens) => *self.users.write().await = tokens,
            Err(error) => {
                tracing::warn!(error = %error.report(), "cannot read the tokens again; keeping the list")
            }
        }
        *read_at = std::time::Instant::now();
    }

    /// Issues a new token for `user` on behalf of `by`; the store keeps its
    /// hash, with the audit record. The caller hands the token out once.
    pub async fn issue(&self, engine: &Engine, user: &str, by: &str) -> Result<String, TokenError> {
        let token = generate("sc_user_")?;
        let hash = digest(&token);
        engine.issue_token(user, hash, by).await?;
        self.users.write().await.push((user.to_owned(), hash));
        Ok(token)
    }

    /// Revokes every token of `user` on behalf of `by`; how many there were.
    pub async fn revoke(&self, engine: &Engine, user: &str, by: &str) -> Result<u64, TokenError> {
        let revoked = engine.revoke_tokens(user, by).await?;
        self.users
            .write()
            .await
            .retain(|(holder, _)| holder != user);
        Ok(revoked)
    }
}

/// A fresh random token: `prefix` and 64 hex digits (256 bits).
pub fn generate(prefix: &str) -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(TokenError::Random)?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Why `user` may not act now, if they may not: frozen, inactive or gone
/// from the directory. The one rule for the API's tokens and the console's
/// sessions: such a user keeps their tokens but may not use them.
pub async fn barred(
    engine: &Engine,
    user: &str,
) -> Result<Option<String>, stagecraft_engine::EngineError> {
    Ok(match engine.user(user).await? {
        Some(record) => match record.status {
            UserStatus::Active => None,
            UserStatus::Frozen => Some(format!(
                "user {user} is frozen; their tokens and sign-in are refused"
            )),
            UserStatus::Inactive => Some(format!(
                "user {user} is inactive; their tokens and sign-in are refused"
            )),
        },
        None => Some(format!(
            "user {user} no longer exists; their tokens and sign-in are refused"
        )),
    })
}

/// Middleware: resolves the bearer token to a [`Caller`] for the handlers,
/// or answers 401. Logs the request without its headers.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let caller = match token {
        Some(token) if !token.is_empty() => state.tokens.caller(token).await,
        _ => None,
    };
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(caller) = caller else {
        tracing::info!(%method, path, status = 401, "refused: no valid token");
        return axum::response::IntoResponse::into_response(ApiError::unauthorized());
    };
    if let Some(wait) = state.rate_limits.check(&caller) {
        tracing::info!(%method, path, caller = caller.name(), status = 429, ?wait, "refused: over the token's rate");
        return axum::response::IntoResponse::into_response(ApiError::rate_limited(wait));
    }
    // A frozen or inactive user keeps their tokens but may not use them.
    if let Caller::User(user) = &caller {
        let refused = match barred(&state.engine, user).await {
            Ok(refused) => refused,
            Err(error) => {
                return axum::response::IntoResponse::into_response(ApiError::from(error));
            }
        };
        if let Some(reason) = refused {
            tracing::info!(%method, path, caller = %user, status = 403, "refused: {reason}");
            let response =
                axum::response::IntoResponse::into_response(ApiError::refused_role(reason));
            let refusal = response.extensions().get::<UnauditedRefusal>().cloned();
            record_refusal(&state, &caller, &method, &path, refusal).await;
            return response;
        }
    }
    let who = caller.name().to_owned();
    request.extensions_mut().insert(caller.clone());
    let response = next.run(request).await;
    tracing::info!(%method, path, caller = who, status = response.status().as_u16(), "request");
    let refusal = response.extensions().get::<UnauditedRefusal>().cloned();
    record_refusal(&state, &caller, &method, &path, refusal).await;
    response
}

/// Records in the audit log an action refused before the engine saw it
/// (the caller's role or status); the engine records every other outcome.
async fn record_refusal(
    state: &AppState,
    caller: &Caller,
    method: &axum::http::Method,
    path: &str,
    refusal: Option<UnauditedRefusal>,
) {
    let Some(UnauditedRefusal(reason)) = refusal else {
        return;
    };
    let Some((action, target)) = audited_action(method, path) else {
        return;
    };
    let record = state
        .engine
        .audit_record(caller.name(), action, target)
        .refused(reason);
    if let Err(error) = state.engine.record_action(record).await {
        tracing::error!(%error, "cannot record a refused action in the audit log");
    }
}

/// The audited action a request asks for, with its target; `None` for
/// reads.
pub fn audited_action(method: &axum::http::Method, path: &str) -> Option<(AuditAction, String)> {
    use AuditAction as A;
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (action, target) = match (method.as_str(), segments.as_slice()) {
        ("POST", ["flows", name]) => (A::FlowDeploy, format!("flow:{name}")),
        ("POST", ["flows", name, "versions", _, "activate"]) => {
            (A::FlowActivate, format!("flow:{name}"))
        }
        ("POST", ["flows", name, "versions", _, "lift-quarantine"]) => {
            (A::FlowLiftQuarantine, format!("flow:{name}"))
        }
        ("POST", ["orchestrations"]) => (A::OrchestrationDeploy, "orchestration:".to_owned()),
        ("POST", ["runs"]) => (A::RunStart, "run:".to_owned()),
        ("POST", ["runs", "resume"]) => (A::JobStart, "job:".to_owned()),
        ("POST", ["runs", "dry-run"]) => (A::DryRun, "flow:".to_owned()),
        ("POST", ["runs", id, "suspend"]) => (A::RunSuspend, format!("run:{id}")),
        ("POST", ["runs", id, "resume"]) => (A::RunResume, format!("run:{id}")),
        ("POST", ["runs", id, "cancel"]) => (A::RunCancel, format!("run:{id}")),
        ("POST", ["runs", id, "events"]) => (A::RunPublish, format!("run:{id}")),
        ("POST", ["runs", id, "dry-run"] | ["runs", id, "steps", _, "dry-run"]) => {
            (A::DryRun, format!("run:{id}"))
        }
        ("POST", ["work-items", run, item, "complete"]) => {
            (A::WorkItemComplete, format!("work_item:{run}/{item}"))
        }
        ("POST", ["jobs", id, "cancel"]) => (A::JobCancel, format!("job:{id}")),
        ("PUT", ["users", id]) => (A::UserPut, format!("user:{id}")),
        ("PUT", ["groups", id]) => (A::GroupPut, format!("group:{id}")),
        ("PUT", ["queues", id]) => (A::QueuePut, format!("queue:{id}")),
        ("POST", ["users", id, "tokens"]) => (A::TokenIssue, format!("user:{id}")),
        ("DELETE", ["users", id, "tokens"]) => (A::TokenRevoke, format!("user:{id}")),
        _ => return None,
    };
    Some((action, target))
}
