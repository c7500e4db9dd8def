//! Checks that component bytes are a flow of the kind they are deployed as,
//! before anything runs. Every rejection says what is wrong and what to do.

use crate::flow::{FlowKind, FlowWorld};
use thiserror::Error;
use wasmparser::Parser;

/// Why component bytes were rejected at deploy time.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    /// The component file cannot be read.
    #[error("cannot read the component {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The operating system's message.
        reason: String,
    },
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly component: the bytes do not start with the WebAssembly header")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component: build the flow with \
         `cargo build --target wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// The component is malformed or uses features the host does not support.
    #[error("the component is invalid: {reason}")]
    Invalid {
        /// The validator's or compiler's message.
        reason: String,
    },
    /// The component does not export the interface of its flow kind.
    #[error(
        "the component is not {article} {expected} flow: it does not export `{interface}` \
         (it exports: {found}); build it for the `{world}` world"
    , article = article(*expected), world = expected.world())]
    WrongWorld {
        /// The kind it was deployed as.
        expected: FlowKind,
        /// The interface it should export.
        interface: String,
        /// What it exports instead.
        found: String,
    },
    /// The component exports the right interface with the wrong types, e.g.
    /// it was built against an incompatible version of the WIT package.
    #[error("the component does not match the {expected} flow contract: {reason}")]
    Incompatible {
        /// The kind it was deployed as.
        expected: FlowKind,
        /// The type checker's message.
        reason: String,
    },
    /// The component imports something flows are not given.
    #[error("the component needs imports that Stagecraft does not provide to flows: {reason}")]
    UnsupportedImport {
        /// The linker's message, naming the import.
        reason: String,
    },
}

fn article(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Autolaunched | FlowKind::Evaluation => "an",
        FlowKind::Screen => "a",
    }
}

/// Rejects bytes that are not a component before handing them to the
/// compiler, whose messages for these cases are less helpful.
pub(crate) fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if Parser::is_component(bytes) {
        Ok(())
    } else if Parser::is_core_wasm(bytes) {
        Err(LoadError::CoreModule)
    } else {
        Err(LoadError::NotWasm)
    }
}

/// Checks that the component exports `kind`'s interface.
pub(crate) fn check_exports(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    kind: FlowKind,
) -> Result<(), LoadError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    if exports.contains(&kind.interface()) {
        return Ok(());
    }
    Err(LoadError::WrongWorld {
        expected: kind,
        interface: kind.interface().to_owned(),
        found: if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        },
    })
}
