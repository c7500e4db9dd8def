//! Bearer tokens. The admin token is configured when the server starts (or
//! generated and printed once); user tokens are issued by the admin and kept
//! in `tokens.json` in the data directory as SHA-256 hashes only. Raw tokens
//! are never stored or logged; hashes are compared in constant time.

use super::AppState;
use super::error::{ApiError, UnauditedRefusal};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stagecraft_engine::{AuditAction, UserStatus};
use stagecraft_store::Store as _;
use std::io::Write as _;
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

/// Why the token file could not be used.
#[derive(Debug, Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The file is not what this program writes.
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
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<StoredToken>,
}

impl TokenFile {
    /// The file's contents for these (user, token hash) pairs.
    fn of(users: &[(String, [u8; 32])]) -> Self {
        TokenFile {
            tokens: users
                .iter()
                .map(|(user, hash)| StoredToken {
                    user: user.clone(),
                    sha256: hex::encode(hash),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredToken {
    user: String,
    /// SHA-256 of the token, hex.
    sha256: String,
}

/// The tokens the server accepts.
#[derive(Debug)]
pub struct Tokens {
    admin: [u8; 32],
    path: PathBuf,
    users: RwLock<Vec<(String, [u8; 32])>>,
}

impl Tokens {
    /// Loads the user tokens from `data_dir/tokens.json` and takes the admin
    /// token's hash.
    pub fn open(data_dir: &Path, admin_token: &str) -> Result<Self, TokenError> {
        let path = data_dir.join("tokens.json");
        let file: TokenFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| TokenError::Corrupt {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
            Err(source) => return Err(TokenError::Io { path, source }),
        };
        let users = file
            .tokens
            .into_iter()
            .filter_map(|stored| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&stored.sha256, &mut hash).ok()?;
                Some((stored.user, hash))
            })
            .collect();
        Ok(Self {
            admin: digest(admin_token),
            path,
            users: RwLock::new(users),
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
        let users = self.users.read().await;
        let mut found = None;
        for (user, stored) in users.iter() {
            if bool::from(hash.ct_eq(stored)) && found.is_none() {
                found = Some(Caller::User(user.clone()));
            }
        }
        found
    }

    /// Issues a new token for `user` and stores its hash durably. The
    /// caller hands the returned token out once.
    pub async fn issue(&self, user: &str) -> Result<String, TokenError> {
        let token = generate("sc_user_")?;
        let mut users = self.users.write().await;
        users.push((user.to_owned(), digest(&token)));
        let file = TokenFile::of(&users);
        if let Err(error) = self.write(&file) {
            users.pop();
            return Err(error);
        }
        Ok(token)
    }

    /// Forgets every token of `user`; returns how many there were.
    pub async fn revoke(&self, user: &str) -> Result<usize, TokenError> {
        let mut users = self.users.write().await;
        let before = users.clone();
        users.retain(|(holder, _)| holder != user);
        let revoked = before.len() - users.len();
        let file = TokenFile::of(&users);
        if let Err(error) = self.write(&file) {
            *users = before;
            return Err(error);
        }
        Ok(revoked)
    }

    /// Writes the file atomically: a temporary file, synced, renamed over.
    fn write(&self, file: &TokenFile) -> Result<(), TokenError> {
        let io = |source| TokenError::Io {
            path: self.path.clone(),
            source,
        };
        let temporary = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(file).map_err(|source| TokenError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&temporary).map_err(io)?;
        out.write_all(&bytes).map_err(io)?;
        out.sync_all().map_err(io)?;
        std::fs::rename(&temporary, &self.path).map_err(io)?;
        Ok(())
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
    // A frozen or inactive user keeps their tokens but may not use them.
    if let Caller::User(user) = &caller {
        let refused = match state.engine.store().user(user).await {
            Ok(Some(record)) => match record.status {
                UserStatus::Active => None,
                UserStatus::Frozen => {
                    Some(format!("user {user} is frozen; their tokens are refused"))
                }
                UserStatus::Inactive => {
                    Some(format!("user {user} is inactive; their tokens are refused"))
                }
            },
            Ok(None) => Some(format!(
                "user {user} no longer exists; their tokens are refused"
            )),
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
