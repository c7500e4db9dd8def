//! Write Stagecraft flows in plain Rust.
//!
//! A flow is one ordinary function over your own serde types. One macro turns
//! it into a WebAssembly component that the Stagecraft host runs in a sandbox;
//! you never touch WIT for the common case. The three flow kinds:
//!
//! | kind | your function | macro |
//! |---|---|---|
//! | autolaunched (background step) | `fn(I) -> Result<O, FlowError>` | [`autolaunched_flow!`] |
//! | evaluation (conditions) | `fn(I) -> Result<bool, FlowError>` | [`evaluation_flow!`] |
//! | screen (work item form) | `fn(I) -> Result<Form, FlowError>` and `fn(I, A) -> Result<O, SubmitError>` | [`screen_flow!`] |
//!
//! `I`, `A` and `O` are any types implementing `serde::Deserialize` /
//! `serde::Serialize`. Inputs that do not deserialize into `I` become a
//! [`FlowError`] with code `invalid-input`, which the host reports as a
//! recoverable step error.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! stagecraft-sdk = { path = "../../plugin-sdk" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```rust,no_run
//! use serde::{Deserialize, Serialize};
//! use stagecraft_sdk::{FlowError, log};
//!
//! #[derive(Deserialize)]
//! struct Application {
//!     income: u64,
//!     debt: u64,
//! }
//!
//! #[derive(Serialize)]
//! struct Score {
//!     debt_to_income_pct: u64,
//! }
//!
//! fn score(app: Application) -> Result<Score, FlowError> {
//!     if app.income == 0 {
//!         return Err(FlowError::new("no-income", "income must be positive"));
//!     }
//!     log::info(&format!("scoring income {}", app.income));
//!     Ok(Score { debt_to_income_pct: app.debt * 100 / app.income })
//! }
//!
//! stagecraft_sdk::autolaunched_flow!(score);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the
//! component is `target/wasm32-wasip2/release/<crate>.wasm`.
//!
//! Because flows are plain functions, unit-test them natively with
//! `cargo test`: [`log`] writes to stderr when not running inside the host.

// Lets the generated bindings name this crate by the path flow crates use.
extern crate self as stagecraft_sdk;

mod error;
pub mod log;
mod screen;

pub use error::FlowError;
pub use screen::{Choice, Field, FieldError, FieldType, Form, SubmitError};

/// Glue used by the macros. Not part of the public API.
#[doc(hidden)]
pub mod __private;
