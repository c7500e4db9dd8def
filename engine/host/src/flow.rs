//! A loaded flow and its invocations.

use crate::bindings::{FlowError, autolaunched, evaluation, screen};
use crate::failure::FlowFailure;
use crate::host::HostInner;
use crate::invocation::Invocation;
use crate::sandbox::FlowState;
use crate::screen::{Form, Submission, field_error_from_wit, form_from_wit};

use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub use stagecraft_core::FlowKind;

/// Where each kind of flow lives in `wit/flow.wit`.
pub trait FlowWorld {
    /// The interface a component of this kind exports.
    fn interface(self) -> &'static str;
    /// The WIT world a component of this kind targets.
    fn world(self) -> &'static str;
}

impl FlowWorld for FlowKind {
    fn interface(self) -> &'static str {
        match self {
            FlowKind::Autolaunched => "stagecraft:flow/autolaunched@0.1.0",
            FlowKind::Evaluation => "stagecraft:flow/evaluation@0.1.0",
            FlowKind::Screen => "stagecraft:flow/screen@0.1.0",
        }
    }

    fn world(self) -> &'static str {
        match self {
            FlowKind::Autolaunched => "autolaunched-flow",
            FlowKind::Evaluation => "evaluation-flow",
            FlowKind::Screen => "screen-flow",
        }
    }
}

/// The pre-instantiated component, typed by kind.
pub(crate) enum FlowPre {
    Autolaunched(autolaunched::AutolaunchedFlowPre<FlowState>),
    Evaluation(evaluation::EvaluationFlowPre<FlowState>),
    Screen(screen::ScreenFlowPre<FlowState>),
}

/// A compiled, pre-instantiated flow. Cheap to clone; each call runs in a
/// fresh instance, so one `Flow` serves any number of concurrent calls.
#[derive(Clone)]
pub struct Flow {
    pub(crate) host: Arc<HostInner>,
    pub(crate) pre: Arc<FlowPre>,
    pub(crate) digest: Arc<str>,
    /// Its own memory limit, if not the host's.
    pub(crate) memory_bytes: Option<usize>,
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("kind", &self.kind())
            .field("digest", &self.digest)
            .finish()
    }
}

/// Calling a flow as a kind it is not is a programming error of the caller,
/// reported as a failure rather than a panic.
fn wrong_kind<T>(flow: &Flow, wanted: FlowKind) -> Invocation<T> {
    Invocation {
        outcome: Err(FlowFailure::Instantiation {
            reason: format!("a {} flow cannot be called as a {wanted} flow", flow.kind()),
        }),
        log: Vec::new(),
        fuel_consumed: 0,
        memory_bytes: 0,
        elapsed: std::time::Duration::ZERO,
    }
}

/// Runs `$call` (an async block using `store`) in a fresh instance under the
/// host's limits, then turns its result into an [`Invocation`].
macro_rules! invoke {
    ($flow:expr, |$store:ident| $call:expr, $decode:expr) => {{
        let host = &$flow.host;
        let _permit = host.permits.acquire().await;
        let _running = host.ticker.running();
        let memory = $flow.memory_bytes.unwrap_or(host.limits.memory_bytes);
        let mut $store = host.new_store(memory);
        let started = Instant::now();
        let result = tokio::time::timeout(host.limits.timeout, async { $call }).await;
        host.finish($store, started, result, $decode)
    }};
}

impl Flow {
    /// The kind this flow was loaded as.
    pub fn kind(&self) -> FlowKind {
        match *self.pre {
            FlowPre::Autolaunched(_) => FlowKind::Autolaunched,
            FlowPre::Evaluation(_) => FlowKind::Evaluation,
            FlowPre::Screen(_) => FlowKind::Screen,
        }
    }

    /// The same flow, its invocations limited to `memory_bytes` of memory
    /// instead of the host's default, up to the host's
    /// [`max_memory_bytes`](crate::FlowHost::max_memory_bytes).
    pub fn with_memory_limit(&self, memory_bytes: usize) -> Flow {
        Flow {
            memory_bytes: Some(memory_bytes.min(self.host.max_memory_bytes)),
            ..self.clone()
        }
    }

    /// SHA-256 of the component bytes, hex-encoded.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Runs an autolaunched flow. Outputs must be a JSON object.
    pub async fn run(&self, inputs: &Value) -> Invocation<Value> {
        let FlowPre::Autolaunched(pre) = &*self.pre else {
            return wrong_kind(self, FlowKind::Autolaunched);
        };
        let inputs = inputs.to_string();
        invoke!(
            self,
            |store| {
                let instance = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(Stage::Instantiate)?;
                instance
                    .stagecraft_flow_autolaunched()
                    .call_run(&mut store, &inputs)
                    .await
                    .map_err(Stage::Call)
            },
            |result: Result<String, FlowError>| decode_object(result.map_err(returned)?)
        )
    }

    /// Runs an evaluation flow: `true` when the condition is met.
    pub async fn evaluate(&self, inputs: &Value) -> Invocation<bool> {
        let FlowPre::Evaluation(pre) = &*self.pre else {
            return wrong_kind(self, FlowKind::Evaluation);
        };
        let inputs = inputs.to_string();
        invoke!(
            self,
            |store| {
                let instance = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(Stage::Instantiate)?;
                instance
                    .stagecraft_flow_evaluation()
                    .call_evaluate(&mut store, &inputs)
                    .await
                    .map_err(Stage::Call)
            },
            |result: Result<bool, FlowError>| result.map_err(returned)
        )
    }

    /// Asks a screen flow for the form to show for these step inputs.
    pub async fn render(&self, inputs: &Value) -> Invocation<Form> {
        let FlowPre::Screen(pre) = &*self.pre else {
            return wrong_kind(self, FlowKind::Screen);
        };
        let inputs = inputs.to_string();
        invoke!(
            self,
            |store| {
                let instance = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(Stage::Instantiate)?;
                instance
                    .stagecraft_flow_screen()
                    .call_render(&mut store, &inputs)
                    .await
                    .map_err(Stage::Call)
            },
            |result: Result<_, FlowError>| form_from_wit(result.map_err(returned)?)
        )
    }

    /// Hands a screen flow the assignee's answers. Invalid answers are a
    /// [`Submission::Invalid`], not a failure: the work item stays open.
    pub async fn submit(&self, inputs: &Value, answers: &Value) -> Invocation<Submission> {
        let FlowPre::Screen(pre) = &*self.pre else {
            return wrong_kind(self, FlowKind::Screen);
        };
        let (inputs, answers) = (inputs.to_string(), answers.to_string());
        invoke!(
            self,
            |store| {
                let instance = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(Stage::Instantiate)?;
                instance
                    .stagecraft_flow_screen()
                    .call_submit(&mut store, &inputs, &answers)
                    .await
                    .map_err(Stage::Call)
            },
            |result: Result<String, _>| {
                use screen::exports::stagecraft::flow::screen::SubmitError;
                match result {
                    Ok(outputs) => decode_object(outputs).map(Submission::Accepted),
                    Err(SubmitError::Invalid(errors)) => Ok(Submission::Invalid(
                        errors.into_iter().map(field_error_from_wit).collect(),
                    )),
                    Err(SubmitError::Failed(error)) => Err(returned(error)),
                }
            }
        )
    }
}

/// Where a wasmtime error arose: instantiation failures that are not traps
/// are the host's resource problems, not the flow's.
pub(crate) enum Stage {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

fn returned(error: FlowError) -> FlowFailure {
    FlowFailure::FlowError {
        code: error.code,
        message: error.message,
    }
}

fn decode_object(json: String) -> Result<Value, FlowFailure> {
    match serde_json::from_str::<Value>(&json) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(FlowFailure::BadOutput {
            reason: format!("outputs must be a JSON object, got {}", json_type(&other)),
        }),
        Err(e) => Err(FlowFailure::BadOutput {
            reason: format!("outputs are not JSON: {e}"),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
