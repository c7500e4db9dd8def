//! Repair at scale, at the engine's level: a resume job's filter selects
//! exactly the runs it should, over random run populations stored in SQLite.

use jiff::Timestamp;
use proptest::prelude::*;
use stagecraft_core::FlowFailureKind;
use stagecraft_core::repair::{RepairFilter, Resumable};
use stagecraft_core::run::{
    ErrorKind, FailedFlow, Milestone, MilestoneKind, MilestoneRecord, Run, RunError, RunId,
    RunStatus,
};
use stagecraft_engine::{Engine, EngineConfig, SystemClock};
use stagecraft_store::Store;
use stagecraft_store_sqlite::{SqliteConfig, SqliteStore};
use stagecraft_tests::host;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

const ORCHESTRATIONS: [&str; 2] = ["loan", "lease"];
const STAGES: [&str; 2] = ["scoring", "review"];
const STEPS: [&str; 2] = ["score", "check"];
const FLOWS: [&str; 2] = ["risk_score", "credit_check"];
const FAILURES: [FlowFailureKind; 3] = [
    FlowFailureKind::Trap,
    FlowFailureKind::Timeout,
    FlowFailureKind::FlowError,
];

fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + minute * 60).expect("in range")
}

/// How a generated run's error came about.
#[derive(Debug, Clone)]
enum Cause {
    /// A step's flow failed.
    Step {
        step: usize,
        flow: usize,
        version: Option<u32>,
        failure: usize,
    },
    /// An evaluation flow failed.
    Evaluation { flow: usize, failure: usize },
    /// Something else (an input that could not be prepared).
    InputMapping { step: Option<usize> },
}

#[derive(Debug, Clone)]
struct Spec {
    orchestration: usize,
    version: u32,
    status: RunStatus,
    minute: i64,
    stage: usize,
    cause: Cause,
}

fn cause() -> impl Strategy<Value = Cause> {
    prop_oneof![
        (0..2usize, 0..2usize, prop::option::of(1..3u32), 0..3usize).prop_map(
            |(step, flow, version, failure)| Cause::Step {
                step,
                flow,
                version,
                failure
            }
        ),
        (0..2usize, 0..3usize).prop_map(|(flow, failure)| Cause::Evaluation { flow, failure }),
        prop::option::of(0..2usize).prop_map(|step| Cause::InputMapping { step }),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..2usize,
        1..3u32,
        prop_oneof![
            4 => Just(RunStatus::Error),
            1 => Just(RunStatus::Suspended),
            1 => Just(RunStatus::InProgress),
            1 => Just(RunStatus::Completed),
        ],
        0..100i64,
        0..2usize,
        cause(),
    )
        .prop_map(
            |(orchestration, version, status, minute, stage, cause)| Spec {
                orchestration,
                version,
                status,
                minute,
                stage,
                cause,
            },
        )
}

fn filter() -> impl Strategy<Value = RepairFilter> {
    let pick = |n: usize| prop::option::of(0..n);
    (
        prop_oneof![4 => Just(Resumable::Error), 1 => Just(Resumable::Suspended)],
        pick(2),
        prop::option::of(1..3u32),
        pick(2),
        pick(2),
        pick(2),
        prop::option::of(1..3u32),
        pick(3),
        prop::option::of((0..100i64, 1..60i64)),
    )
        .prop_map(
            |(status, orchestration, version, stage, step, flow, flow_version, failure, span)| {
                let suspended = status == Resumable::Suspended;
                let flow = flow.filter(|_| !suspended).map(|i| FLOWS[i].to_owned());
                let orchestration = orchestration.map(|i| ORCHESTRATIONS[i].to_owned());
                RepairFilter {
                    status,
                    version: version.filter(|_| orchestration.is_some()),
                    orchestration,
                    stage: stage.filter(|_| !suspended).map(|i| STAGES[i].to_owned()),
                    step: step.filter(|_| !suspended).map(|i| STEPS[i].to_owned()),
                    flow_version: flow_version.filter(|_| flow.is_some()),
                    flow,
                    failure: failure.filter(|_| !suspended).map(|i| FAILURES[i]),
                    started_after: span.map(|(from, _)| at(from)),
                    started_before: span.map(|(from, length)| at(from + length)),
                }
            },
        )
}

/// The run a spec describes, as the engine would have stored it.
fn run(index: usize, spec: &Spec) -> Run {
    let error = (spec.status == RunStatus::Error).then(|| {
        let (step, kind, flow) = match &spec.cause {
            Cause::Step {
                step,
                flow,
                version,
                failure,
            } => (
                Some(STEPS[*step].to_owned()),
                ErrorKind::Flow(FAILURES[*failure]),
                Some(FailedFlow {
                    name: FLOWS[*flow].to_owned(),
                    version: *version,
                    evaluation: None,
                }),
            ),
            Cause::Evaluation { flow, failure } => (
                None,
                ErrorKind::Evaluation(FAILURES[*failure]),
                Some(FailedFlow {
                    name: FLOWS[*flow].to_owned(),
                    version: None,
                    evaluation: None,
                }),
            ),
            Cause::InputMapping { step } => (
                step.map(|s| STEPS[s].to_owned()),
                ErrorKind::InputMapping,
                None,
            ),
        };
        RunError {
            at: at(spec.minute + 1),
            stage: STAGES[spec.stage].to_owned(),
            stage_run: 0,
            step,
            kind,
            message: "generated".to_owned(),
            flow,
        }
    });
    Run {
        id: RunId(format!("run-{index:03}")),
        orchestration: ORCHESTRATIONS[spec.orchestration].to_owned(),
        version: spec.version,
        status: spec.status,
        inputs: serde_json::json!({}),
        stages: Vec::new(),
        current: None,
        work_items: Vec::new(),
        evaluations: Vec::new(),
        evaluations_issued: 0,
        error,
        handled_errors: Vec::new(),
        history: vec![Milestone {
            at: at(spec.minute),
            record: MilestoneRecord::Run,
            kind: MilestoneKind::StartRun,
            actor: None,
        }],
    }
}

/// The selection, written from the filter's documentation and the run's
/// fields, independently of the engine's code.
fn expected(spec: &Spec, filter: &RepairFilter) -> bool {
    let status = match filter.status {
        Resumable::Error => RunStatus::Error,
        Resumable::Suspended => RunStatus::Suspended,
    };
    let started = at(spec.minute);
    let common = spec.status == status
        && filter
            .orchestration
            .as_deref()
            .is_none_or(|o| o == ORCHESTRATIONS[spec.orchestration])
        && filter.version.is_none_or(|v| v == spec.version)
        && filter.started_after.is_none_or(|a| started >= a)
        && filter.started_before.is_none_or(|b| started < b);
    if !common || filter.status == Resumable::Suspended {
        return common;
    }
    let (step, flow, version, failure) = match &spec.cause {
        Cause::Step {
            step,
            flow,
            version,
            failure,
        } => (
            Some(STEPS[*step]),
            Some(FLOWS[*flow]),
            *version,
            Some(FAILURES[*failure]),
        ),
        Cause::Evaluation { flow, failure } => {
            (None, Some(FLOWS[*flow]), None, Some(FAILURES[*failure]))
        }
        Cause::InputMapping { step } => (step.map(|s| STEPS[s]), None, None, None),
    };
    filter
        .stage
        .as_deref()
        .is_none_or(|s| s == STAGES[spec.stage])
        && filter.step.as_deref().is_none_or(|s| Some(s) == step)
        && filter.flow.as_deref().is_none_or(|f| Some(f) == flow)
        && filter.flow_version.is_none_or(|v| Some(v) == version)
        && filter.failure.is_none_or(|k| Some(k) == failure)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Resume job filters select exactly the runs they should: whatever
    /// the population and the filter, the engine's selection (SQL for the
    /// status and orchestration, then the failure site of each stored
    /// run) is the set the filter describes.
    #[test]
    fn resume_job_filters_select_exactly_the_runs_they_should(
        specs in prop::collection::vec(spec(), 1..40),
        filter in filter(),
    ) {
        prop_assume!(filter.check().is_ok());
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let (selected, want) = runtime.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SqliteStore::open(SqliteConfig::new(dir.path().join("stagecraft.db")))
                .expect("store");
            let runs: Vec<Arc<Run>> = specs
                .iter()
                .enumerate()
                .map(|(index, spec)| Arc::new(run(index, spec)))
                .collect();
            store.commit_runs(runs).await.expect("commit");
            let engine = Engine::start(
                store,
                Arc::new(host().clone()),
                EngineConfig::new(dir.path()),
                HashMap::new(),
                Arc::new(SystemClock),
            )
            .await
            .expect("engine");
            let selected: BTreeSet<String> = engine
                .select(&filter)
                .await
                .expect("selection")
                .into_iter()
                .map(|run| run.id.0)
                .collect();
            engine.shutdown().await;
            let want: BTreeSet<String> = specs
                .iter()
                .enumerate()
                .filter(|(_, spec)| expected(spec, &filter))
                .map(|(index, _)| format!("run-{index:03}"))
                .collect();
            (selected, want)
        });
        prop_assert_eq!(selected, want);
    }
}
