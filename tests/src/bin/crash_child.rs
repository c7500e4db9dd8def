//! The engine under load, for the crash test: opens the engine on the data
//! directory given as the only argument, deploys the no-op flow and a
//! three-stage orchestration if they are not there yet, then starts runs
//! from several tasks until it is killed, printing `ack <run id>` once each
//! start is durable.

use anyhow::{Context, Result};
use stagecraft_engine::{Engine, EngineConfig, FlowKind};
use stagecraft_tests::{NOOP, chain_orchestration};

#[tokio::main]
async fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .context("usage: crash_child DATA_DIR")?;
    let engine = Engine::builder(EngineConfig::new(dir)).open().await?;
    if engine.flows().await?.is_empty() {
        engine
            .deploy_flow("noop", FlowKind::Autolaunched, std::fs::read(NOOP)?, "test")
            .await?;
        engine
            .deploy_orchestration(chain_orchestration("chain", 3), "test")
            .await?;
    }
    println!("ready");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let run = engine
                    .start_run("chain", serde_json::json!({}), "admin")
                    .await
                    .context("start_run")?;
                println!("ack {}", run.id);
            }
            #[allow(unreachable_code)]
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
