//! What a flow costs the host: compiling a component, loading it from the
//! on-disk compile cache, and one invocation (fresh instance + call) of a
//! trivial flow, of a memory bomb (it grows to the 64 MiB limit), and of an
//! 18 MB Python component
//! (`target/tmp/polyglot/python-risk-score.wasm`, built by the polyglot
//! tests; skipped without it).
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use stagecraft_example_plugins::{HOSTILE, NOOP};
use stagecraft_host::{FlowHost, FlowKind, HostConfig};
use std::hint::black_box;

fn noop_bytes() -> Vec<u8> {
    std::fs::read(NOOP).expect("the noop plugin is built")
}

fn compile(c: &mut Criterion) {
    let host = FlowHost::new(HostConfig::default()).expect("host");
    let bytes = noop_bytes();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter(|| host.load(FlowKind::Autolaunched, black_box(&bytes)))
    });

    let cache = tempfile::tempdir().expect("temp dir");
    let cached = FlowHost::new(HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..HostConfig::default()
    })
    .expect("host");
    cached
        .load(FlowKind::Autolaunched, &bytes)
        .expect("first load fills the cache");
    group.bench_function("from_disk_cache", |b| {
        b.iter(|| cached.load(FlowKind::Autolaunched, black_box(&bytes)))
    });
    group.finish();
}

fn invoke(c: &mut Criterion) {
    let host = FlowHost::new(HostConfig::default()).expect("host");
    let flow = host
        .load(FlowKind::Autolaunched, &noop_bytes())
        .expect("noop loads");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let inputs = json!({"applicant": "Ada", "amount": 5000});
    c.bench_function("invoke/noop", |b| {
        b.to_async(&runtime).iter(|| async {
            let invocation = flow.run(black_box(&inputs)).await;
            assert!(invocation.outcome.is_ok());
        })
    });
}

fn big_instances(c: &mut Criterion) {
    let host = FlowHost::new(HostConfig::default()).expect("host");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hostile = host
        .load(
            FlowKind::Autolaunched,
            &std::fs::read(HOSTILE).expect("the hostile plugin is built"),
        )
        .expect("hostile loads");
    let mut group = c.benchmark_group("invoke");
    group.sample_size(20);
    let bomb = json!({"attack": "memory-bomb"});
    let peak = runtime.block_on(hostile.run(&bomb)).memory_bytes;
    eprintln!("a memory bomb reaches {} MiB", peak >> 20);
    group.bench_function("memory-bomb", |b| {
        b.to_async(&runtime).iter(|| async {
            let invocation = hostile.run(black_box(&bomb)).await;
            assert!(invocation.outcome.is_err());
        })
    });
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tmp/polyglot/python-risk-score.wasm");
    if let Ok(bytes) = std::fs::read(&python) {
        let flow = host
            .load(FlowKind::Autolaunched, &bytes)
            .expect("the Python flow loads");
        let inputs = json!({"income": 52000, "debt": 1000, "amount": 5000});
        let peak = runtime.block_on(flow.run(&inputs)).memory_bytes;
        eprintln!("the Python risk score uses {} MiB", peak >> 20);
        group.bench_function("python-risk-score", |b| {
            b.to_async(&runtime).iter(|| async {
                let invocation = flow.run(black_box(&inputs)).await;
                assert!(invocation.outcome.is_ok(), "{:?}", invocation.outcome);
            })
        });
    } else {
        eprintln!("{} is not built: its bench is skipped", python.display());
    }
    group.finish();
}

criterion_group!(benches, compile, invoke, big_instances);
criterion_main!(benches);
