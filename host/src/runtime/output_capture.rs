//! A plugin's stdout and stderr, captured into the log.
//!
//! Every complete line goes to `tracing` at once, tagged with the plugin's name
//! and the stream. Output past a byte budget is dropped (a plugin cannot flood
//! the log or the host's memory), and writes never fail, so a chatty plugin is
//! not turned into a failed one. The last lines of stderr are kept: when a
//! plugin panics, its panic message is the best explanation of the failure.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of output logged per stream per run.
const BUDGET: usize = 256 * 1024;
/// Longest line logged; longer lines are cut.
const MAX_LINE: usize = 4096;
/// stderr lines kept to explain a failure.
const TAIL_LINES: usize = 8;

#[derive(Clone, Copy, Debug)]
pub enum StreamName {
    Stdout,
    Stderr,
}

struct Capture {
    plugin: Arc<str>,
    stream: StreamName,
    pending: Vec<u8>,
    logged: usize,
    truncated: bool,
    tail: VecDeque<String>,
}

/// One captured stream; clones share the same buffer.
#[derive(Clone)]
pub struct CapturedOutput(Arc<Mutex<Capture>>);

impl CapturedOutput {
    pub fn new(plugin: Arc<str>, stream: StreamName) -> Self {
        Self(Arc::new(Mutex::new(Capture {
            plugin,
            stream,
            pending: Vec::new(),
            logged: 0,
            truncated: false,
            tail: VecDeque::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Capture> {
        // A poisoned lock only means a log line was lost; keep capturing.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn accept(&self, bytes: &[u8]) {
        let mut capture = self.lock();
        if capture.logged >= BUDGET {
            if !capture.truncated {
                capture.truncated = true;
                tracing::warn!(plugin = %capture.plugin, "{:?} output beyond {BUDGET} bytes dropped", capture.stream);
            }
            return;
        }
        let room = BUDGET - capture.logged;
        let taken = &bytes[..bytes.len().min(room)];
        capture.logged += taken.len();
        capture.pending.extend_from_slice(taken);
        while let Some(end) = capture.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = capture.pending.drain(..=end).collect();
            capture.emit(&line[..line.len() - 1]);
        }
        if capture.pending.len() > MAX_LINE {
            let line = std::mem::take(&mut capture.pending);
            capture.emit(&line);
        }
    }

    /// Logs what is left without a newline; call when the run ends.
    pub fn finish(&self) {
        let mut capture = self.lock();
        let rest = std::mem::take(&mut capture.pending);
        if !rest.is_empty() {
            capture.emit(&rest);
        }
    }

    /// The last lines written, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.finish();
        self.lock().tail.iter().cloned().collect()
    }
}

impl Capture {
    fn emit(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            return;
        }
        match self.stream {
            StreamName::Stdout => tracing::info!(plugin = %self.plugin, stream = "stdout", "{line}"),
            StreamName::Stderr => tracing::warn!(plugin = %self.plugin, stream = "stderr", "{line}"),
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.accept(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.accept(buf);
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
    fn keeps_the_last_lines_and_joins_split_writes() {
        let out = CapturedOutput::new("p".into(), StreamName::Stderr);
        out.accept(b"first line\nsec");
        out.accept(b"ond line\n");
        out.accept(b"no newline");
        assert_eq!(out.tail(), ["first line", "second line", "no newline"]);
    }

    #[test]
    fn output_beyond_the_budget_is_dropped() {
        let mut out = CapturedOutput::new("p".into(), StreamName::Stdout);
        // Numbered lines of 1 KiB, so the last one kept tells where it stopped.
        let lines = BUDGET / 1024 + 50;
        for i in 0..lines {
            let line = format!("{i:07} {}\n", "x".repeat(1015));
            assert_eq!(line.len(), 1024);
            out.write(Bytes::from(line)).expect("writes are accepted, kept or not");
        }
        let capture = out.lock();
        assert_eq!(capture.logged, BUDGET);
        assert!(capture.truncated);
        let last = capture.tail.back().expect("lines were kept");
        assert!(last.starts_with(&format!("{:07} ", BUDGET / 1024 - 1)), "{last:.20}");
    }
}
