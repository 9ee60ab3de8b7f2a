//! The imports the host gives every guest: WASI 0.2 (with nothing granted, see
//! [`super::state`]), `tsdev:host` from `wit/host`, and `wasi:logging` from `wit/logging`. Layers above add theirs through
//! [`ImportsHook`]s.

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::limits;

use super::output::printable;
use super::state::StoreState;

/// Imports a layer above the runtime adds to the linker every component is checked
/// against and instantiated with.
pub type ImportsHook = fn(&mut Linker<StoreState>) -> wasmtime::Result<()>;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/host",
        world: "tsdev:host/basics",
    });
}

/// `wasi:logging/logging@0.1.0-draft`, what Spin and wasmCloud components log with.
mod wasi_logging {
    wasmtime::component::bindgen!({
        path: "../wit/logging",
        world: "wasi:logging/imports",
    });
}

use self::bindings::Basics;
use self::bindings::tsdev::host::context::Host as ContextHost;
use self::bindings::tsdev::host::log::{Host as LogHost, Level};
use self::wasi_logging::wasi::logging::logging::{Host as WasiLogHost, Level as WasiLevel};

/// The linker every uploaded component is checked against and instantiated with: WASI,
/// `tsdev:host`, and what `hooks` add.
pub(crate) fn linker(
    engine: &Engine,
    hooks: &[ImportsHook],
) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // Every request is checked when it is sent (see `StoreState`'s `WasiHttpView`).
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Basics::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)?;
    wasi_logging::Imports::add_to_linker::<StoreState, HasSelf<StoreState>>(
        &mut linker,
        |state| state,
    )?;
    for hook in hooks {
        hook(&mut linker)?;
    }
    Ok(linker)
}

impl LogHost for StoreState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.guest_log(level, None, message);
    }
}

impl WasiLogHost for StoreState {
    fn log(&mut self, level: WasiLevel, context: String, message: String) {
        let level = match level {
            WasiLevel::Trace => tracing::Level::TRACE,
            WasiLevel::Debug => tracing::Level::DEBUG,
            WasiLevel::Info => tracing::Level::INFO,
            WasiLevel::Warn => tracing::Level::WARN,
            // The host's log has no level above error.
            WasiLevel::Error | WasiLevel::Critical => tracing::Level::ERROR,
        };
        self.guest_log(level, Some(context), message);
    }
}

/// `text` cut to [`limits::MAX_LOG_MESSAGE_BYTES`] (on a character boundary), marked.
fn bounded(mut text: String) -> String {
    if text.len() > limits::MAX_LOG_MESSAGE_BYTES {
        let mut end = limits::MAX_LOG_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("… (truncated)");
    }
    text
}

impl StoreState {
    /// One record of the guest's in the host log (target `tsdev::guest`), tagged with the
    /// request id and procedure, whatever the guest put in `message` or `context`.
    fn guest_log(&self, level: tracing::Level, context: Option<String>, message: String) {
        let message = bounded(message);
        let message = printable(&message);
        let context = context.map(|c| printable(&bounded(c)).into_owned());
        let request_id = &self.label.request_id;
        let procedure = &self.label.procedure;
        // tracing's macros take their level as a constant.
        macro_rules! record {
            ($level:expr) => {
                match &context {
                    Some(context) => tracing::event!(target: "tsdev::guest", $level, %request_id, %procedure, %context, "{message}"),
                    None => tracing::event!(target: "tsdev::guest", $level, %request_id, %procedure, "{message}"),
                }
            };
        }
        match level {
            tracing::Level::TRACE => record!(tracing::Level::TRACE),
            tracing::Level::DEBUG => record!(tracing::Level::DEBUG),
            tracing::Level::INFO => record!(tracing::Level::INFO),
            tracing::Level::WARN => record!(tracing::Level::WARN),
            _ => record!(tracing::Level::ERROR),
        }
    }
}

impl ContextHost for StoreState {
    fn request_id(&mut self) -> String {
        self.label.request_id.clone()
    }

    fn idempotency_key(&mut self) -> Option<String> {
        self.label.idempotency_key.clone()
    }
}
