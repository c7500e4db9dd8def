//! The flow version a step is pinned to, ready to run: the active one, or an
//! older (or newer) stored version compiled on first use.

use std::sync::Arc;

use crate::registry::Registry;
use crate::runner::{FlowRunner, LoadedFlow};
use stagecraft_store::Store;

/// Where a pinned version is looked up and compiled.
pub(crate) struct Versions<'a, S> {
    pub(crate) registry: &'a Registry,
    pub(crate) store: &'a S,
    pub(crate) runner: &'a Arc<dyn FlowRunner>,
}

impl<S: Store> Versions<'_, S> {
    /// The version `pin` names (with its digest, when it was pinned with
    /// one) of `name`, or the active version when the step is not pinned
    /// (it started before versions were pinned). A component whose digest is
    /// not the pinned one is refused. The error says why the flow cannot
    /// run, in words for the step's error.
    pub(crate) async fn flow(
        &self,
        name: &str,
        pin: Option<(u32, Option<String>)>,
    ) -> Result<(u32, LoadedFlow), String> {
        let (version, flow) = self.loaded(name, pin).await?;
        Ok((version, self.registry.limited(name, version, flow)))
    }

    /// [`Self::flow`], under the host's default limits.
    async fn loaded(
        &self,
        name: &str,
        pin: Option<(u32, Option<String>)>,
    ) -> Result<(u32, LoadedFlow), String> {
        if let Some(problem) = self.registry.unavailable(name, pin.as_ref().map(|p| p.0)) {
            return Err(problem);
        }
        let Some((version, digest)) = pin else {
            return self
                .registry
                .flow(name)
                .map(|active| (active.version, active.flow))
                .ok_or_else(|| format!("no flow named {name:?} is deployed"));
        };
        let checked = |flow: LoadedFlow| match &digest {
            Some(digest) if flow.digest() != digest => {
                Err(mismatch(name, version, digest, flow.digest()))
            }
            _ => Ok(flow),
        };
        if let Some(flow) = self.registry.flow_version(name, version) {
            return checked(flow).map(|flow| (version, flow));
        }
        let kind = self
            .registry
            .kind(name)
            .ok_or_else(|| format!("no flow named {name:?} is deployed"))?;
        let bytes = self
            .store
            .flow_bytes(name, version)
            .await
            .map_err(|e| format!("flow {name:?} v{version} cannot be read: {e}"))?
            .ok_or_else(|| format!("flow {name:?} v{version} is not stored"))?;
        let runner = Arc::clone(self.runner);
        let flow = tokio::task::spawn_blocking(move || runner.load(kind, &bytes))
            .await
            .map_err(|_| "the engine is shutting down".to_owned())?
            .map_err(|e| format!("flow {name:?} v{version} cannot be loaded: {e}"))?;
        let flow = checked(flow)?;
        self.registry.add_pinned(name, version, Arc::clone(&flow));
        Ok((version, flow))
    }
}

/// The SHA-256 of a component, hex, as deploy records it.
pub(crate) fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Why a stored component is refused: it is not the one deployed.
pub(crate) fn mismatch(name: &str, version: u32, expected: &str, found: &str) -> String {
    format!(
        "flow {name:?} v{version} failed its integrity check: the stored component's SHA-256 is \
         {found}, not the deployed {expected}; deploy the flow again"
    )
}
