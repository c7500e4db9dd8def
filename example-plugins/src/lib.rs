//! Paths of the example flows, compiled to WebAssembly components by this
//! crate's build script. Tests, benches and examples depend on this crate so
//! the plugins are built once per build, never once per test.

/// One compiled example flow.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    /// The crate name.
    pub name: &'static str,
    /// `autolaunched`, `evaluation` or `screen`.
    pub kind: &'static str,
    /// Absolute path of the `.wasm` component.
    pub path: &'static str,
    /// The component's bytes, embedded at build time.
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
