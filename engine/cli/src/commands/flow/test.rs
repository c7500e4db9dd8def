//! `stagecraft flow test`: one invocation of a component, here, in the
//! server's sandbox, so a flow author sees what the engine would see
//! (outputs, or the typed failure; the log; the CPU it burned) before
//! deploying it.

use crate::output::Output;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use stagecraft_engine::{FlowKind, SandboxLimits};
use stagecraft_host::{FlowHost, HostConfig, Invocation, LogLine, LogStream, Submission};
use std::path::Path;

/// Loads `file` as a flow of `kind` and invokes it once on `inputs` (a
/// screen flow renders its form, then takes `answers` if given). A flow
/// that fails is an error, after its log is printed.
pub async fn run(
    out: Output,
    file: &Path,
    kind: FlowKind,
    inputs: &Value,
    answers: Option<&Value>,
    limits: SandboxLimits,
) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let host = FlowHost::new(HostConfig {
        limits,
        max_concurrent_invocations: 1,
        cache_dir: compile_cache(),
        ..HostConfig::default()
    })
    .context("starting the sandbox")?;
    let flow = host
        .load(kind, &bytes)
        .with_context(|| format!("{} is not a working {kind} flow", file.display()))?;
    match kind {
        FlowKind::Autolaunched => report(out, flow.run(inputs).await, |outputs| json!(outputs)),
        FlowKind::Evaluation => report(out, flow.evaluate(inputs).await, |met| json!(met)),
        FlowKind::Screen => {
            let form = flow.render(inputs).await;
            match answers {
                None => report(out, form, |form| json!({ "form": form })),
                Some(answers) => {
                    if form.outcome.is_err() {
                        return report(out, form, |form| json!({ "form": form }));
                    }
                    report(
                        out,
                        flow.submit(inputs, answers).await,
                        |submission| match submission {
                            Submission::Accepted(outputs) => json!({ "outputs": outputs }),
                            Submission::Invalid(errors) => json!({ "field_errors": errors }),
                        },
                    )
                }
            }
        }
    }
}

/// Prints an invocation: its result (as `shown` makes it JSON) or its
/// failure, its log, and what it cost. A failure is the command's error.
fn report<T>(out: Output, invocation: Invocation<T>, shown: impl FnOnce(T) -> Value) -> Result<()> {
    let Invocation {
        outcome,
        log,
        fuel_consumed,
        memory_bytes,
        elapsed,
    } = invocation;
    let failure = outcome.as_ref().err().cloned();
    let result = match outcome {
        Ok(value) => json!({ "result": shown(value) }),
        Err(failure) => {
            json!({ "failure": { "kind": failure.kind(), "message": failure.to_string() } })
        }
    };
    let mut printed = result;
    printed["log"] = json!(log);
    printed["fuel_consumed"] = json!(fuel_consumed);
    printed["memory_bytes"] = json!(memory_bytes);
    printed["elapsed_ms"] = json!(elapsed.as_secs_f64() * 1000.0);
    out.print(&printed, |printed| {
        if let Some(result) = printed.get("result") {
            println!(
                "{}",
                serde_json::to_string_pretty(result).unwrap_or_else(|_| result.to_string())
            );
        }
        for line in &log {
            println!("{}", log_line(line));
        }
        println!(
            "({fuel_consumed} fuel, {:.1} MiB of memory, {:.1} ms)",
            memory_bytes as f64 / f64::from(1 << 20),
            elapsed.as_secs_f64() * 1000.0
        );
    });
    if let Some(failure) = failure {
        bail!(
            "the flow failed ({}): {failure}",
            json!(failure.kind()).as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// One log line as people read it: where it came from, the text, the fields.
fn log_line(line: &LogLine) -> String {
    let from = match line.stream {
        LogStream::Log(level) => format!("{level:?}").to_lowercase(),
        LogStream::Stdout => "stdout".to_owned(),
        LogStream::Stderr => "stderr".to_owned(),
        LogStream::Host => "host".to_owned(),
    };
    let fields: String = line
        .fields
        .iter()
        .map(|(key, value)| format!(" {key}={value}"))
        .collect();
    format!("[{from}] {}{fields}", line.message)
}

/// A private directory for compiled components, so that trying a flow
/// again does not compile it again (an interpreter's component takes
/// seconds): `$XDG_CACHE_HOME/stagecraft/compiled`, else under `~/.cache`.
/// None when there is no such place; the flow is then compiled each time.
fn compile_cache() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    let dir = base.join("stagecraft").join("compiled");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).ok().map(|()| dir)
}
