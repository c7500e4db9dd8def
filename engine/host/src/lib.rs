//! Runs Stagecraft flows as sandboxed WebAssembly components.
//!
//! This crate is the only one in Stagecraft that knows about wasmtime. It
//! turns component bytes into a [`Flow`] — validated against the world of its
//! [`FlowKind`], compiled once, pre-instantiated — and runs each invocation in
//! a fresh instance with no filesystem, environment, network or sockets,
//! bounded in CPU, memory and wall-clock time (see [`SandboxLimits`]).
//!
//! Every failure comes back as a typed [`FlowFailure`]; nothing a flow does
//! can panic the host or disturb another invocation.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use stagecraft_host::{FlowHost, FlowKind, HostConfig};
//!
//! let host = FlowHost::new(HostConfig::default())?;
//! let bytes = std::fs::read("risk_score.wasm")?;
//! let flow = host.load(FlowKind::Autolaunched, &bytes)?;
//! let invocation = flow.run(&serde_json::json!({"income": 52000, "debt": 1000, "amount": 5000})).await;
//! println!("{:?}, log: {:?}", invocation.outcome, invocation.log);
//! # Ok(()) }
//! ```

mod bindings;
mod config;
mod failure;
mod flow;
mod host;
mod invocation;
mod load;
mod sandbox;
mod screen;
mod slice;

pub use config::{DEFAULT_MAX_MEMORY, DEFAULT_SLICE, HostConfig, SandboxLimits};
pub use failure::FlowFailure;
pub use flow::{Flow, FlowKind, FlowWorld};
pub use host::{FlowHost, HostError};
pub use invocation::{Invocation, LogLevel, LogLine, LogStream};
pub use load::LoadError;
pub use screen::{Choice, Field, FieldError, FieldType, Form, Submission};
pub use slice::{end_of_slice, poll_slice};
