//! The WebAssembly runtime: one engine, compile and pre-link components, and run one call
//! in a fresh, limited instance. It knows nothing of workflows: what a caller adds to a
//! call comes through [`extension`].
//!
//! - [`engine`]: the wasmtime `Engine` (pooling allocator, fuel, epochs) and its ticker.
//! - [`state`]: what each call's `Store` holds, including the memory limiter.
//! - [`extension`]: the seam for imports, clocks and deadlines a caller adds to calls.
//! - [`output`]: guest stdout/stderr into the host log.
//! - [`host_imports`]: `tsdev:host` imports and the linker every component is checked against.
//! - [`failure`]: how a failed call is classified (fuel, deadline, memory, trap, …).
//! - [`invoke`]: instantiate + call + drop, under limits.
//! - [`incoming_http`]: a wasi:http request as the arguments of a handler's call.

pub(crate) mod engine;
pub(crate) mod extension;
pub(crate) mod failure;
pub(crate) mod host_imports;
pub(crate) mod incoming_http;
pub(crate) mod invoke;
pub(crate) mod output;
pub(crate) mod state;

pub use engine::Runtime;
pub use extension::{CallExtension, PausedTime};
pub use failure::CallFailure;
pub use host_imports::ImportsHook;
pub use incoming_http::{AnswerReceiver, HandlerAnswer, handle_params};
pub use invoke::{Account, CallContext, CallParams, FuelMeter, MakeParams, Target};
pub use output::CallLabel;
pub use state::StoreState;
