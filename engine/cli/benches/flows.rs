//! What a flow costs the host, per language and kind: the same scaffolded
//! flows (`stagecraft flow new`) in Rust, Python and JavaScript, built by
//! `stagecraft flow build`, then measured in the server's sandbox: component
//! size, compile time, load from the compile cache, time per invocation and
//! the memory an invocation holds (what counts against the memory limit;
//! the pool maps it copy-on-write, so only pages it writes cost RAM).
//!
//! `cargo bench -p stagecraft --bench flows` (needs componentize-py and jco;
//! a language whose tool is missing is left out, saying so).

use serde_json::{Value, json};
use stagecraft_engine::FlowKind;
use stagecraft_host::{Flow, FlowHost, HostConfig, Invocation};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const KINDS: [FlowKind; 3] = [
    FlowKind::Autolaunched,
    FlowKind::Evaluation,
    FlowKind::Screen,
];

fn stagecraft(args: &[&str], dir: &Path) -> Result<String, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .args(args)
        .env("CARGO_TARGET_DIR", dir.join("cargo-target"))
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Scaffolds and builds one flow; None (with the reason printed) when the
/// language's tool is missing.
fn component(root: &Path, lang: &str, kind: FlowKind) -> Option<PathBuf> {
    let dir = root.join(format!("{lang}-{kind}"));
    let dir_arg = dir.to_string_lossy().into_owned();
    let kind_arg = kind.to_string();
    let built = stagecraft(
        &["flow", "new", &dir_arg, "--lang", lang, "--kind", &kind_arg],
        root,
    )
    .and_then(|_| stagecraft(&["flow", "build", &dir_arg], root));
    match built {
        Ok(path) => Some(PathBuf::from(path)),
        Err(error) => {
            eprintln!("{lang} {kind}: not measured: {}", error.trim());
            None
        }
    }
}

fn host(cache: Option<&Path>) -> FlowHost {
    FlowHost::new(HostConfig {
        cache_dir: cache.map(Path::to_owned),
        ..HostConfig::default()
    })
    .expect("host")
}

async fn invoke(flow: &Flow, kind: FlowKind) -> Invocation<Value> {
    let inputs = json!({});
    match kind {
        FlowKind::Autolaunched => flow.run(&inputs).await,
        FlowKind::Evaluation => flow.evaluate(&inputs).await.map(Value::Bool),
        FlowKind::Screen => flow.render(&inputs).await.map(|form| json!(form)),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let root = tempfile::tempdir().expect("tempdir");
    println!(
        "| language | kind | component | compile | load from cache | per invocation (p50) | fuel | memory per invocation |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for lang in ["rust", "python", "js"] {
        for kind in KINDS {
            let Some(path) = component(root.path(), lang, kind) else {
                continue;
            };
            let bytes = std::fs::read(&path).expect("component");

            let uncached = host(None);
            let compile = median(
                (0..3)
                    .map(|_| {
                        let started = Instant::now();
                        uncached.load(kind, &bytes).expect("load");
                        started.elapsed()
                    })
                    .collect(),
            );

            let cache = root.path().join(format!("cache-{lang}-{kind}"));
            host(Some(&cache)).load(kind, &bytes).expect("load");
            let cached = median(
                (0..5)
                    .map(|_| {
                        let fresh = host(Some(&cache));
                        let started = Instant::now();
                        fresh.load(kind, &bytes).expect("load");
                        started.elapsed()
                    })
                    .collect(),
            );

            let flow = uncached.load(kind, &bytes).expect("load");
            let first = invoke(&flow, kind).await;
            assert!(first.outcome.is_ok(), "{lang} {kind}: {:?}", first.outcome);
            let mut calls = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(3);
            while calls.len() < 20 || (Instant::now() < deadline && calls.len() < 2_000) {
                calls.push(invoke(&flow, kind).await.elapsed);
            }
            println!(
                "| {lang} | {kind} | {:.1} MiB | {} | {} | {} | {} | {:.1} MiB |",
                bytes.len() as f64 / f64::from(1 << 20),
                ms(compile),
                ms(cached),
                ms(median(calls)),
                first.fuel_consumed,
                first.memory_bytes as f64 / f64::from(1 << 20),
            );
        }
    }
}
