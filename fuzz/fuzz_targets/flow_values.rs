//! Values coming back from flows: whatever JSON a flow returns as a
//! background step's outputs, the state machine either accepts it or fails
//! the step, and the resulting state can be encoded and read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use stagecraft_core::run::RunId;
use stagecraft_core::{Action, Catalog, Event, FlowKind, Orchestration, Run};

struct Flows;

impl Catalog for Flows {
    fn flow_kind(&self, _: &str) -> Option<FlowKind> {
        Some(FlowKind::Autolaunched)
    }

    fn has_action(&self, _: &str) -> bool {
        false
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(outputs) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let definition: Orchestration = serde_json::from_value(json!({
        "format": 1,
        "name": "fuzz",
        "elements": [{"type": "stage", "name": "s", "steps": [{
            "name": "a",
            "kind": {"type": "background", "flow": "f"},
            "outputs": [{"name": "x", "type": "any"}, {"name": "n", "type": "number"}]
        }]}]
    }))
    .expect("the definition parses");
    let plan = stagecraft_core::validate(&definition, &Flows).expect("and validates");
    let now = jiff::Timestamp::UNIX_EPOCH;
    let start = stagecraft_core::start(&plan, RunId("r".into()), json!({}), now).expect("starts");
    let Some(Action::RunFlow { step, attempt, .. }) = start.actions.first().cloned() else {
        panic!("the step runs its flow");
    };
    let event = Event::FlowFinished {
        step,
        attempt,
        flow_version: 1,
        result: Ok(outputs),
    };
    if let Ok(next) = stagecraft_core::handle(&start.run, &plan, event, now) {
        let encoded = serde_json::to_vec(&next.run).expect("the state encodes");
        let _: Run = serde_json::from_slice(&encoded).expect("and is read back");
    }
});
