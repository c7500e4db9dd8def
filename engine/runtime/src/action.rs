//! External actions: host-registered Rust functions that external-action
//! steps call (the counterpart of a MuleSoft step). Their errors are not
//! recoverable (SPEC §3).
//!
//! An action is called at least once per attempt of its step: a node that
//! stops, or a commit that fails, while the call is under way leaves the
//! step outstanding, and the node that carries the run on calls it again.
//! Every call of one attempt carries the same [`ActionCall::idempotency_key`],
//! so that an action whose effect must not be doubled can recognise a
//! repeat (pass it on to the remote system, or remember it).

use serde_json::Value;
use stagecraft_core::run::{RunId, StepKey};
use std::future::Future;
use std::pin::Pin;

/// The future an external action returns.
pub type ActionFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

/// One call of an external action: the step's inputs, and which attempt of
/// which step of which run asks.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCall {
    /// The step's inputs (a JSON object).
    pub inputs: Value,
    /// The run.
    pub run: RunId,
    /// The step, in the stage run it belongs to.
    pub step: StepKey,
    /// The step's attempt (a resume after an error is a new attempt).
    pub attempt: u32,
    /// `run/stage/stage run/step/attempt`: the same for every call of one
    /// attempt, on whichever node, and different for every other.
    pub idempotency_key: String,
}

impl ActionCall {
    pub(crate) fn new(inputs: Value, run: RunId, step: StepKey, attempt: u32) -> Self {
        let idempotency_key = format!(
            "{run}/{}/{}/{}/{attempt}",
            step.stage, step.stage_run, step.step
        );
        Self {
            inputs,
            run,
            step,
            attempt,
            idempotency_key,
        }
    }
}

/// An action the embedder registers under a name.
///
/// Any `Fn(ActionCall) -> impl Future<Output = Result<Value, String>>` is
/// one:
///
/// ```
/// # use serde_json::json;
/// # use stagecraft_engine::ActionCall;
/// # fn register(engine: stagecraft_engine::EngineBuilder) -> stagecraft_engine::EngineBuilder {
/// engine.action("credit_bureau", |call: ActionCall| async move {
///     // A repeat of the same attempt carries the same key.
///     let _request_id = call.idempotency_key;
///     Ok(json!({"score": 700, "applicant": call.inputs["applicant"]}))
/// })
/// # }
/// ```
pub trait ExternalAction: Send + Sync + 'static {
    /// Performs the action; `Ok` holds the step's outputs (a JSON object),
    /// `Err` a message for the operator. Called at least once per attempt
    /// (see the module's documentation).
    fn call(&self, call: ActionCall) -> ActionFuture;
}

impl<F, Fut> ExternalAction for F
where
    F: Fn(ActionCall) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, String>> + Send + 'static,
{
    fn call(&self, call: ActionCall) -> ActionFuture {
        Box::pin(self(call))
    }
}
