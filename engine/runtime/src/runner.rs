//! The seam between the engine and what runs flows: the WebAssembly host
//! ([`FlowHost`]) in production; in tests, a fake whose flows are plain Rust,
//! so the executor, recovery and the recovery window are tested without
//! compiling a component.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use stagecraft_host::{Flow, FlowHost};

/// What a runner works with, from the host crate.
pub use stagecraft_host::{
    FlowFailure, FlowKind, Form, Invocation, LoadError, LogLine, LogStream, Submission,
};

/// A flow ready to run, shared by every step that runs it.
pub type LoadedFlow = Arc<dyn RunnableFlow>;

/// Turns a stored component into a flow ready to run.
pub trait FlowRunner: Send + Sync + 'static {
    /// Validates and compiles `bytes` as a flow of `kind`. May block for a
    /// while (compilation): the engine calls it off the async threads.
    fn load(&self, kind: FlowKind, bytes: &[u8]) -> Result<LoadedFlow, LoadError>;

    /// Ends the slice of every invocation running now, so that one waiting
    /// for the CPU can have it. Runners without slices need not do anything.
    fn end_slices(&self) {}

    /// The most memory a flow version may be given at deploy; `None`: no
    /// limit of the runner's own.
    fn max_memory_bytes(&self) -> Option<usize> {
        None
    }
}

/// A loaded flow. Each call is an invocation of its own; one flow serves
/// any number of them at once.
pub trait RunnableFlow: Send + Sync + 'static {
    /// The kind it was loaded as.
    fn kind(&self) -> FlowKind;
    /// The SHA-256 of its component's bytes, hex: the engine checks stored
    /// components and pinned versions against it.
    fn digest(&self) -> &str;
    /// Runs an autolaunched flow (a background step).
    fn run<'a>(&'a self, inputs: &'a Value) -> BoxFuture<'a, Invocation<Value>>;
    /// Runs an evaluation flow: whether the condition is met.
    fn evaluate<'a>(&'a self, inputs: &'a Value) -> BoxFuture<'a, Invocation<bool>>;
    /// Asks a screen flow for its form.
    fn render<'a>(&'a self, inputs: &'a Value) -> BoxFuture<'a, Invocation<Form>>;
    /// Hands a screen flow the answers to its form.
    fn submit<'a>(
        &'a self,
        inputs: &'a Value,
        answers: &'a Value,
    ) -> BoxFuture<'a, Invocation<Submission>>;
    /// The same flow, its invocations limited to `memory_bytes` of memory
    /// (its version's own limit). Runners without limits return it as is.
    fn with_memory_limit(self: Arc<Self>, memory_bytes: usize) -> LoadedFlow;
}

impl FlowRunner for FlowHost {
    fn load(&self, kind: FlowKind, bytes: &[u8]) -> Result<LoadedFlow, LoadError> {
        Ok(Arc::new(FlowHost::load(self, kind, bytes)?))
    }

    fn end_slices(&self) {
        FlowHost::end_slices(self);
    }

    fn max_memory_bytes(&self) -> Option<usize> {
        Some(FlowHost::max_memory_bytes(self))
    }
}

impl RunnableFlow for Flow {
    fn kind(&self) -> FlowKind {
        Flow::kind(self)
    }

    fn digest(&self) -> &str {
        Flow::digest(self)
    }

    fn run<'a>(&'a self, inputs: &'a Value) -> BoxFuture<'a, Invocation<Value>> {
        Box::pin(Flow::run(self, inputs))
    }

    fn evaluate<'a>(&'a self, inputs: &'a Value) -> BoxFuture<'a, Invocation<bool>> {
        Box::pin(Flow::evaluate(self, inputs))
    }

    fn render<'a>(&'a self, inputs: &'a Value) -> BoxFuture<'a, Invocation<Form>> {
        Box::pin(Flow::render(self, inputs))
    }

    fn submit<'a>(
        &'a self,
        inputs: &'a Value,
        answers: &'a Value,
    ) -> BoxFuture<'a, Invocation<Submission>> {
        Box::pin(Flow::submit(self, inputs, answers))
    }

    fn with_memory_limit(self: Arc<Self>, memory_bytes: usize) -> LoadedFlow {
        Arc::new(Flow::with_memory_limit(&self, memory_bytes))
    }
}
