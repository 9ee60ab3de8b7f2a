//! The WebAssembly runtime: one engine, compile and pre-link components, and run one call
//! in a fresh, limited instance.
//!
//! - [`engine`]: the wasmtime `Engine` (pooling allocator, fuel, epochs) and its ticker.
//! - [`state`]: what each call's `Store` holds, including the memory limiter.
//! - [`output`]: guest stdout/stderr into the host log.
//! - [`host_imports`]: `tsdev:host` imports and the linker every component is checked against.
//! - [`failure`]: how a failed call is classified (fuel, deadline, memory, trap, …).
//! - [`invoke`]: instantiate + call + drop, under limits.

pub mod engine;
pub mod failure;
pub mod host_imports;
pub mod invoke;
pub mod output;
pub mod state;

pub use engine::Runtime;
pub use failure::CallFailure;
pub use invoke::{CallContext, Target};
