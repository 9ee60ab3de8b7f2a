//! tsdev: host user procedures as WebAssembly components and call them over HTTP.
//!
//! - [`limits`]: the documented limits every call runs under.
//! - [`manifest`]: `tsdev.toml`, embedded in a component: routes, policies, overrides.
//! - [`policy`]: response caches and rate limits the host enforces on HTTP calls.
//! - [`runtime`]: wasmtime engine, per-call instances, host imports, failure kinds.
//! - [`registry`]: deployed components, procedures, JSON <-> WIT values, JSON Schema.
//! - [`sections`]: the custom sections `tsdev build` embeds (manifest, WIT docs).
//! - [`store`]: durable state on SQLite or PostgreSQL through sqlx.
//! - [`host`]: deploy / undeploy / call, tying the three together.
//! - [`workflow`]: durable workflows run by replay over a journal.
//! - [`http`]: the axum API; every error is `application/problem+json`.
//! - [`clients`]: typed clients generated from a host's procedures (TypeScript).
//! - [`cli`]: the `tsdev` command line, one file per command.

pub mod cli;
pub mod clients;
pub mod clock;
pub mod host;
pub mod http;
pub mod limits;
pub mod manifest;
pub mod policy;
pub mod registry;
pub mod runtime;
pub mod sections;
pub mod store;
pub mod telemetry;
pub mod workflow;
