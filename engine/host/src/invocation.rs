use crate::FlowFailure;
use serde::Serialize;
use std::time::Duration;

/// What one invocation of a flow produced.
#[derive(Debug)]
pub struct Invocation<T> {
    /// The flow's result, or why it failed.
    pub outcome: Result<T, FlowFailure>,
    /// The flow's log: structured records, then captured stdout and stderr.
    pub log: Vec<LogLine>,
    /// Fuel the invocation burned (CPU work).
    pub fuel_consumed: u64,
    /// Linear memory and table space the instance held at its largest, in
    /// bytes: what counts against the memory limit (an interpreter's heap
    /// image included).
    pub memory_bytes: usize,
    /// Wall-clock time from instantiation to result.
    pub elapsed: Duration,
}

impl<T> Invocation<T> {
    /// The same invocation with its result turned by `f` (a failure stays).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Invocation<U> {
        Invocation {
            outcome: self.outcome.map(f),
            log: self.log,
            fuel_consumed: self.fuel_consumed,
            memory_bytes: self.memory_bytes,
            elapsed: self.elapsed,
        }
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// A record from the `log` import.
    Log(LogLevel),
    /// A line the flow printed to stdout.
    Stdout,
    /// A line the flow printed to stderr (panic messages land here).
    Stderr,
    /// The host's own note, e.g. that output was truncated.
    Host,
}

/// Severity of a structured log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// A failure.
    Error,
}

/// One line of an invocation's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Where it came from.
    pub stream: LogStream,
    /// The text.
    pub message: String,
    /// Key/value fields of a structured record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
}
