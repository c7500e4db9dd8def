//! Host bindings generated from `wit/`, one module per flow world. The
//! `types` and `log` interfaces are generated once and shared.
#![allow(missing_docs, clippy::all)]

pub mod autolaunched {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "autolaunched-flow",
        exports: { default: async },
    });
}

pub mod evaluation {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "evaluation-flow",
        exports: { default: async },
        with: {
            "stagecraft:flow/types": super::autolaunched::stagecraft::flow::types,
            "stagecraft:flow/log": super::autolaunched::stagecraft::flow::log,
        },
    });
}

pub mod screen {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "screen-flow",
        exports: { default: async },
        with: {
            "stagecraft:flow/types": super::autolaunched::stagecraft::flow::types,
            "stagecraft:flow/log": super::autolaunched::stagecraft::flow::log,
        },
    });
}

pub use autolaunched::stagecraft::flow::log;
pub use autolaunched::stagecraft::flow::types::FlowError;
