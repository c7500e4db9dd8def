//! Per-invocation store state: an empty WASI context, the memory limiter and
//! the captured log. A fresh one is built for every invocation.

use crate::bindings::log;
use crate::config::SandboxLimits;
use crate::invocation::{LogLevel, LogLine, LogStream};
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The data of one invocation's `Store`.
pub(crate) struct FlowState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    records: Vec<LogLine>,
    record_bytes: usize,
    max_log_bytes: usize,
    stdout: CappedPipe,
    stderr: CappedPipe,
}

impl FlowState {
    /// A sandbox with nothing granted: no preopened directories, no
    /// environment, no arguments, no network, and stdio captured.
    /// The state of an invocation limited to `memory_bytes`.
    pub(crate) fn new(limits: &SandboxLimits, memory_bytes: usize) -> Self {
        let stdout = CappedPipe::new(limits.max_log_bytes);
        let stderr = CappedPipe::new(limits.max_log_bytes);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_bytes),
            records: Vec::new(),
            record_bytes: 0,
            max_log_bytes: limits.max_log_bytes,
            stdout,
            stderr,
        }
    }

    /// The whole log: structured records, then stdout, then stderr.
    pub(crate) fn take_log(&mut self) -> Vec<LogLine> {
        let mut log = std::mem::take(&mut self.records);
        if self.record_bytes > self.max_log_bytes {
            log.push(host_note("log records truncated"));
        }
        self.stdout.drain_into(LogStream::Stdout, &mut log);
        self.stderr.drain_into(LogStream::Stderr, &mut log);
        log
    }
}

fn host_note(message: &str) -> LogLine {
    LogLine {
        stream: LogStream::Host,
        message: message.to_owned(),
        fields: Vec::new(),
    }
}

impl WasiView for FlowState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for FlowState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        self.record_bytes = self.record_bytes.saturating_add(size);
        if self.record_bytes > self.max_log_bytes {
            return;
        }
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.records.push(LogLine {
            stream: LogStream::Log(level),
            message,
            fields,
        });
    }
}

/// Bounds the total memory and table space of one instance and remembers
/// whether the bound was hit, so an allocation failure inside the guest
/// (which surfaces as a trap) is reported as what it is.
pub(crate) struct MemoryLimiter {
    pub(crate) limit: usize,
    /// Bytes granted so far; memories and tables only grow within an instance.
    pub(crate) used: usize,
    pub(crate) exceeded: bool,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            exceeded: false,
        }
    }

    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let extra = desired.saturating_sub(current);
        match self.used.checked_add(extra) {
            Some(total) if total <= self.limit => {
                self.used = total;
                true
            }
            _ => {
                self.exceeded = true;
                false
            }
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Count table slots as pointer-sized so tables share the same budget.
        let slot = std::mem::size_of::<usize>();
        Ok(self.grow(current.saturating_mul(slot), desired.saturating_mul(slot)))
    }
}

/// Captures a guest's stdout or stderr up to a byte cap. Unlike a failing
/// pipe, output past the cap is dropped silently, so a chatty flow is
/// truncated rather than crashed.
#[derive(Clone)]
struct CappedPipe(Arc<Mutex<Captured>>);

struct Captured {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl CappedPipe {
    fn new(cap: usize) -> Self {
        Self(Arc::new(Mutex::new(Captured {
            bytes: Vec::new(),
            cap,
            truncated: false,
        })))
    }

    fn append(&self, data: &[u8]) {
        let mut captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = captured.cap.saturating_sub(captured.bytes.len());
        if data.len() > room {
            captured.truncated = true;
        }
        let keep = data.len().min(room);
        captured.bytes.extend_from_slice(&data[..keep]);
    }

    fn drain_into(&self, stream: LogStream, log: &mut Vec<LogLine>) {
        let mut captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&captured.bytes);
        log.extend(
            text.lines()
                .filter(|line| !line.is_empty())
                .map(|line| LogLine {
                    stream,
                    message: line.to_owned(),
                    fields: Vec::new(),
                }),
        );
        if captured.truncated {
            log.push(host_note(&format!("{stream:?} truncated")));
        }
        captured.bytes.clear();
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limiter_counts_every_memory_against_one_budget() {
        let mut limiter = MemoryLimiter::new(100);
        assert!(limiter.grow(0, 60));
        assert!(limiter.grow(0, 40));
        assert!(!limiter.grow(40, 41));
        assert!(limiter.exceeded);
    }

    #[test]
    fn capped_pipe_keeps_the_first_bytes_and_notes_truncation() {
        let pipe = CappedPipe::new(8);
        pipe.append(b"hello\nwor");
        pipe.append(b"ld\n");
        let mut log = Vec::new();
        pipe.drain_into(LogStream::Stdout, &mut log);
        let messages: Vec<_> = log.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["hello", "wo", "Stdout truncated"]);
        assert_eq!(log[2].stream, LogStream::Host);
    }
}
