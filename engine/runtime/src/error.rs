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
    /// The request conflicts with the current state of what it names (a job
    /// that already ended).
    #[error("{0}")]
    Conflict(String),
    /// A request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// An idempotency key already used with another request.
    #[error("{0}")]
    KeyReused(String),
    /// An idempotency key whose first request is still under way.
    #[error("{0}")]
    KeyInUse(String),
    /// Storage failed; the operation did not happen.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The WebAssembly host could not start.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Something the operation needs cannot be used right now (a flow
    /// version that cannot be loaded); not the caller's fault.
    #[error("{0}")]
    Unavailable(String),
    /// The data directory or a file in it cannot be created or opened.
    #[error("data directory: {path}: {source}")]
    DataDir {
        /// The directory or file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A flow failed where the caller needed its answer (a screen flow
    /// rendering a form); not the caller's fault.
    #[error("{0}")]
    FlowFailed(String),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The threads that run flows could not be started.
    #[error("cannot start the flow threads: {0}")]
    Threads(std::io::Error),
}
