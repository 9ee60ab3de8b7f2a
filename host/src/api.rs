//! The JSON answers of the HTTP API, as types: the handlers write them, the CLI and the
//! client generator read them, and `/openapi.json` describes the management endpoints
//! from the same definitions. Renaming a field here renames it everywhere, or fails to
//! compile.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error_kind::ErrorKind;
use crate::limits::CallLimits;
use crate::quota::QuotaChange;
use crate::store::{ExecutionStatus, StepKind};

/// An `application/problem+json` answer (RFC 9457).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    /// The problem's URI: `https://tsdev.dev/problems/{kind}`.
    pub type_uri: String,
    /// A short title for people, the same for every problem of a kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable, machine-readable kind.
    pub kind: ErrorKind,
    /// What happened, for people.
    pub detail: String,
    /// Members a kind adds (`error`, `path`, `retry_after`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A rate limit as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimitInfo {
    /// Calls allowed per window.
    pub requests: u32,
    /// The window, in milliseconds.
    pub per_ms: u64,
}

/// One procedure of a deployed component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcedureInfo {
    /// The procedure's name (`component-interface.function`).
    pub name: String,
    /// The WIT signature, e.g. `func(name: string) -> record { … }`.
    pub signature: String,
    /// Whether callers without a key may call it over HTTP.
    pub public: bool,
    /// Started as a durable execution rather than called.
    pub workflow: bool,
    /// Fuel, memory and time each call gets.
    pub limits: CallLimits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Its description, from the WIT doc comments or the manifest.
    pub description: Option<String>,
    /// `METHOD /path/{param}` from the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// OpenAPI tags from the manifest.
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// How long answers are cached, if they are.
    pub cache_ttl_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Its rate limit, if it has one.
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
    /// The function's name.
    pub name: String,
    /// Why it is not a procedure.
    pub reason: String,
}

/// A deployed component: `POST /v1/components`, `GET /v1/components[/{name}]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentInfo {
    /// The component's name.
    pub name: String,
    /// Hex SHA-256 of the component's bytes.
    pub version: String,
    /// The version its manifest states, if any.
    pub component_version: Option<String>,
    /// Its description, from the manifest.
    pub description: Option<String>,
    /// Size of the uploaded component.
    pub size_bytes: u64,
    /// Milliseconds since the Unix epoch.
    pub deployed_at: i64,
    /// The limits its procedures get unless their manifest entries say otherwise.
    pub limits: CallLimits,
    /// Its functions are workflows.
    pub workflows: bool,
    /// Its procedures.
    pub procedures: Vec<ProcedureInfo>,
    /// Exported functions that are not procedures, and why.
    pub unexposed: Vec<UnexposedInfo>,
    /// What its manifest grants it (docs/capabilities.md).
    pub grants: GrantsInfo,
    /// Where it is served, when it is a wasi:http component (it exports
    /// `wasi:http/incoming-handler`).
    #[serde(default)]
    pub http: Option<HttpInfo>,
}

/// How a wasi:http component is served (its manifest's `[http]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HttpInfo {
    /// The path it is served under: `PREFIX/...` of tenant default, `/t/TENANT/PREFIX/...`
    /// of another tenant.
    pub prefix: String,
    /// Anyone may send it requests; else only callers with an API key with scope call.
    pub public: bool,
}

/// A component's `[grants]`: the capabilities it may use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantsInfo {
    /// Key-value buckets it may open.
    pub key_value: Vec<String>,
    /// Origins it may send HTTP requests to.
    pub outbound_http: Vec<String>,
    /// Procedures of its tenant it may call.
    pub invoke: Vec<String>,
}

/// `GET /v1/components`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentList {
    /// Every deployed component of the tenant, by name.
    pub components: Vec<ComponentInfo>,
}

/// One kept version of a component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionInfo {
    /// Hex SHA-256 of its bytes.
    pub version: String,
    /// When it was last made current (deployed or rolled back to), ms since the Unix epoch.
    pub deployed_at: i64,
    /// The id of the key that did that; absent when no key was used.
    pub deployed_by: Option<String>,
    /// Size of the component.
    pub size_bytes: u64,
    /// It is the version the component runs now.
    pub current: bool,
}

/// `GET|PUT /v1/components/{name}/config`: a component's config values, and the names of
/// its secrets (never their values).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigInfo {
    /// Values by key.
    pub values: std::collections::BTreeMap<String, String>,
    /// The keys of its secrets.
    pub secrets: Vec<String>,
}

/// `PUT /v1/components/{name}/config`: values and secrets to set (`null`: delete the key);
/// keys left out stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    /// Plain values by key.
    #[serde(default)]
    #[schemars(schema_with = "config_map_schema")]
    pub values: std::collections::BTreeMap<String, Option<String>>,
    /// Secrets by key: sealed at rest, never shown again.
    #[serde(default)]
    #[schemars(schema_with = "config_map_schema")]
    pub secrets: std::collections::BTreeMap<String, Option<String>>,
}

/// Keys as config keys are; values within the limit, or null: what the host accepts.
fn config_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": crate::limits::MAX_CONFIG_KEYS_PER_CHANGE,
        "propertyNames": { "pattern": "^[A-Za-z0-9._-]{1,128}$" },
        "additionalProperties": {
            "anyOf": [
                { "type": "string", "maxLength": crate::limits::MAX_CONFIG_VALUE_CHARS },
                { "type": "null" }
            ]
        }
    })
}

/// `GET /v1/kv/{bucket}`: one page of keys, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KvKeyList {
    /// The bucket.
    pub bucket: String,
    /// Keys (with the prefix asked for), in order.
    pub keys: Vec<String>,
    /// More keys follow: ask again with `after` set to this.
    pub next: Option<String>,
}

/// `GET /v1/components/{name}/versions`: newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionList {
    /// The component.
    pub name: String,
    /// Its kept versions: the current one, the most recent others (up to 10 in all), and
    /// any an unfinished workflow execution runs on.
    pub versions: Vec<VersionInfo>,
}

/// `POST /v1/components/{name}/rollback`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to make current: its hash or a prefix of it naming one kept version.
    /// Absent: the newest kept version before the current one.
    #[serde(default)]
    pub version: Option<String>,
}

/// One procedure in the catalogue of `GET /procedures`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogueEntry {
    /// The procedure's name.
    pub name: String,
    /// Its REST route (`GET /items/{id}`), if the manifest gives one.
    pub route: Option<String>,
    /// Whether callers without a key may call it.
    pub public: bool,
    /// Whether it is a workflow.
    pub workflow: bool,
    /// The component exporting it.
    pub component: String,
    /// The component's version (content hash).
    pub version: String,
    /// Its WIT signature.
    pub signature: String,
    /// Its description.
    pub description: Option<String>,
    /// JSON Schema of its arguments object.
    pub params_schema: Value,
    /// JSON Schema of its result.
    pub result_schema: Value,
}

/// `GET /procedures`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Catalogue {
    /// Every procedure the caller may see.
    pub procedures: Vec<CatalogueEntry>,
}

/// One journal entry of an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepInfo {
    /// The step's place in the journal, from 1.
    pub seq: i64,
    /// What kind of durable call it was.
    pub kind: StepKind,
    /// The procedure called, the sleep's or signal's name.
    pub name: String,
    /// The step's arguments (JSON).
    pub request: Value,
    /// Attempts made (more than 1 after retries).
    pub attempts: i64,
    /// When it started, ms since the Unix epoch.
    pub started_at: i64,
    /// When it was journaled, ms since the Unix epoch.
    pub finished_at: i64,
    /// What it answered (JSON), as journaled.
    pub outcome: Value,
}

/// A workflow execution: `GET /v1/executions/{id}` (with its steps), lists (without).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionInfo {
    /// The execution's id.
    pub id: String,
    /// The workflow it runs.
    pub workflow: String,
    /// The component the workflow belongs to.
    pub component: String,
    /// The component version it is pinned to.
    pub version: String,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// Its arguments.
    pub args: Value,
    /// Its result, once completed (else null).
    pub result: Value,
    /// Its error, once failed (else null).
    pub error: Value,
    /// When a sleeping or waiting execution is due again, ms since the epoch.
    pub wake_at: Option<i64>,
    /// When it was started, ms since the Unix epoch.
    pub created_at: i64,
    /// When it last changed, ms since the Unix epoch.
    pub updated_at: i64,
    /// Its journaled steps (empty in lists).
    pub steps: Vec<StepInfo>,
}

/// `GET /v1/executions`: a page, newest first; `next` (the id of the page's last execution)
/// is the `after` of the next page, absent on the last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionList {
    /// Executions, newest first.
    pub executions: Vec<ExecutionInfo>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// `POST /v1/workflows/{name}/executions`: the execution started, or the one a repeated
/// idempotency key names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartedInfo {
    /// The execution's id.
    pub id: String,
    /// Whether it had been started before with the same idempotency key.
    pub existing: bool,
}

/// `POST /rpc/{workflow}` answered 202: the execution goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunningInfo {
    /// The execution's id.
    pub id: String,
    /// Where it stands.
    pub status: ExecutionStatus,
}

/// `POST /v1/executions/{id}/signals/{name}` answered 202.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalInfo {
    /// The execution's id.
    pub execution: String,
    /// The signal's name.
    pub signal: String,
}

/// The data of a `status` event of `GET /v1/executions/{id}/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusEvent {
    /// Where it stands.
    pub status: ExecutionStatus,
    /// Its result, once completed.
    pub result: Value,
    /// Its error, once failed.
    pub error: Value,
    /// When it wakes, while it sleeps or waits with a deadline.
    pub wake_at: Option<i64>,
}

/// `GET /health` and `GET /ready`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthInfo {
    /// `ok` or `ready`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Components deployed, once the registry is loaded.
    pub components: Option<usize>,
}

/// `POST /v1/tenants`: a tenant to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1 to 63 lowercase letters, digits and `-`, starting with a letter.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{0,62}$"))]
    pub name: String,
    /// Quotas other than the defaults (those left out are the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<QuotaChange>,
}

/// `PATCH /v1/tenants/{tenant}`: what to change. The shape of `POST /v1/tenants` less the
/// name. (The quotas alone, flat, are accepted too, as before.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    /// The quotas to change; those left out stay.
    pub quotas: QuotaChange,
}

/// A tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantInfo {
    /// Its name.
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Components deployed now.
    pub components: u64,
    /// Its quotas.
    pub quotas: crate::quota::Quotas,
}

/// `GET /v1/tenants`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TenantList {
    /// Every tenant, by name.
    pub tenants: Vec<TenantInfo>,
}

/// `POST /v1/tenants/{tenant}/keys`: a key to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A name for people (1 to 128 characters).
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// What it may do; a key cannot give a scope the key creating it lacks (only an admin
    /// key gives `admin`).
    #[schemars(length(min = 1))]
    pub scopes: Vec<crate::access::Scope>,
    /// When it stops working (ms since the Unix epoch, in the future); never when absent.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A key, without its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyInfo {
    /// Public id: safe to log, used to revoke it.
    pub id: String,
    /// The tenant it acts in.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<crate::access::Scope>,
    /// When it was made, ms since the Unix epoch.
    pub created_at: i64,
    /// When it stops working, if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// `POST /v1/tenants/{tenant}/keys` answers 201 with this: the only answer that ever holds
/// the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedKey {
    /// The key: `Authorization: Bearer KEY`. Shown once.
    pub key: String,
    #[serde(flatten)]
    /// The key's description.
    pub info: KeyInfo,
}

/// `GET /v1/tenants/{tenant}/keys`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyList {
    /// The tenant's keys, oldest first, revoked ones included.
    pub keys: Vec<KeyInfo>,
}

/// One audit log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditInfo {
    /// Position in the log; pass as `before` to page.
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The tenant the action concerned.
    pub tenant: String,
    /// The key that asked (its id), if one did.
    pub key_id: Option<String>,
    /// `component.deploy`, `key.create`, …
    pub action: String,
    /// What the action was on (the request path).
    pub target: String,
    /// The request's id (`X-Request-Id`).
    pub request_id: String,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok`, or the problem kind answered.
    pub outcome: String,
    /// How many requests the entry stands for: 1, but for refusals (401) of callers
    /// without a valid key, which are counted per action and minute.
    pub repeats: u64,
}

/// `GET /v1/audit`: newest first; `next` continues the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditList {
    /// Entries, newest first.
    pub entries: Vec<AuditInfo>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<i64>,
}

/// A node sharing the store: `GET /v1/nodes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeInfo {
    /// Its id: the lease owner of the executions it runs.
    pub id: String,
    /// Where it serves HTTP, as it says.
    pub address: String,
    /// When it started, ms since the Unix epoch (database time).
    pub started_at: i64,
    /// Its last heartbeat (every second while it runs).
    pub beat_at: i64,
    /// Told to drain: it claims no new executions.
    pub draining: bool,
    /// When it stopped gracefully, if it did.
    pub stopped_at: Option<i64>,
    /// Executions it holds leases on now.
    pub leases: i64,
}

/// `GET /v1/nodes`: the nodes that beat in the last minute, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeList {
    /// The node that answered.
    pub this_node: String,
    /// Every node, this one too.
    pub nodes: Vec<NodeInfo>,
}

/// `PUT /v1/schedules/{name}`: what a schedule made over the API does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// A cron expression: five fields (minute hour day-of-month month day-of-week), or six
    /// with seconds first; `@hourly`, `@daily` and the like.
    #[schemars(length(min = 1, max = 256))]
    pub cron: String,
    /// The IANA time zone the expression is read in (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// The procedure or workflow it calls, by name.
    pub procedure: String,
    /// Its arguments: a JSON object by parameter name (default none).
    #[serde(default)]
    pub args: Option<Map<String, Value>>,
    /// What becomes of ticks missed while no node ran: fire the latest once, or skip them.
    #[serde(default)]
    pub missed: Option<crate::schedule::Missed>,
}

/// One cron schedule and when it fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleInfo {
    /// Its name: `{component}.{name}` for one a component's manifest declares.
    pub name: String,
    /// The component whose manifest declares it; null for one made over the API.
    pub component: Option<String>,
    /// The cron expression.
    pub cron: String,
    /// The time zone it is read in.
    pub timezone: String,
    /// The procedure or workflow it calls.
    pub procedure: String,
    /// Its arguments.
    pub args: Value,
    /// What becomes of missed ticks.
    pub missed: crate::schedule::Missed,
    /// The next ticks (RFC 3339, UTC), the first the one it waits for.
    pub next: Vec<String>,
    /// The last tick it fired (RFC 3339, UTC), if any.
    pub last_fired: Option<String>,
    /// What the last firing did: the execution it started, or how the call went.
    pub last_outcome: Option<String>,
    /// How many ticks it has fired.
    pub fired: i64,
}

/// `GET /v1/schedules`: the tenant's schedules by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleList {
    /// The schedules.
    pub schedules: Vec<ScheduleInfo>,
}

/// One procedure's calls on the node that answers, since it started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProcedureStatsInfo {
    /// The procedure (a workflow's steps count as calls of the procedures they call).
    pub procedure: String,
    /// Calls, whatever their outcome.
    pub calls: u64,
    /// Calls that did not answer ok (any error kind).
    pub errors: u64,
    /// Half the calls took at most this long, in ms (the upper bound of a latency bucket:
    /// 0.1 ms doubling); null without calls.
    pub p50_ms: Option<f64>,
    /// 99 in 100 calls took at most this long, in ms; null without calls or past about
    /// 7 minutes.
    pub p99_ms: Option<f64>,
}

/// `GET /v1/stats`: the tenant's procedure calls on this node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatsList {
    /// When this node started counting (ms since the Unix epoch): its start.
    pub since: i64,
    /// By procedure name.
    pub procedures: Vec<ProcedureStatsInfo>,
}
