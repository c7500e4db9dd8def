//! The flow version a step is pinned to, ready to run: the active one, or an
//! older (or newer) stored version compiled on first use.

use crate::registry::Registry;
use stagecraft_host::{Flow, FlowHost};
use stagecraft_store::Store;

/// Where a pinned version is looked up and compiled.
pub(crate) struct Versions<'a, S> {
    pub(crate) registry: &'a Registry,
    pub(crate) store: &'a S,
    pub(crate) host: &'a FlowHost,
}

impl<S: Store> Versions<'_, S> {
    /// `version` of `name`, or the active version when the step is not
    /// pinned (it started before versions were pinned). The error says why
    /// the flow cannot run, in words for the step's error.
    pub(crate) async fn flow(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<(u32, Flow), String> {
        let Some(version) = version else {
            return self
                .registry
                .flow(name)
                .map(|active| (active.version, active.flow))
                .ok_or_else(|| format!("no flow named {name:?} is deployed"));
        };
        if let Some(flow) = self.registry.flow_version(name, version) {
            return Ok((version, flow));
        }
        let kind = self
            .registry
            .flow(name)
            .map(|active| active.flow.kind())
            .ok_or_else(|| format!("no flow named {name:?} is deployed"))?;
        let bytes = self
            .store
            .flow_bytes(name, version)
            .await
            .map_err(|e| format!("flow {name:?} v{version} cannot be read: {e}"))?
            .ok_or_else(|| format!("flow {name:?} v{version} is not stored"))?;
        let host = self.host.clone();
        let flow = tokio::task::spawn_blocking(move || host.load(kind, &bytes))
            .await
            .map_err(|_| "the engine is shutting down".to_owned())?
            .map_err(|e| format!("flow {name:?} v{version} cannot be loaded: {e}"))?;
        self.registry.add_pinned(name, version, flow.clone());
        Ok((version, flow))
    }
}
