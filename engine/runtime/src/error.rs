use stagecraft_core::{EventError, ValidationErrors};
use stagecraft_host::{HostError, LoadError};
use stagecraft_store::StoreError;
use thiserror::Error;

/// Why an engine operation failed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// A flow component was rejected at deploy time.
    #[error("flow {name:?} rejected: {source}")]
    FlowRejected {
        /// The flow's name.
        name: String,
        /// Why the host refused it.
        source: LoadError,
    },
    /// An orchestration definition is not valid JSON of the definition format.
    #[error("orchestration definition does not parse: {0}")]
    DefinitionSyntax(String),
    /// An orchestration definition failed validation.
    #[error("orchestration definition is invalid:\n{0}")]
    DefinitionInvalid(ValidationErrors),
    /// Something named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The run's state does not allow this (resume of a completed run,
    /// completion of a closed work item...). The run is unchanged.
    #[error("{0}")]
    Refused(#[from] EventError),
    /// The acting user may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Storage failed; the operation did not happen.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The WebAssembly host could not start.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
}
