//! What a flow costs the host: compiling a component, loading it from the
//! on-disk compile cache, and one invocation (fresh instance + call) of a
//! trivial flow.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use stagecraft_example_plugins::NOOP;
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

criterion_group!(benches, compile, invoke);
criterion_main!(benches);
