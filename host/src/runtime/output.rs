//! Guest stdout and stderr, written into the host log line by line and tagged with the
//! request id and procedure. At most [`limits::MAX_GUEST_OUTPUT_BYTES`] per call reach the
//! log; the tail of stderr is kept so a panic message can be shown to the caller.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::limits;

/// Who is calling what, for log records.
#[derive(Clone, Debug)]
pub struct CallLabel {
    /// The request's id.
    pub request_id: String,
    /// The procedure called.
    pub procedure: String,
    /// Set for workflow steps (see `CallContext::idempotency_key`).
    pub idempotency_key: Option<String>,
}

/// `text` with every control character escaped (`\n` as `\\n`, …), so that what a guest or
/// a caller writes stays one field of one log record and cannot forge another.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Bytes of stderr kept for error messages.
const STDERR_TAIL_BYTES: usize = 4 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// The output of one call. Cloning shares it.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    shared: Arc<Mutex<OutputState>>,
}

struct OutputState {
    label: CallLabel,
    logged: usize,
    truncated: bool,
    pending: [Vec<u8>; 2],
    stderr_tail: Vec<u8>,
}

impl GuestOutput {
    pub(crate) fn new(label: CallLabel) -> GuestOutput {
        GuestOutput {
            shared: Arc::new(Mutex::new(OutputState {
                label,
                logged: 0,
                truncated: false,
                pending: [Vec::new(), Vec::new()],
                stderr_tail: Vec::new(),
            })),
        }
    }

    pub(crate) fn stream(&self, stream: Stream) -> GuestStream {
        GuestStream {
            output: self.clone(),
            stream,
        }
    }

    /// The last bytes the guest wrote to stderr, lossily decoded.
    pub(crate) fn stderr_tail(&self) -> String {
        let state = self.lock();
        String::from_utf8_lossy(&state.stderr_tail).into_owned()
    }

    /// Log whatever is left without a final newline.
    pub(crate) fn flush(&self) {
        let mut state = self.lock();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut state.pending[stream as usize]);
            if !rest.is_empty() {
                state.log_line(stream, &rest);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutputState> {
        // A poisoned lock only means a logging call panicked; the buffer is still usable.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        let mut state = self.lock();
        if stream == Stream::Stderr {
            state.stderr_tail.extend_from_slice(bytes);
            let excess = state.stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
            state.stderr_tail.drain(..excess);
        }
        let index = stream as usize;
        state.pending[index].extend_from_slice(bytes);
        while let Some(newline) = state.pending[index].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = state.pending[index].drain(..=newline).collect();
            state.log_line(stream, &line[..line.len() - 1]);
        }
        // A guest that never writes a newline must not grow the buffer without bound.
        if state.pending[index].len() > limits::MAX_GUEST_OUTPUT_BYTES {
            let line = std::mem::take(&mut state.pending[index]);
            state.log_line(stream, &line);
        }
    }
}

impl OutputState {
    fn log_line(&mut self, stream: Stream, line: &[u8]) {
        if self.logged >= limits::MAX_GUEST_OUTPUT_BYTES {
            if !self.truncated {
                self.truncated = true;
                tracing::warn!(
                    target: "tsdev::guest",
                    request_id = %self.label.request_id,
                    procedure = %self.label.procedure,
                    "guest output over {} bytes; the rest of this call's output is dropped",
                    limits::MAX_GUEST_OUTPUT_BYTES
                );
            }
            return;
        }
        self.logged += line.len();
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return;
        }
        let text = printable(text);
        let (request_id, procedure) = (&self.label.request_id, &self.label.procedure);
        match stream {
            Stream::Stdout => {
                tracing::info!(target: "tsdev::guest", %request_id, %procedure, stream = "stdout", "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "tsdev::guest", %request_id, %procedure, stream = "stderr", "{text}")
            }
        }
    }
}

/// One of a call's two output streams, as WASI sees it.
pub(crate) struct GuestStream {
    output: GuestOutput,
    stream: Stream,
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(GuestStream {
            output: self.output.clone(),
            stream: self.stream,
        })
    }
}

impl AsyncWrite for GuestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.output.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_keeps_only_the_last_bytes() {
        let output = GuestOutput::new(CallLabel {
            request_id: "r".into(),
            procedure: "p".into(),
            idempotency_key: None,
        });
        let big = vec![b'x'; STDERR_TAIL_BYTES * 2];
        output.write(Stream::Stderr, &big);
        output.write(Stream::Stderr, b"panicked at the end\n");
        let tail = output.stderr_tail();
        assert_eq!(tail.len(), STDERR_TAIL_BYTES);
        assert!(tail.ends_with("panicked at the end\n"));
    }

    #[test]
    fn control_characters_cannot_start_a_log_line() {
        let forged = "ada\n2026-11-21T00:00:00Z ERROR tsdev::store: forged\r\0";
        let shown = printable(forged);
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert_eq!(
            shown,
            "ada\\n2026-11-21T00:00:00Z ERROR tsdev::store: forged\\r\\u{0}"
        );
        assert!(matches!(
            printable("plain é"),
            std::borrow::Cow::Borrowed("plain é")
        ));
    }
}
