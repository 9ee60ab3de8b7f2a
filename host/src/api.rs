//! The JSON answers of the HTTP API, as types: the handlers write them, the CLI and the
//! client generator read them, and `/openapi.json` describes the management endpoints
//! from the same definitions. Renaming a field here renames it everywhere, or fails to
//! compile.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error_kind::ErrorKind;
use crate::limits::CallLimits;
use crate::store::{ExecutionStatus, StepKind};

/// An `application/problem+json` answer (RFC 9457).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub kind: ErrorKind,
    pub detail: String,
    /// Members a kind adds (`error`, `path`, `retry_after`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A rate limit as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimitInfo {
    pub requests: u32,
    pub per_ms: u64,
}

/// One procedure of a deployed component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcedureInfo {
    pub name: String,
    /// The WIT signature, e.g. `func(name: string) -> record { … }`.
    pub signature: String,
    pub public: bool,
    /// Started as a durable execution rather than called.
    pub workflow: bool,
    pub limits: CallLimits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `METHOD /path/{param}` from the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitInfo>,
    /// JSON Schema of the arguments object (with `GET /v1/components/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_schema: Option<Value>,
    /// JSON Schema of the result (with `GET /v1/components/{name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_schema: Option<Value>,
}

/// An exported function that is not a procedure, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UnexposedInfo {
    pub name: String,
    pub reason: String,
}

/// A deployed component: `POST /v1/components`, `GET /v1/components[/{name}]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentInfo {
    pub name: String,
    /// Hex SHA-256 of the component's bytes.
    pub version: String,
    /// The version its manifest states, if any.
    pub component_version: Option<String>,
    pub description: Option<String>,
    pub size_bytes: u64,
    /// Milliseconds since the Unix epoch.
    pub deployed_at: i64,
    pub limits: CallLimits,
    /// Its functions are workflows.
    pub workflows: bool,
    pub procedures: Vec<ProcedureInfo>,
    pub unexposed: Vec<UnexposedInfo>,
}

/// `GET /v1/components`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentList {
    pub components: Vec<ComponentInfo>,
}

/// One procedure in the catalogue of `GET /procedures`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogueEntry {
    pub name: String,
    pub route: Option<String>,
    pub public: bool,
    pub workflow: bool,
    pub component: String,
    pub version: String,
    pub signature: String,
    pub description: Option<String>,
    pub params_schema: Value,
    pub result_schema: Value,
}

/// `GET /procedures`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Catalogue {
    pub procedures: Vec<CatalogueEntry>,
}

/// One journal entry of an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepInfo {
    pub seq: i64,
    pub kind: StepKind,
    pub name: String,
    pub request: Value,
    pub attempts: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub outcome: Value,
}

/// A workflow execution: `GET /v1/executions/{id}` (with its steps), lists (without).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionInfo {
    pub id: String,
    pub workflow: String,
    pub component: String,
    /// The component version it is pinned to.
    pub version: String,
    pub status: ExecutionStatus,
    pub args: Value,
    pub result: Value,
    pub error: Value,
    /// When a sleeping or waiting execution is due again, ms since the epoch.
    pub wake_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub steps: Vec<StepInfo>,
}

/// `GET /v1/executions`: a page, newest first; `next` (the id of the page's last execution)
/// is the `after` of the next page, absent on the last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionList {
    pub executions: Vec<ExecutionInfo>,
    pub next: Option<String>,
}

/// `POST /v1/workflows/{name}/executions`: the execution started, or the one a repeated
/// idempotency key names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartedInfo {
    pub id: String,
    pub existing: bool,
}

/// `POST /rpc/{workflow}` answered 202: the execution goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunningInfo {
    pub id: String,
    pub status: ExecutionStatus,
}

/// `POST /v1/executions/{id}/signals/{name}` answered 202.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalInfo {
    pub execution: String,
    pub signal: String,
}

/// The data of a `status` event of `GET /v1/executions/{id}/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusEvent {
    pub status: ExecutionStatus,
    pub result: Value,
    pub error: Value,
    pub wake_at: Option<i64>,
}

/// `GET /health` and `GET /ready`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthInfo {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<usize>,
}
