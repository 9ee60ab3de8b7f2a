//! The imports the host gives every guest: WASI 0.2 (with nothing granted, see
//! [`super::state`]) and `tsdev:host` from `wit/host`. Layers above add theirs through
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
        world: "tsdev:host/imports",
    });
}

use self::bindings::Imports;
use self::bindings::tsdev::host::context::Host as ContextHost;
use self::bindings::tsdev::host::log::{Host as LogHost, Level};

/// The linker every uploaded component is checked against and instantiated with: WASI,
/// `tsdev:host`, and what `hooks` add.
pub(crate) fn linker(
    engine: &Engine,
    hooks: &[ImportsHook],
) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Imports::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)?;
    for hook in hooks {
        hook(&mut linker)?;
    }
    Ok(linker)
}

impl LogHost for StoreState {
    fn log(&mut self, level: Level, mut message: String) {
        if message.len() > limits::MAX_LOG_MESSAGE_BYTES {
            let mut end = limits::MAX_LOG_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("… (truncated)");
        }
        // One record per message, whatever the guest put in it.
        let message = printable(&message);
        let request_id = &self.label.request_id;
        let procedure = &self.label.procedure;
        match level {
            Level::Trace => {
                tracing::trace!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
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
