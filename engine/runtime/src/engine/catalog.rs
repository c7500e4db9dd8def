//! The catalog: loading every stored flow and orchestration version at
//! start, and following what other nodes of a cluster deploy.

use super::Engine;
use crate::error::EngineError;
use crate::executor::Command;
use crate::registry::{ActiveFlow, Registry};
use crate::runner::FlowRunner;
use stagecraft_core::{Limits, Orchestration};
use stagecraft_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

impl<S: Store> Engine<S> {
    /// On a store shared by several nodes, takes in the flows and
    /// orchestrations deployed or activated through other nodes since the
    /// last look: a new active flow version is compiled (or read from the
    /// compile cache) here on first need. A no-op on a store of one node.
    pub async fn sync_catalog(&self) -> Result<(), EngineError> {
        if self.inner.store.lease_ttl().is_none() {
            return Ok(());
        }
        let Some(changes) = self.inner.catalog_reads.fresh(&*self.inner.store).await? else {
            return Ok(());
        };
        // Changes only rise: one reload up to them is enough, whoever does
        // it. Read before the reload: a change committed during it is
        // taken in next time.
        let current = |seen: &Option<i64>| seen.is_some_and(|seen| seen >= changes);
        let mut seen = self.inner.catalog_seen.lock().await;
        if current(&seen) {
            return Ok(());
        }
        load_flows(&*self.inner.store, &self.inner.runner, &self.inner.registry).await?;
        load_orchestrations(&*self.inner.store, &self.inner.registry, &self.inner.limits).await?;
        *seen = Some(changes);
        // Runs parked for an orchestration version unknown until now.
        let _ = self.inner.commands.send(Command::CatalogChanged).await;
        Ok(())
    }

    /// Looks for catalog changes made through other nodes ten times per
    /// lease TTL, and for resume jobs whose node stopped twice per TTL,
    /// until the engine stops.
    pub(super) fn follow_catalog(&self, ttl: std::time::Duration) {
        self.honour_cancels_as_asked(ttl);
        let engine = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(ttl / 10);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for round in 0u64.. {
                ticks.tick().await;
                let Some(inner) = engine.upgrade() else {
                    return;
                };
                let engine = Engine { inner };
                if let Err(error) = engine.sync_catalog().await {
                    tracing::warn!(%error, "cannot take in the catalog's changes");
                }

                if round % 5 == 4
                    && let Err(error) = engine.resume_jobs().await
                {
                    tracing::warn!(%error, "cannot look for resume jobs of stopped nodes");
                }
            }
        });
    }
}

/// Compiles the active version of every flow (from the compile cache when
/// it is there).
pub(super) async fn load_flows(
    store: &impl Store,
    runner: &Arc<dyn FlowRunner>,
    registry: &Registry,
) -> Result<(), EngineError> {
    let records = store.flows().await?;
    for record in &records {
        let why = record.quarantine.as_ref().map(|q| q.reason.clone());
        registry.set_quarantine(&record.name, record.version, why);
        let memory_bytes = record
            .memory_mib
            .map(|mib| usize::try_from(mib).unwrap_or(usize::MAX) << 20);
        registry.set_memory_limit(&record.name, record.version, memory_bytes);
    }
    for record in records.into_iter().filter(|r| r.active) {
        if registry
            .flow(&record.name)
            .is_some_and(|active| active.version == record.version)
        {
            continue;
        }
        let bytes = store
            .flow_bytes(&record.name, record.version)
            .await?
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "bytes of flow {:?} v{}",
                    record.name, record.version
                ))
            })?;
        let kind = record.kind;
        // A component is checked against its deploy record before it is
        // compiled: one that fails (altered, or no longer loadable) is set
        // aside with the reason, and the engine serves the rest.
        let found = crate::versions::digest(&bytes);
        if found != record.digest {
            let why =
                crate::versions::mismatch(&record.name, record.version, &record.digest, &found);
            tracing::error!(flow = %record.name, version = record.version, "{why}");
            registry.set_unavailable(&record.name, record.version, kind, why);
            continue;
        }
        let runner = Arc::clone(runner);
        let loaded = tokio::task::spawn_blocking(move || runner.load(kind, &bytes))
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        match loaded {
            Ok(flow) => registry.activate_flow(
                &record.name,
                ActiveFlow {
                    version: record.version,
                    flow,
                },
            ),
            Err(source) => {
                let why = format!(
                    "flow {:?} v{} cannot be loaded: {source}",
                    record.name, record.version
                );
                tracing::error!(flow = %record.name, version = record.version, "{why}");
                registry.set_unavailable(&record.name, record.version, kind, why);
            }
        }
    }
    Ok(())
}

/// The catalog a stored orchestration version is loaded against: it was
/// validated when it was deployed, and must never become unloadable because
/// of the host's configuration since. An external action that is no longer
/// registered fails its step when it runs (a non-recoverable external action
/// error, SPEC §3), so its runs can still be listed, shown and canceled.
/// Flows are known by the kinds they were stored with, so a version that
/// cannot be loaded now does not unload the orchestrations that use it.
struct AsDeployed(HashMap<String, stagecraft_core::FlowKind>);

impl stagecraft_core::Catalog for AsDeployed {
    fn flow_kind(&self, name: &str) -> Option<stagecraft_core::FlowKind> {
        self.0.get(name).copied()
    }

    fn has_action(&self, _: &str) -> bool {
        true
    }
}

/// Rebuilds the plan of every stored orchestration version.
pub(super) async fn load_orchestrations(
    store: &impl Store,
    registry: &Registry,
    limits: &Limits,
) -> Result<(), EngineError> {
    let catalog = AsDeployed(
        store
            .flows()
            .await?
            .into_iter()
            .map(|flow| (flow.name, flow.kind))
            .collect(),
    );
    for record in store.orchestrations().await? {
        let parsed: Orchestration = serde_json::from_value(record.definition).map_err(|e| {
            EngineError::DefinitionSyntax(format!(
                "stored {} v{}: {e}",
                record.name, record.version
            ))
        })?;
        match stagecraft_core::validate(&parsed, &catalog) {
            Ok(plan) => registry.add_plan(
                plan.with_version(record.version)
                    .with_limits(limits.clone()),
                record.active,
            ),
            Err(errors) => {
                tracing::error!(orchestration = %record.name, version = record.version, %errors, "stored orchestration no longer validates")
            }
        }
    }
    Ok(())
}
