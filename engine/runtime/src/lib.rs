//! The durable Stagecraft engine: the pure state machine of
//! `stagecraft-core`, the WebAssembly host of `stagecraft-host` and a
//! [`Store`](stagecraft_store::Store) joined into one engine you embed in
//! your Rust service.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stagecraft_engine::EngineError> {
//! use stagecraft_engine::{ActionCall, Engine, EngineConfig, FlowKind};
//! use serde_json::json;
//!
//! let engine = Engine::builder(EngineConfig::new("./data"))
//!     .action("credit_bureau", |_call: ActionCall| async { Ok(json!({"score": 710})) })
//!     .open()
//!     .await?;
//! let bytes = std::fs::read("risk_score.wasm").expect("component");
//! engine.deploy_flow("risk_score", FlowKind::Autolaunched, bytes, "admin").await?;
//! let definition = serde_json::from_str(&std::fs::read_to_string("loan.json").expect("file"))
//!     .expect("JSON");
//! engine.deploy_orchestration(definition, "admin").await?;
//! let run = engine.start_run("loan_approval", json!({"amount": 5000}), "admin").await?;
//! let run = engine.wait_until_settled(&run.id).await?;
//! println!("{:?}", run.status);
//! # Ok(()) }
//! ```
//!
//! Every state change goes through one executor that applies the state
//! machine, group-commits the new states, and only then acknowledges and
//! performs the resulting actions; after a crash, [`Engine`] re-derives
//! the in-flight work from the committed states (flows run at least once,
//! their completion is recorded exactly once).

mod action;
mod catalog_version;
mod clock;
mod cluster;
mod config;
mod dispatch;
mod engine;
mod error;
mod executor;
mod fairness;
mod quarantine;
mod recovery;
mod registry;
pub mod runner;
mod slices;
mod under_way;
mod versions;
mod watch;

pub use action::{ActionCall, ActionFuture, ExternalAction};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{DEFAULT_QUARANTINE_AFTER, EngineConfig};
pub use engine::dry_run::{Candidate, DryRun, Original, Outcome, Submitted, Tried};
pub use engine::jobs::{Deployed, ResumeJob};
pub use engine::selection::{FailureGroup, NotTried, SelectionDryRun};
pub use engine::{Completion, Engine, EngineBuilder, Pruned, Retention, START_KEY_WINDOW, Started};
pub use error::EngineError;
pub use executor::RunUpdate;
pub use runner::{FlowRunner, LoadedFlow, RunnableFlow};
pub use slices::CpuShares;
pub use stagecraft_core::repair::{RepairFilter, Resumable};
pub use stagecraft_host::{FieldError, FieldType, FlowKind, Form, SandboxLimits};
pub use stagecraft_store::{
    AuditAction, AuditEntry, AuditFilter, AuditOutcome, AuditRecord, Group, JobCounts, JobId,
    JobRecord, JobRefusals, JobRun, JobRunState, JobStatus, Queue, RunFilter, StepLog, StepLogLine,
    Store, StoreError, User, UserStatus,
};
#[cfg(feature = "sqlite")]
pub use stagecraft_store_sqlite::{IntegrityCheck, SqliteConfig, SqliteStore, Synchronous};
