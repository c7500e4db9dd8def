//! Flows: deploying, activating, quarantines and compiling versions.

use super::audit::target;
use super::{Engine, check_name};
use crate::error::EngineError;
use crate::registry::ActiveFlow;
use crate::runner::LoadedFlow;
use stagecraft_host::FlowKind;
use stagecraft_store::{AuditAction, FlowRecord, NewFlow, Store};
use std::sync::Arc;

impl<S: Store> Engine<S> {
    /// Deploys a new version of a flow: validates the component as `kind`,
    /// compiles it, stores it and makes it active. Steps that start from now
    /// on use it; steps already running finish on the version they started
    /// with (a hot swap).
    pub async fn deploy_flow(
        &self,
        name: &str,
        kind: FlowKind,
        bytes: Vec<u8>,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        self.deploy_flow_with(name, kind, bytes, None, by).await
    }

    /// [`Self::deploy_flow`], the version's invocations limited to
    /// `memory_mib` of memory instead of the default (up to the most the
    /// host allows).
    pub async fn deploy_flow_with(
        &self,
        name: &str,
        kind: FlowKind,
        bytes: Vec<u8>,
        memory_mib: Option<u32>,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        let audit = self.audit_record(by, AuditAction::FlowDeploy, target::flow(name));
        self.audited(audit.clone(), async {
            check_name("flow", name)?;
            let memory_bytes =
                memory_mib.map(|mib| usize::try_from(mib).unwrap_or(usize::MAX) << 20);
            if let (Some(mib), Some(bytes)) = (memory_mib, memory_bytes) {
                let most = self.inner.runner.max_memory_bytes().unwrap_or(usize::MAX);
                if mib == 0 || bytes > most {
                    return Err(EngineError::BadRequest(format!(
                        "a flow's memory limit is from 1 MiB to {} MiB (the server's \
                         --flow-memory-max-mib), not {mib} MiB",
                        most >> 20
                    )));
                }
            }
            if let Some(existing) = self.inner.registry.kind(name)
                && existing != kind
            {
                return Err(EngineError::BadRequest(format!(
                    "flow {name:?} is {} {existing} flow; a new version cannot be {} {kind} flow",
                    article(existing),
                    article(kind)
                )));
            }
            let (flow, bytes) = self.compile(name, kind, bytes).await?;
            let audit = audit.with_detail(serde_json::json!({
                "kind": kind.as_str(),
                "digest": flow.digest(),
                "size": bytes.len(),
                "memory_mib": memory_mib,
            }));
            let record = self
                .inner
                .store
                .insert_flow(
                    NewFlow {
                        name: name.to_owned(),
                        kind,
                        digest: flow.digest().to_owned(),
                        bytes,
                        deployed_by: by.to_owned(),
                        deployed_at: self.inner.clock.now(),
                        memory_mib,
                    },
                    audit,
                )
                .await?;
            self.inner
                .registry
                .set_memory_limit(name, record.version, memory_bytes);
            self.inner.registry.activate_flow(
                name,
                ActiveFlow {
                    version: record.version,
                    flow,
                },
            );
            tracing::info!(flow = name, version = record.version, by, "flow deployed");
            Ok(record)
        })
        .await
    }

    /// Makes an older (or newer) stored version of a flow active again.
    pub async fn activate_flow(
        &self,
        name: &str,
        version: u32,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        let audit = self
            .audit_record(by, AuditAction::FlowActivate, target::flow(name))
            .with_detail(serde_json::json!({ "version": version }));
        self.audited(audit.clone(), async {
            let bytes = self
                .inner
                .store
                .flow_bytes(name, version)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))?;
            let kind = self
                .inner
                .registry
                .kind(name)
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?}")))?;
            let expected = self.stored_digest(name, version).await?;
            let found = crate::versions::digest(&bytes);
            if found != expected {
                return Err(EngineError::Unavailable(crate::versions::mismatch(
                    name, version, &expected, &found,
                )));
            }
            let (flow, _) = self.compile(name, kind, bytes).await?;
            let record = self.inner.store.activate_flow(name, version, audit).await?;
            self.inner
                .registry
                .activate_flow(name, ActiveFlow { version, flow });
            tracing::info!(flow = name, version, by, "flow version activated");
            Ok(record)
        })
        .await
    }

    /// Lifts the quarantine of `version` of `name`: its steps run again
    /// (resume the runs they put in Error). Conflict if it is not
    /// quarantined.
    pub async fn lift_quarantine(
        &self,
        name: &str,
        version: u32,
        by: &str,
    ) -> Result<FlowRecord, EngineError> {
        let audit = self
            .audit_record(by, AuditAction::FlowLiftQuarantine, target::flow(name))
            .with_detail(serde_json::json!({ "version": version }));
        self.audited(audit.clone(), async {
            self.sync_catalog().await?;
            let flows = self.inner.store.flows().await?;
            let record = flows
                .iter()
                .find(|r| r.name == name && r.version == version)
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))?;
            if record.quarantine.is_none() {
                return Err(EngineError::Conflict(format!(
                    "flow {name:?} v{version} is not quarantined"
                )));
            }
            let record = self
                .inner
                .store
                .lift_quarantine(name, version, audit)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))?;
            self.inner.registry.set_quarantine(name, version, None);
            self.inner.breaker.forget(name, version);
            tracing::info!(flow = name, version, by, "flow version's quarantine lifted");
            Ok(record)
        })
        .await
    }

    /// The SHA-256 recorded when `version` of `name` was deployed.
    pub(super) async fn stored_digest(
        &self,
        name: &str,
        version: u32,
    ) -> Result<String, EngineError> {
        self.inner
            .store
            .flows()
            .await?
            .into_iter()
            .find(|record| record.name == name && record.version == version)
            .map(|record| record.digest)
            .ok_or_else(|| EngineError::NotFound(format!("flow {name:?} v{version}")))
    }

    /// Every version of every flow.
    pub async fn flows(&self) -> Result<Vec<FlowRecord>, EngineError> {
        Ok(self.inner.store.flows().await?)
    }

    pub(super) async fn compile(
        &self,
        name: &str,
        kind: FlowKind,
        bytes: Vec<u8>,
    ) -> Result<(LoadedFlow, Vec<u8>), EngineError> {
        let runner = Arc::clone(&self.inner.runner);
        let result = tokio::task::spawn_blocking(move || {
            let flow = runner.load(kind, &bytes);
            (flow, bytes)
        })
        .await
        .map_err(|_| EngineError::ShuttingDown)?;
        match result {
            (Ok(flow), bytes) => Ok((flow, bytes)),
            (Err(source), _) => Err(EngineError::FlowRejected {
                name: name.to_owned(),
                source,
            }),
        }
    }
}

/// "an" autolaunched flow, "a" screen flow.
fn article(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Autolaunched | FlowKind::Evaluation => "an",
        FlowKind::Screen => "a",
    }
}
