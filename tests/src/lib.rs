//! Shared support for the cross-crate tests: one host per test binary with
//! test-sized limits, and each example component compiled once.

use stagecraft_example_plugins as plugins;
use stagecraft_host::{Flow, FlowHost, FlowKind, HostConfig, SandboxLimits};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

pub use plugins::{
    CREDIT_CHECK, CREDIT_CHECK_LENIENT, HOSTILE, LOAN_REVIEW, NOOP, REVIEW_TRAP, RISK_SCORE,
    RISK_SCORE_FIXED,
};

/// Limits small enough that hostile flows fail fast, large enough for the
/// example flows.
pub fn test_limits() -> SandboxLimits {
    SandboxLimits {
        fuel: 200_000_000,
        memory_bytes: 32 << 20,
        timeout: Duration::from_secs(5),
        max_log_bytes: 16 << 10,
    }
}

/// The host shared by every test of this binary.
pub fn host() -> &'static FlowHost {
    static HOST: OnceLock<FlowHost> = OnceLock::new();
    HOST.get_or_init(|| {
        FlowHost::new(HostConfig {
            limits: test_limits(),
            max_concurrent_invocations: 16,
            cache_dir: None,
            ..HostConfig::default()
        })
        .expect("the test host starts")
    })
}

/// Reads a component from disk.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The component at `path` loaded as `kind` on [`host`], compiled once per
/// test binary.
pub fn flow(kind: FlowKind, path: &'static str) -> Flow {
    static FLOWS: OnceLock<Mutex<HashMap<(FlowKind, &'static str), Flow>>> = OnceLock::new();
    let mut flows = FLOWS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    flows
        .entry((kind, path))
        .or_insert_with(|| {
            host()
                .load(kind, &bytes(path))
                .unwrap_or_else(|e| panic!("loading {path}: {e}"))
        })
        .clone()
}

/// An orchestration of `stages` stages with one background step each, all
/// running the no-op flow deployed as `noop`: the shape of the engine
/// benchmark and the crash test.
pub fn chain_orchestration(name: &str, stages: usize) -> serde_json::Value {
    let elements: Vec<serde_json::Value> = (0..stages)
        .map(|i| {
            let next = (i + 1 < stages).then(|| format!("stage_{}", i + 1));
            serde_json::json!({
                "type": "stage",
                "name": format!("stage_{i}"),
                "steps": [{
                    "name": "work",
                    "kind": {"type": "background", "flow": "noop"},
                    "inputs": {"n": {"value": i}}
                }],
                "next": next
            })
        })
        .collect();
    serde_json::json!({"format": 1, "name": name, "elements": elements})
}
