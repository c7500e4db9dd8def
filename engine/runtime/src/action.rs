//! External actions: host-registered Rust functions that external-action
//! steps call (the counterpart of a MuleSoft step). Their errors are not
//! recoverable (SPEC §3).

use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// The future an external action returns.
pub type ActionFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

/// An action the embedder registers under a name.
///
/// Any `Fn(Value) -> impl Future<Output = Result<Value, String>>` is one:
///
/// ```
/// # use serde_json::{json, Value};
/// # fn register(engine: stagecraft_engine::EngineBuilder) -> stagecraft_engine::EngineBuilder {
/// engine.action("credit_bureau", |inputs: Value| async move {
///     Ok(json!({"score": 700, "applicant": inputs["applicant"]}))
/// })
/// # }
/// ```
pub trait ExternalAction: Send + Sync + 'static {
    /// Performs the action on the step's inputs; `Ok` holds the step's
    /// outputs (a JSON object), `Err` a message for the operator.
    fn call(&self, inputs: Value) -> ActionFuture;
}

impl<F, Fut> ExternalAction for F
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, String>> + Send + 'static,
{
    fn call(&self, inputs: Value) -> ActionFuture {
        Box::pin(self(inputs))
    }
}
