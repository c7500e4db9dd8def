//! C-DURABLE: kill -9 the engine under load, restart it on the same data
//! directory, and check that nothing acknowledged was lost and that every
//! run finishes, each step's completion recorded once.

use stagecraft_core::run::{MilestoneKind, MilestoneRecord, RunStatus};
use stagecraft_engine::{Engine, EngineConfig, RunFilter};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Starts the child and kills it (SIGKILL) after it acknowledged `acks` runs.
fn run_child_until_killed(dir: &std::path::Path, acks: usize) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_child"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line from the child");
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.to_owned());
            if acked.len() >= acks {
                break;
            }
        }
    }
    child.kill().expect("kill -9");
    let status = child.wait().expect("the child is reaped");
    assert!(!status.success(), "the child was killed, not finished");
    assert_eq!(acked.len(), acks, "the child stopped acknowledging early");
    acked
}

/// C-DURABLE: several kill -9 at different points, then a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_durable_kill_9_loses_no_acknowledged_transition() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = BTreeSet::new();
    for acks in [1, 25, 60, 120] {
        acked.extend(run_child_until_killed(dir.path(), acks));
    }

    let engine = Engine::builder(EngineConfig::new(dir.path()))
        .open()
        .await
        .unwrap();
    let stored: BTreeSet<String> = engine
        .runs(RunFilter {
            limit: Some(1000),
            ..RunFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|run| run.id.0)
        .collect();
    let unfinished = engine
        .runs(RunFilter {
            status: Some(RunStatus::InProgress),
            limit: Some(1000),
            ..RunFilter::default()
        })
        .await
        .unwrap()
        .len();
    eprintln!(
        "{} runs acknowledged, {} stored, {unfinished} caught in flight",
        acked.len(),
        stored.len()
    );
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged runs lost: {lost:?}");

    for id in &stored {
        let run = engine
            .wait_until_settled(&stagecraft_core::run::RunId(id.clone()))
            .await
            .unwrap();
        assert_eq!(
            run.status,
            RunStatus::Completed,
            "run {id}: {:?}",
            run.error
        );
        for stage in 0..3 {
            let name = format!("stage_{stage}");
            let ends = run
                .history
                .iter()
                .filter(|m| {
                    m.kind == MilestoneKind::EndStep
                        && matches!(&m.record, MilestoneRecord::Step { stage, .. } if *stage == name)
                })
                .count();
            assert_eq!(ends, 1, "run {id} recorded the end of {name} {ends} times");
        }
    }
    engine.shutdown().await;
}
