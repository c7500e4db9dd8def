//! Starts with an idempotency key: a client that retries a start (its
//! answer was lost, or the store could not say whether it committed) gets
//! the run its first request started, through any node, instead of a
//! second run.
//!
//! The key is held for a fresh run id in the store before the start, so
//! every node sees it; the run is then started with that id. A retry finds
//! the holding and answers with its run once the run exists. A start that
//! failed before anything was written lets its key go; one whose outcome is
//! unknown keeps it, and a holding whose run never appears is taken over
//! after [`START_GRACE`], when its start can no longer commit.

use super::{Engine, new_run_id};
use crate::error::EngineError;
use serde_json::Value;
use sha2::{Digest, Sha256};
use stagecraft_core::run::Run;
use stagecraft_store::{StartKey, Store};
use std::sync::Arc;
use std::time::Duration;

/// How long a key is remembered: a retry within it gets the first run.
pub const START_KEY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a holding may wait for its run before another request takes
/// the key over: longer than any commit takes (and than a cluster lease).
const START_GRACE: Duration = Duration::from_secs(60);

/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// How a start with an idempotency key went.
#[derive(Debug, Clone)]
pub struct Started {
    /// The run: started by this request, or by the first one with its key.
    pub run: Arc<Run>,
    /// Whether this request started it.
    pub first: bool,
}

impl<S: Store> Engine<S> {
    /// Starts a run as [`Engine::start_run`] does, unless `by` already
    /// started one with `key` in the last [`START_KEY_WINDOW`]: then returns
    /// that run. The same key with another orchestration or other inputs is
    /// refused ([`EngineError::KeyReused`]); while its first request is
    /// still under way, [`EngineError::KeyInUse`].
    pub async fn start_run_once(
        &self,
        orchestration: &str,
        inputs: Value,
        by: &str,
        key: &str,
    ) -> Result<Started, EngineError> {
        check(key)?;
        let request = digest(orchestration, &inputs);
        let plan = self.plan_to_start(orchestration, by).await?;
        let mut replacing = None;
        // A holding is replaced at most once per attempt; another request
        // racing for the same key ends the loop by holding it first.
        for _ in 0..3 {
            let now = self.inner.clock.now();
            let mine = StartKey {
                caller: by.to_owned(),
                key: key.to_owned(),
                request: request.clone(),
                run: new_run_id(),
                at: now,
            };
            let Some(held) = self
                .inner
                .store
                .hold_start_key(mine.clone(), replacing.take())
                .await?
            else {
                return self.start_holding(plan, mine, inputs).await;
            };
            // A holding from a node whose clock runs ahead is simply young.
            let age = now.duration_since(held.at);
            let age = if age.is_negative() {
                Duration::ZERO
            } else {
                age.unsigned_abs()
            };
            if age >= START_KEY_WINDOW {
                replacing = Some(held.run);
                continue;
            }
            if held.request != request {
                return Err(EngineError::KeyReused(format!(
                    "idempotency key {key:?} was used with another request (a different \
                     orchestration or other inputs); use a new key for a new run"
                )));
            }
            if let Some(run) = self.inner.store.run(&held.run).await? {
                return Ok(Started {
                    run: Arc::new(run),
                    first: false,
                });
            }
            if age < START_GRACE {
                return Err(EngineError::KeyInUse(format!(
                    "a start with idempotency key {key:?} is under way; retry in a moment"
                )));
            }
            replacing = Some(held.run);
        }
        Err(EngineError::KeyInUse(format!(
            "idempotency key {key:?} is contended; retry in a moment"
        )))
    }

    /// Starts the run `key` is held for; lets the key go if the start
    /// failed and its run was not written.
    async fn start_holding(
        &self,
        plan: Arc<stagecraft_core::Plan>,
        key: StartKey,
        inputs: Value,
    ) -> Result<Started, EngineError> {
        match self
            .start_as(plan, key.run.clone(), inputs, &key.caller)
            .await
        {
            Ok(run) => Ok(Started { run, first: true }),
            Err(error) => {
                // Only a start known not to be durable lets its key go: one
                // whose commit may have landed keeps it for the retry.
                if let Ok(None) = self.inner.store.run(&key.run).await
                    && let Err(release) = self
                        .inner
                        .store
                        .release_start_key(&key.caller, &key.key, &key.run)
                        .await
                {
                    tracing::warn!(key = key.key, error = %release.report(), "a failed start's idempotency key is kept until its grace runs out");
                }
                Err(error)
            }
        }
    }
}

/// Refuses a key a client could not have meant.
fn check(key: &str) -> Result<(), EngineError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(EngineError::BadRequest(format!(
            "an idempotency key is 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

/// What a key's request is recognised by: its orchestration and inputs.
fn digest(orchestration: &str, inputs: &Value) -> String {
    let mut hash = Sha256::new();
    hash.update(orchestration.as_bytes());
    hash.update([0]);
    hash.update(inputs.to_string().as_bytes());
    hex::encode(hash.finalize())
}
