//! Retention: what the engine stores is kept for a while, then removed, so
//! that a node's database stays the same size however many runs it has
//! served. Finished runs (with their work items and step logs) and ended
//! resume jobs go after [`Retention::runs`]; idempotency keys after their
//! window; audit records after [`Retention::audit`], once written to the
//! export directory as JSON lines (at least once: a record exported and not
//! yet removed when a node stops is exported again, with its id); a flow
//! version once a newer one has superseded it for [`Retention::flow_versions`],
//! unless it is active or a step of a live run is pinned to it. The
//! compiled code of removed versions leaves wasmtime's compile cache by its
//! own least-recently-used bound (see `HostConfig::cache_max_bytes`).
//!
//! A round removes rows in small batches, each its own short transaction,
//! so that commits queue behind one batch at most. On a store shared by
//! several nodes one node at a time prunes. Each round that removed
//! anything is audited (`retention.prune`, with its counts).

use super::Engine;
use super::start_key::START_KEY_WINDOW;
use crate::error::EngineError;
use serde::Serialize;
use stagecraft_core::run::SYSTEM_PRINCIPAL;
use stagecraft_store::{AuditAction, AuditEntry, LivePins, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Rows removed per batch.
const BATCH: u32 = 500;
/// Batches of each kind per round at most: a backlog is worked off over
/// several rounds rather than in one long burst.
const MAX_BATCHES: u32 = 200;
/// The longest wait between two rounds.
const MAX_EVERY: Duration = Duration::from_secs(60);
/// The shortest wait between two rounds.
const MIN_EVERY: Duration = Duration::from_secs(1);
/// Superseded flow versions found pinned by live runs, and when.
pub(super) type KeptVersions = (Vec<(String, u32)>, jiff::Timestamp);

/// How long superseded flow versions found pinned stay so before the live
/// runs are read again for them (unless other versions become candidates).
const RECHECK_PINS: Duration = Duration::from_secs(60 * 60);

/// How long what the engine stores is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Finished runs (Completed, Canceled) with their work items and step
    /// logs, and ended resume jobs: removed this long after they last
    /// changed. `None` keeps them for ever.
    pub runs: Option<Duration>,
    /// Audit records: exported, then removed this long after they were
    /// recorded. `None` keeps them for ever.
    pub audit: Option<Duration>,
    /// Flow versions: removed this long after a newer version of the same
    /// flow was deployed, unless active or pinned by a step of a live run.
    /// `None` keeps them for ever.
    pub flow_versions: Option<Duration>,
    /// Where audit records are written before they are removed, one JSON
    /// object per line, in one file per UTC day (`audit-2026-12-07.jsonl`);
    /// relative to the data directory unless absolute.
    pub audit_export: PathBuf,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            runs: Some(Duration::from_secs(30 * 24 * 60 * 60)),
            audit: Some(Duration::from_secs(400 * 24 * 60 * 60)),
            flow_versions: Some(Duration::from_secs(30 * 24 * 60 * 60)),
            audit_export: PathBuf::from("audit-export"),
        }
    }
}

impl Retention {
    /// How often a round runs: a quarter of the shortest retention, between
    /// one second and a minute.
    fn every(&self) -> Duration {
        [self.runs, self.audit, self.flow_versions]
            .into_iter()
            .flatten()
            .min()
            .map_or(MAX_EVERY, |shortest| {
                (shortest / 4).clamp(MIN_EVERY, MAX_EVERY)
            })
    }
}

/// What one round removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Finished runs.
    pub runs: u64,
    /// Ended resume jobs.
    pub jobs: u64,
    /// Idempotency keys past their window.
    pub start_keys: u64,
    /// Audit records, exported first.
    pub audit: u64,
    /// Superseded flow versions nothing uses.
    pub flow_versions: u64,
}

impl Pruned {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl<S: Store> Engine<S> {
    /// Removes what retention keeps no longer, now (the engine does it by
    /// itself every so often); what it removed.
    pub async fn prune(&self) -> Result<Pruned, EngineError> {
        let retention = &self.inner.retention;
        let now = self.inner.clock.now();
        let ago = |age: Duration| {
            jiff::SignedDuration::try_from(age)
                .ok()
                .and_then(|age| now.checked_sub(age).ok())
                .unwrap_or(jiff::Timestamp::MIN)
        };
        let store = &*self.inner.store;
        let mut pruned = Pruned::default();
        if let Some(age) = retention.runs {
            let before = ago(age);
            pruned.runs = batches(|| store.prune_runs(before, BATCH)).await?;
            pruned.jobs = batches(|| store.prune_jobs(before, BATCH)).await?;
        }
        let before = ago(START_KEY_WINDOW);
        pruned.start_keys = batches(|| store.prune_start_keys(before, BATCH)).await?;
        if let Some(age) = retention.audit {
            pruned.audit = self.export_and_prune_audit(ago(age)).await?;
        }
        if let Some(age) = retention.flow_versions {
            pruned.flow_versions = self.prune_flow_versions(ago(age)).await?;
        }
        if !pruned.is_empty() {
            let record = self
                .audit_record(
                    SYSTEM_PRINCIPAL,
                    AuditAction::RetentionPrune,
                    "store:retention".to_owned(),
                )
                .with_detail(serde_json::to_value(pruned).unwrap_or_default());
            self.record_action(record).await?;
            tracing::info!(
                runs = pruned.runs,
                jobs = pruned.jobs,
                start_keys = pruned.start_keys,
                audit = pruned.audit,
                flow_versions = pruned.flow_versions,
                "retention removed what it keeps no longer"
            );
        }
        Ok(pruned)
    }

    /// Removes the flow versions superseded before `before` that are not
    /// active and that no step of a live run is pinned to. The live runs
    /// are read only when some version is a candidate, and again for the
    /// same candidates only after [`RECHECK_PINS`]; nothing is removed while
    /// one of them cannot be read (its pins are unknown).
    async fn prune_flow_versions(&self, before: jiff::Timestamp) -> Result<u64, EngineError> {
        let store = &*self.inner.store;
        let flows = store.flows().await?;
        let superseded = |old: &stagecraft_store::FlowRecord| {
            !old.active
                && flows.iter().any(|newer| {
                    newer.name == old.name
                        && newer.version > old.version
                        && newer.deployed_at < before
                })
        };
        let candidates: Vec<(String, u32)> = flows
            .iter()
            .filter(|flow| superseded(flow))
            .map(|flow| (flow.name.clone(), flow.version))
            .collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let now = self.inner.clock.now();
        let recheck_after = jiff::SignedDuration::try_from(RECHECK_PINS).unwrap_or_default();
        {
            let kept = self
                .inner
                .flow_versions_kept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((kept, at)) = &*kept
                && *kept == candidates
                && now.duration_since(*at) < recheck_after
            {
                return Ok(0);
            }
        }
        let live = store.unfinished_runs().await?;
        if let Some((run, error)) = live.unreadable.first() {
            tracing::warn!(
                run = %run.0,
                error = %error.report(),
                "flow versions are kept while a live run cannot be read: its pins are unknown"
            );
            return Ok(0);
        }
        let pins = Arc::new(LivePins::of(&live.runs));
        let removed = store.prune_flow_versions(before, pins, BATCH).await?;
        for (name, version) in &removed {
            tracing::info!(flow = %name, version, "removed a superseded flow version nothing uses");
        }
        let still = candidates
            .into_iter()
            .filter(|candidate| !removed.contains(candidate))
            .collect();
        *self
            .inner
            .flow_versions_kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((still, now));
        Ok(u64::try_from(removed.len()).unwrap_or(u64::MAX))
    }

    /// Writes the audit records older than `before` to the export
    /// directory, synced, then removes them, batch by batch.
    async fn export_and_prune_audit(&self, before: jiff::Timestamp) -> Result<u64, EngineError> {
        let store = &*self.inner.store;
        let dir = self.inner.audit_export.clone();
        let mut removed = 0;
        for _ in 0..MAX_BATCHES {
            let oldest = store.oldest_audit(before, BATCH).await?;
            let Some(last) = oldest.last().map(|entry| entry.id) else {
                break;
            };
            let full = oldest.len() == BATCH as usize;
            let into = dir.clone();
            tokio::task::spawn_blocking(move || export(&into, &oldest))
                .await
                .map_err(|e| EngineError::Unavailable(format!("the audit export stopped: {e}")))?
                .map_err(|source| EngineError::DataDir {
                    path: dir.clone(),
                    source,
                })?;
            removed += store.prune_audit(last, before).await?;
            if !full {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(removed)
    }

    /// Runs a round every so often until the engine stops; on a store
    /// shared by several nodes, only while this node holds the pruning
    /// role.
    pub(crate) fn prune_every_so_often(&self) {
        let every = self.inner.retention.every();
        let engine = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is at once: the engine has just started.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(inner) = engine.upgrade() else {
                    return;
                };
                let engine = Engine { inner };
                match engine.inner.store.claim_retention(every * 3).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(error) => {
                        tracing::warn!(error = %error.report(), "cannot take the pruning role");
                        continue;
                    }
                }
                if let Err(error) = engine.prune().await {
                    tracing::warn!(%error, "retention could not remove what it keeps no longer; trying again later");
                }
            }
        });
    }
}

/// Runs `batch` until it removes less than a full batch, or
/// [`MAX_BATCHES`] times; how many it removed.
async fn batches<F, Fut>(mut batch: F) -> Result<u64, EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = stagecraft_store::StoreResult<u64>>,
{
    let mut removed = 0;
    for _ in 0..MAX_BATCHES {
        let n = batch().await?;
        removed += n;
        if n < u64::from(BATCH) {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(removed)
}

/// Appends `entries` to the export files of their days, synced.
fn export(dir: &Path, entries: &[AuditEntry]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut by_day: std::collections::BTreeMap<String, Vec<&AuditEntry>> = Default::default();
    for entry in entries {
        let day = entry.record.at.strftime("%Y-%m-%d").to_string();
        by_day.entry(day).or_default().push(entry);
    }
    for (day, entries) in by_day {
        let path = dir.join(format!("audit-{day}.jsonl"));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut lines = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut lines, entry)?;
            lines.push(b'\n');
        }
        file.write_all(&lines)?;
        file.sync_all()?;
    }
    Ok(())
}
