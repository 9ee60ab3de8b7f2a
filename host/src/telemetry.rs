//! What the host tells about itself: its log (`tracing` to stderr as text or JSON lines,
//! filtered by `RUST_LOG`, default `info`), its traces (OpenTelemetry over OTLP when an
//! endpoint is set, see [`traces`]), and a last word in the log when the process dies of
//! SIGBUS.

pub(crate) mod traces;

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub(crate) use traces::{TraceExport, Traces};

/// How log records are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub(crate) enum LogFormat {
    /// One line of text per record, for people.
    #[default]
    Text,
    /// One JSON object per line: the record's fields flattened, with those of the
    /// request's span (`request_id`, `method`, `path`), for log pipelines.
    Json,
}

/// Start the log, and the traces when `traces` says where to send them. Keep what it
/// answers until the end and [`Traces::flush`] it then: spans still in the exporter's
/// queue are sent.
pub(crate) fn init(format: LogFormat, traces: Option<&TraceExport>) -> anyhow::Result<Traces> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(log)
        .try_init();
    log_fatal_sigbus();
    match traces {
        Some(export) => traces::start(export),
        None => Ok(Traces::off()),
    }
}

/// SQLite maps its `-shm` file; when that file cannot be written (a full or read-only
/// disk, an immutable file) the next access kills the process with SIGBUS, which by itself
/// leaves no trace. Say why in the log before the default action ends the process.
/// wasmtime handles SIGBUS inside guest code itself and passes other faults on to the
/// handler installed before it, so this must run before the engine is made.
#[cfg(unix)]
fn log_fatal_sigbus() {
    extern "C" fn on_sigbus(_: libc::c_int) {
        const MESSAGE: &[u8] = b"tsdev: fatal: SIGBUS outside guest code: a memory-mapped file \
could not be accessed (most often the SQLite -shm file beside the database on a full, \
read-only or immutable file system); see docs/errors-and-limits.md\n";
        // SAFETY: write(2), signal(2) and raise(3) are async-signal-safe; the message is a
        // static buffer. Restoring the default action and raising again ends the process as
        // the signal would have.
        #[allow(unsafe_code)]
        unsafe {
            libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
            libc::raise(libc::SIGBUS);
        }
    }
    // SAFETY: installs a handler that only calls async-signal-safe functions (above).
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGBUS, on_sigbus as *const () as libc::sighandler_t);
    }
}

#[cfg(not(unix))]
fn log_fatal_sigbus() {}
