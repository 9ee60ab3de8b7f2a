//! tsdev: host user procedures as WebAssembly components and call them over HTTP.
//!
//! - [`limits`]: the documented limits every call runs under.
//! - [`runtime`]: wasmtime engine, per-call instances, host imports, failure kinds.
//! - [`registry`]: deployed components, procedures, JSON <-> WIT values, JSON Schema.
//! - [`store`]: durable state on SQLite or PostgreSQL through sqlx.
//! - [`host`]: deploy / undeploy / call, tying the three together.
//! - [`workflow`]: durable workflows run by replay over a journal.
//! - [`http`]: the axum API; every error is `application/problem+json`.
//! - [`cli`]: the `tsdev` command line, one file per command.

pub mod cli;
pub mod clock;
pub mod host;
pub mod http;
pub mod limits;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod workflow;
