//! C-SANDBOX: a flow sees no filesystem, environment or network; loops,
//! memory bombs, deep recursion and sleeps are stopped; and none of it
//! disturbs the host or other invocations.

use serde_json::json;
use stagecraft_host::{FlowFailure, FlowKind};
use stagecraft_tests::{HOSTILE, RISK_SCORE_FIXED, flow, test_limits};

async fn attack(name: &str) -> stagecraft_host::Invocation<serde_json::Value> {
    flow(FlowKind::Autolaunched, HOSTILE)
        .run(&json!({"attack": name}))
        .await
}

/// C-SANDBOX: an infinite loop burns its fuel and stops.
#[tokio::test]
async fn c_sandbox_infinite_loop_exhausts_cpu_budget() {
    let invocation = attack("infinite-loop").await;
    assert_eq!(
        invocation.outcome,
        Err(FlowFailure::CpuBudgetExhausted {
            budget: test_limits().fuel
        })
    );
    assert_eq!(invocation.fuel_consumed, test_limits().fuel);
}

/// C-SANDBOX: a memory bomb hits the memory limit.
#[tokio::test]
async fn c_sandbox_memory_bomb_hits_the_memory_limit() {
    let invocation = attack("memory-bomb").await;
    assert_eq!(
        invocation.outcome,
        Err(FlowFailure::MemoryLimit {
            limit_bytes: test_limits().memory_bytes
        })
    );
}

/// C-SANDBOX: unbounded recursion overflows the stack: a trap, not a crash.
#[tokio::test]
async fn c_sandbox_deep_recursion_traps() {
    let invocation = attack("deep-recursion").await;
    let Err(FlowFailure::Trap { message }) = &invocation.outcome else {
        panic!("expected a trap, got {:?}", invocation.outcome);
    };
    assert!(
        message.contains("call stack exhausted") || message.contains("out of bounds"),
        "{message}"
    );
}

/// C-SANDBOX: a flow blocked in a host call (sleeping) is stopped at its deadline.
#[tokio::test]
async fn c_sandbox_sleeping_flow_hits_the_deadline() {
    let invocation = attack("sleep").await;
    assert_eq!(
        invocation.outcome,
        Err(FlowFailure::Timeout {
            timeout: test_limits().timeout
        })
    );
}

/// C-SANDBOX: no filesystem: not even the root is visible.
#[tokio::test]
async fn c_sandbox_no_filesystem() {
    for path in ["/etc/passwd", "Cargo.toml", "."] {
        let invocation = flow(FlowKind::Autolaunched, HOSTILE)
            .run(&json!({"attack": "read-file", "path": path}))
            .await;
        let outputs = invocation.outcome.unwrap();
        let result = outputs["read-file"].as_str().unwrap();
        assert!(result.starts_with("denied:"), "{path}: {result}");
    }
}

/// C-SANDBOX: no environment variables.
#[tokio::test]
async fn c_sandbox_no_environment() {
    let outputs = attack("read-env").await.outcome.unwrap();
    assert_eq!(outputs, json!({"vars": 0, "home": null}));
}

/// C-SANDBOX: no network: a connection to a listener on loopback never arrives.
#[tokio::test]
async fn c_sandbox_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    let outputs = flow(FlowKind::Autolaunched, HOSTILE)
        .run(&json!({"attack": "open-socket", "port": port}))
        .await
        .outcome
        .unwrap();
    let result = outputs["open-socket"].as_str().unwrap();
    assert!(result.starts_with("denied:"), "{result}");
    let accepted = listener.accept();
    assert_eq!(
        accepted.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the flow reached the listener"
    );
}

/// C-SANDBOX: hostile flows running at the same time as honest ones, on
/// several threads, fail on their own while the honest ones succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sandbox_hostile_flows_do_not_disturb_concurrent_invocations() {
    let mut tasks = Vec::new();
    for (i, name) in ["infinite-loop", "memory-bomb", "deep-recursion", "panic"]
        .into_iter()
        .cycle()
        .take(8)
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            (format!("{name}#{i}"), attack(name).await.outcome.is_err())
        }));
    }
    for i in 0..16u64 {
        tasks.push(tokio::spawn(async move {
            let income = 100 + i;
            let outcome = flow(FlowKind::Autolaunched, RISK_SCORE_FIXED)
                .run(&json!({"income": income, "debt": 0, "amount": income}))
                .await
                .outcome;
            let ok = outcome == Ok(json!({"risk": 100, "debt_to_income_pct": 100}));
            (format!("honest#{i}"), !ok)
        }));
    }
    for task in tasks {
        let (name, failed) = task.await.unwrap();
        assert_eq!(failed, !name.starts_with("honest"), "{name}");
    }
    // And the host still serves afterwards.
    let after = flow(FlowKind::Autolaunched, RISK_SCORE_FIXED)
        .run(&json!({"income": 10, "debt": 1, "amount": 1}))
        .await;
    assert_eq!(
        after.outcome,
        Ok(json!({"risk": 20, "debt_to_income_pct": 20}))
    );
}
