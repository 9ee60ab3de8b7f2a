//! What Rust guests of tsdev depend on.
//!
//! - [`wit_bindgen`], re-exported: generate your component's bindings with
//!   `sdk_guest::wit_bindgen::generate!({ path: "wit", world: "…", runtime_path: "sdk_guest::wit_bindgen::rt" })`
//!   so that your crate needs no other dependency.
//! - [`log`]: records into the host's log through the `tsdev:host/log` import, tagged by the
//!   host with the request id and procedure. Prefer it to `println!`: stdout also reaches
//!   the host log, but untagged by level and capped per call.
//!
//! # Error conventions
//!
//! - A procedure that can fail returns `result<T, E>` in WIT. `ok` answers `200` with T;
//!   `err` answers `422` with kind `procedure-error` and E (as JSON) in the problem's
//!   `error` member. Make E a `variant` or `enum` so callers can match on it.
//! - A panic is a bug, not an answer: the call fails with kind `trap` (`500`) and the
//!   panic message in the problem's `detail`.
//! - Running out of fuel, memory or time fails the call with `out-of-fuel`,
//!   `memory-limit` or `timeout`; nothing of the instance survives the call.

pub use wit_bindgen;

mod bindings {
    wit_bindgen::generate!({
        path: "../wit/host",
        world: "tsdev:host/imports",
    });
}

pub mod log {
    //! Records into the host's log.

    pub use crate::bindings::tsdev::host::log::Level;

    /// Write one record at `level`.
    pub fn log(level: Level, message: &str) {
        crate::bindings::tsdev::host::log::log(level, message);
    }

    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }

    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// `info!("format {}", args)`: [`log::info`] with `format!` arguments.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// `warn!("format {}", args)`: [`log::warn`] with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// `error!("format {}", args)`: [`log::error`] with `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
