//! Definitions as a client sends them: parse, then validate against a
//! catalog that knows a flow of each kind and an action, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagecraft_core::{Catalog, FlowKind, Orchestration};

struct Everything;

impl Catalog for Everything {
    fn flow_kind(&self, name: &str) -> Option<FlowKind> {
        match name.as_bytes().first() {
            Some(b'a') => Some(FlowKind::Autolaunched),
            Some(b'e') => Some(FlowKind::Evaluation),
            Some(b's') => Some(FlowKind::Screen),
            _ => None,
        }
    }

    fn has_action(&self, name: &str) -> bool {
        name.starts_with('x')
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(definition) = serde_json::from_slice::<Orchestration>(data) {
        let _ = stagecraft_core::validate(&definition, &Everything);
    }
});
