//! tsdev: host user procedures and durable workflows as WebAssembly components and call
//! them over HTTP.
//!
//! Modules, lowest first; each depends only on those above it (docs/design/architecture.md):
//!
//! - [`limits`], [`clock`], [`error_kind`]: documented limits, the clock, failure kinds.
//! - [`schedule`]: cron schedules: expressions in time zones, ticks, missed ticks (the
//!   workflow engine fires them).
//! - `metrics`: the host's own metrics (Prometheus text at `GET /metrics`).
//! - [`access`]: API keys, scopes and tenant names; [`quota`]: per-tenant quotas.
//! - `secrets`: the host's secrets key, sealing component secrets at rest.
//! - `grants`: the capabilities a component's manifest grants (buckets, outbound hosts).
//! - [`manifest`], [`sections`]: `tsdev.toml` and the custom sections `tsdev build` embeds.
//! - [`policy`]: response caches and rate limits the host enforces on HTTP calls.
//! - [`store`]: durable state on SQLite or PostgreSQL through sqlx; the typed journal.
//! - [`retention`]: finished executions and audit entries deleted past their keeping.
//! - [`api`]: the JSON answers of the HTTP API, as types shared with the CLI.
//! - [`runtime`]: wasmtime engine, per-call instances, host imports, failure kinds; it
//!   knows nothing of workflows.
//! - [`registry`]: deployed components, procedures, JSON <-> WIT values, JSON Schema.
//! - `keys`: API keys as requests see them (a moment's cache over the store).
//! - `capabilities`: what guests reach beyond computing (key-value), granted per component.
//! - [`host`]: deploy, undeploy, call.
//! - `cluster`: a node following the others on one PostgreSQL (components, clock).
//! - [`workflow`]: the workflow engine: durable executions run by replay over a journal.
//! - [`http`]: the axum API; every error is `application/problem+json`.
//! - [`clients`]: typed clients generated from a host's procedures (TypeScript).
//! - `cli` (feature `cli`, on by default): the `tsdev` command line, one file per command.
//! - [`telemetry`]: the host's own log and traces (OpenTelemetry over OTLP).
//! - [`tls`]: the TLS client configuration of outbound requests and the CLI (Web PKI, ring).

#![warn(missing_docs)]

pub mod access;
pub mod api;
mod capabilities;
#[cfg(feature = "cli")]
pub mod cli;
mod clients;
mod clock;
mod cluster;
mod error_kind;
mod grants;
mod host;
mod http;
mod keys;
pub mod limits;
mod manifest;
mod metrics;
mod policy;
pub mod quota;
mod registry;
pub mod retention;
pub mod runtime;
pub mod schedule;
mod secrets;
mod sections;
pub mod store;
mod telemetry;
pub mod tls;
pub mod workflow;

pub use error_kind::ErrorKind;
pub use host::{Host, HostConfig};
pub use http::{AppState, AuthMode, HttpConfig, app};
pub use workflow::WorkflowEngine;
