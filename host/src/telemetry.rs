//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`); and a last word
//! in the log when the process dies of SIGBUS.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub(crate) fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    log_fatal_sigbus();
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
