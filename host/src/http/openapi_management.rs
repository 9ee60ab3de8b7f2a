//! The OpenAPI operation of each of the host's own endpoints (components, procedures,
//! workflows and executions, tenants, key-value, schedules, nodes, health), one function
//! each, named in the endpoint's row of [`super::endpoints::ENDPOINTS`]: answers described
//! from the [`crate::api`] types the handlers build, so the document and the API cannot
//! drift apart. `endpoints::add_operations` puts them in `/openapi.json`.

use schemars::JsonSchema;
use schemars::generate::SchemaGenerator;
use serde_json::{Map, Value, json};

use crate::api::{
    AuditList, Catalogue, ComponentInfo, ComponentList, ConfigChange, ConfigInfo, CreatedKey,
    ExecutionInfo, ExecutionList, HealthInfo, KeyList, KvKeyList, NewKey, NewTenant, NodeList,
    RollbackRequest, ScheduleInfo, ScheduleList, ScheduleRequest, SignalInfo, StartedInfo,
    StatsList, TenantChange, TenantInfo, TenantList, VersionList,
};
use crate::quota::QuotaChange;
use crate::store::ExecutionStatus;

/// A problem answer (schema `ProblemBody`) described for one status.
pub(crate) fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/ProblemBody" } } },
    })
}

/// A JSON answer of type `T`.
fn answer<T: JsonSchema>(generator: &mut SchemaGenerator, description: &str) -> Value {
    let schema = serde_json::to_value(generator.subschema_for::<T>()).unwrap_or(Value::Null);
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn path_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

/// A component name, as `registry::check_name` accepts it.
fn component_name() -> Value {
    json!({ "type": "string", "pattern": "^[a-z][a-z0-9-]{0,63}$" })
}

fn operation(id: &str, summary: &str, responses: Map<String, Value>) -> Value {
    json!({ "operationId": id, "tags": ["tsdev"], "summary": summary, "responses": responses })
}

fn responses(list: Vec<(&str, Value)>) -> Map<String, Value> {
    list.into_iter().map(|(s, v)| (s.to_string(), v)).collect()
}

/// A JSON request body of type `T`.
fn request<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    let schema = serde_json::to_value(generator.subschema_for::<T>()).unwrap_or(Value::Null);
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// `operation` with `parameters`.
fn with_parameters(mut operation: Value, parameters: Value) -> Value {
    operation["parameters"] = parameters;
    operation
}

fn not_found() -> Value {
    problem_response("not-found")
}

fn component_param() -> Value {
    path_param("name", "The component's name.", component_name())
}

fn tenant_param() -> Value {
    let tenant_name = json!({ "type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$" });
    path_param("tenant", "The tenant's name.", tenant_name)
}

fn execution_param() -> Value {
    path_param("id", "The execution's id.", json!({ "type": "string" }))
}

/// An integer query value, read as i64: say so, or a valid-looking 1e20 would be refused.
fn any_integer() -> Value {
    json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX })
}

// Components.

pub(super) fn components_upload(g: &mut SchemaGenerator) -> Value {
    let mut upload = operation(
        "components.upload",
        "Upload a component; a new version replaces the old one atomically.",
        responses(vec![
            ("201", answer::<ComponentInfo>(g, "Deployed.")),
            (
                "400",
                problem_response("invalid-name, invalid-query or invalid-limits"),
            ),
            (
                "409",
                problem_response("procedure-conflict or route-conflict"),
            ),
            (
                "413",
                problem_response(
                    "too-large: over the upload limit (with or without Content-Length)",
                ),
            ),
            (
                "415",
                problem_response("not-wasm or unsupported-media-type"),
            ),
            (
                "422",
                problem_response(
                    "not-a-component, invalid-component, type-too-complex, unsupported-import or invalid-manifest",
                ),
            ),
        ]),
    );
    upload["parameters"] = json!([
        query_param(
            "name",
            "The component's name (default: its manifest's).",
            component_name()
        ),
        query_param(
            "fuel",
            "Fuel per call.",
            json!({ "type": "integer", "minimum": 1 })
        ),
        query_param(
            "memory_mib",
            "Memory per call, in MiB.",
            json!({ "type": "integer", "minimum": 1 })
        ),
        query_param(
            "timeout_ms",
            "Wall-clock time per call, in ms.",
            json!({ "type": "integer", "minimum": 1 })
        ),
    ]);
    upload["requestBody"] = json!({
        "required": true,
        "content": {
            "application/wasm": { "schema": { "type": "string", "format": "binary" } },
            "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
        },
    });
    upload
}

pub(super) fn components_list(g: &mut SchemaGenerator) -> Value {
    operation(
        "components.list",
        "Every deployed component.",
        responses(vec![("200", answer::<ComponentList>(g, "The components."))]),
    )
}

pub(super) fn components_show(g: &mut SchemaGenerator) -> Value {
    let show = operation(
        "components.show",
        "A component, with the JSON Schemas of its procedures.",
        responses(vec![
            ("200", answer::<ComponentInfo>(g, "The component.")),
            ("404", not_found()),
        ]),
    );
    with_parameters(show, json!([component_param()]))
}

pub(super) fn components_delete(_: &mut SchemaGenerator) -> Value {
    let remove = operation(
        "components.delete",
        "Remove a component (versions that unfinished executions run on stay until they end).",
        responses(vec![
            ("204", json!({ "description": "Removed." })),
            ("404", not_found()),
        ]),
    );
    with_parameters(remove, json!([component_param()]))
}

pub(super) fn components_versions(g: &mut SchemaGenerator) -> Value {
    let versions = operation(
        "components.versions",
        "The kept versions of a component, newest first.",
        responses(vec![
            ("200", answer::<VersionList>(g, "Its versions.")),
            ("404", not_found()),
        ]),
    );
    with_parameters(versions, json!([component_param()]))
}

pub(super) fn components_config(g: &mut SchemaGenerator) -> Value {
    let config = operation(
        "components.config",
        "A component's config values and the names of its secrets (their values are never shown).",
        responses(vec![
            ("200", answer::<ConfigInfo>(g, "Its config.")),
            ("404", not_found()),
        ]),
    );
    with_parameters(config, json!([component_param()]))
}

pub(super) fn components_config_set(g: &mut SchemaGenerator) -> Value {
    let mut set_config = operation(
        "components.config.set",
        "Set config values and secrets (`null` deletes a key); the component sees them from its next call, no redeploy.",
        responses(vec![
            ("200", answer::<ConfigInfo>(g, "Its config now.")),
            (
                "400",
                problem_response(
                    "bad-body or invalid-args (a key, a value too large, too many keys)",
                ),
            ),
            ("404", not_found()),
            ("409", problem_response("too-many-keys (256 a component)")),
            ("413", problem_response("too-large")),
        ]),
    );
    set_config["parameters"] = json!([component_param()]);
    set_config["requestBody"] = request::<ConfigChange>(g);
    set_config
}

pub(super) fn components_rollback(g: &mut SchemaGenerator) -> Value {
    let mut rollback = operation(
        "components.rollback",
        "Make a kept version current again (default: the newest before the current one).",
        responses(vec![
            ("200", answer::<ComponentInfo>(g, "Rolled back.")),
            (
                "400",
                problem_response(
                    "bad-body, invalid-args (a prefix naming several versions) or invalid-limits",
                ),
            ),
            (
                "404",
                problem_response("not-found: no such component or kept version"),
            ),
            (
                "409",
                problem_response("procedure-conflict or route-conflict"),
            ),
            ("429", problem_response("quota-exceeded")),
        ]),
    );
    rollback["parameters"] = json!([component_param()]);
    let mut body = request::<RollbackRequest>(g);
    body["required"] = json!(false);
    rollback["requestBody"] = body;
    rollback
}

// Procedures and health.

pub(super) fn procedures(g: &mut SchemaGenerator) -> Value {
    operation(
        "procedures",
        "Every procedure with its WIT signature and JSON Schemas.",
        responses(vec![("200", answer::<Catalogue>(g, "The catalogue."))]),
    )
}

pub(super) fn health(g: &mut SchemaGenerator) -> Value {
    operation(
        "health",
        "The process is up.",
        responses(vec![("200", answer::<HealthInfo>(g, "Up."))]),
    )
}

pub(super) fn ready(g: &mut SchemaGenerator) -> Value {
    operation(
        "ready",
        "The store commits writes and the registry is loaded.",
        responses(vec![
            ("200", answer::<HealthInfo>(g, "Up.")),
            ("503", problem_response("not-ready")),
        ]),
    )
}

// Workflows and executions.

pub(super) fn workflows_start(g: &mut SchemaGenerator) -> Value {
    let mut start = operation(
        "workflows.start",
        "Start an execution of a workflow (with Idempotency-Key: at most once per key).",
        responses(vec![
            ("201", answer::<StartedInfo>(g, "Started.")),
            (
                "200",
                answer::<StartedInfo>(g, "Started before with the same key."),
            ),
            (
                "400",
                problem_response("invalid-args, not-a-workflow or invalid-idempotency-key"),
            ),
            ("404", not_found()),
            ("409", problem_response("idempotency-conflict")),
        ]),
    );
    start["parameters"] = json!([
        path_param("name", "The workflow's procedure name.", json!({ "type": "string" })),
        { "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string", "minLength": 1, "maxLength": 256 } },
    ]);
    start["requestBody"] = json!({
        "required": false,
        "content": { "application/json": { "schema": { "type": "object", "description": "The arguments, keyed by parameter name." } } },
    });
    start
}

pub(super) fn executions_list(g: &mut SchemaGenerator) -> Value {
    let status_schema =
        serde_json::to_value(g.subschema_for::<ExecutionStatus>()).unwrap_or(Value::Null);
    let list = operation(
        "executions.list",
        "Executions, newest first, paged.",
        responses(vec![
            ("200", answer::<ExecutionList>(g, "A page.")),
            ("400", problem_response("invalid-query")),
            (
                "404",
                problem_response("not-found: `after` names no execution"),
            ),
        ]),
    );
    with_parameters(
        list,
        json!([
            query_param(
                "workflow",
                "Only this workflow's.",
                json!({ "type": "string" })
            ),
            query_param("status", "Only those in this status.", status_schema),
            query_param(
                "limit",
                "At most this many (1 to 100; default 20).",
                any_integer()
            ),
            query_param(
                "after",
                "The `next` cursor of the previous page.",
                json!({ "type": "string" })
            ),
        ]),
    )
}

pub(super) fn executions_show(g: &mut SchemaGenerator) -> Value {
    let show = operation(
        "executions.show",
        "An execution with its journaled steps.",
        responses(vec![
            ("200", answer::<ExecutionInfo>(g, "The execution.")),
            ("404", not_found()),
        ]),
    );
    with_parameters(show, json!([execution_param()]))
}

pub(super) fn executions_cancel(g: &mut SchemaGenerator) -> Value {
    let cancel = operation(
        "executions.cancel",
        "Cancel an unfinished execution.",
        responses(vec![
            ("200", answer::<ExecutionInfo>(g, "Cancelled.")),
            ("404", not_found()),
            ("409", problem_response("already-finished")),
        ]),
    );
    with_parameters(cancel, json!([execution_param()]))
}

pub(super) fn executions_events(_: &mut SchemaGenerator) -> Value {
    let events = operation(
        "executions.events",
        "Server-Sent Events as the execution moves: `step` and `status`.",
        responses(vec![
            (
                "200",
                json!({
                    "description": "The event stream: `step` events (data: a StepInfo), `status` events (data: a StatusEvent), an `error` event if the stream must end early.",
                    "content": { "text/event-stream": { "schema": {
                        "type": "object",
                        "properties": {
                            "event": { "enum": ["step", "status", "error"] },
                            "data": { "type": "string" },
                        },
                        "required": ["data"],
                    } } },
                }),
            ),
            ("404", not_found()),
            (
                "503",
                problem_response("busy: too many event streams are open"),
            ),
        ]),
    );
    with_parameters(events, json!([execution_param()]))
}

pub(super) fn executions_signal(g: &mut SchemaGenerator) -> Value {
    let mut signal = operation(
        "executions.signal",
        "Send a signal with a JSON payload; the execution's next wait for it receives it.",
        responses(vec![
            ("202", answer::<SignalInfo>(g, "Kept for the execution.")),
            ("400", problem_response("invalid-args")),
            ("404", not_found()),
            ("409", problem_response("already-finished")),
            ("413", problem_response("too-large")),
        ]),
    );
    signal["parameters"] = json!([
        execution_param(),
        path_param(
            "name",
            "The signal's name.",
            json!({ "type": "string", "minLength": 1, "maxLength": 128 })
        )
    ]);
    signal["requestBody"] =
        json!({ "required": false, "content": { "application/json": { "schema": {} } } });
    signal
}

// Tenants, keys, the audit log.

pub(super) fn tenants_create(g: &mut SchemaGenerator) -> Value {
    let mut create = operation(
        "tenants.create",
        "Create a tenant (admin), with quotas other than the defaults if given.",
        responses(vec![
            ("201", answer::<TenantInfo>(g, "Created.")),
            ("400", problem_response("invalid-args")),
            ("409", problem_response("already-exists")),
        ]),
    );
    create["requestBody"] = request::<NewTenant>(g);
    create
}

pub(super) fn tenants_list(g: &mut SchemaGenerator) -> Value {
    operation(
        "tenants.list",
        "Every tenant (admin).",
        responses(vec![("200", answer::<TenantList>(g, "The tenants."))]),
    )
}

pub(super) fn tenants_show(g: &mut SchemaGenerator) -> Value {
    let show = operation(
        "tenants.show",
        "A tenant (admin, or its own keys with scope read).",
        responses(vec![
            ("200", answer::<TenantInfo>(g, "The tenant.")),
            ("404", not_found()),
        ]),
    );
    with_parameters(show, json!([tenant_param()]))
}

pub(super) fn tenants_delete(_: &mut SchemaGenerator) -> Value {
    let remove = operation(
        "tenants.delete",
        "Delete a tenant (admin): its components and keys go, its executions are cancelled. `default` cannot be deleted (403).",
        responses(vec![
            ("204", json!({ "description": "Deleted." })),
            ("404", not_found()),
        ]),
    );
    with_parameters(remove, json!([tenant_param()]))
}

pub(super) fn tenants_update(g: &mut SchemaGenerator) -> Value {
    let mut update = operation(
        "tenants.update",
        "Change a tenant's quotas (admin): `{\"quotas\": {...}}`, the shape of tenants.create; quotas left out stay. One conditional write: concurrent changes of different quotas all stand.",
        responses(vec![
            (
                "200",
                answer::<TenantInfo>(g, "The tenant with its quotas."),
            ),
            ("400", problem_response("invalid-args")),
            ("404", not_found()),
        ]),
    );
    update["parameters"] = json!([tenant_param()]);
    // The quotas alone, flat, are what older clients send: read the same.
    let wrapped = serde_json::to_value(g.subschema_for::<TenantChange>()).unwrap_or(Value::Null);
    let flat = serde_json::to_value(g.subschema_for::<QuotaChange>()).unwrap_or(Value::Null);
    update["requestBody"] = json!({
        "required": true,
        "content": { "application/json": { "schema": {
            "oneOf": [wrapped, { "description": "The quotas alone (as older clients send them).", "allOf": [flat] }],
        } } },
    });
    update
}

pub(super) fn keys_create(g: &mut SchemaGenerator) -> Value {
    let mut create_key = operation(
        "keys.create",
        "Create an API key in the tenant; the answer is the only one that holds the key.",
        responses(vec![
            ("201", answer::<CreatedKey>(g, "Created: keep the key now.")),
            ("400", problem_response("invalid-args")),
            ("404", not_found()),
        ]),
    );
    create_key["parameters"] = json!([tenant_param()]);
    create_key["requestBody"] = request::<NewKey>(g);
    create_key
}

pub(super) fn keys_list(g: &mut SchemaGenerator) -> Value {
    let list_keys = operation(
        "keys.list",
        "The tenant's keys (never the keys themselves).",
        responses(vec![
            ("200", answer::<KeyList>(g, "The keys.")),
            ("404", not_found()),
        ]),
    );
    with_parameters(list_keys, json!([tenant_param()]))
}

pub(super) fn keys_revoke(_: &mut SchemaGenerator) -> Value {
    let revoke = operation(
        "keys.revoke",
        "Revoke a key, at once.",
        responses(vec![
            ("204", json!({ "description": "Revoked." })),
            ("404", not_found()),
        ]),
    );
    with_parameters(
        revoke,
        json!([
            tenant_param(),
            path_param("id", "The key's id.", json!({ "type": "string" }))
        ]),
    )
}

pub(super) fn audit_list(g: &mut SchemaGenerator) -> Value {
    let audit = operation(
        "audit.list",
        "The audit log, newest first: the caller's tenant's entries (an admin's: every tenant's). Refusals of callers without a valid key are counted (`repeats`), not kept one by one.",
        responses(vec![
            ("200", answer::<AuditList>(g, "A page.")),
            ("400", problem_response("invalid-query")),
        ]),
    );
    with_parameters(
        audit,
        json!([
            query_param(
                "tenant",
                "Admin only: one tenant's entries.",
                json!({ "type": "string" })
            ),
            query_param(
                "action",
                "Only this action (`component.deploy`, `key.create`, …).",
                json!({ "type": "string" })
            ),
            query_param(
                "since",
                "Entries at or after this time (ms since the Unix epoch).",
                any_integer()
            ),
            query_param("until", "Entries before this time.", any_integer()),
            query_param("before", "The `next` of the previous page.", any_integer()),
            query_param(
                "limit",
                "At most this many (1 to 500; default 100).",
                any_integer()
            ),
        ]),
    )
}

// Key-value data.

fn bucket_param() -> Value {
    path_param(
        "bucket",
        "A bucket named in a component's `[grants] key-value`.",
        json!({ "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" }),
    )
}

fn kv_key_param() -> Value {
    path_param(
        "key",
        "The key (may hold `/`).",
        json!({ "type": "string", "minLength": 1, "maxLength": crate::limits::MAX_KV_KEY_BYTES }),
    )
}

fn bytes_content() -> Value {
    json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } })
}

pub(super) fn kv_list(g: &mut SchemaGenerator) -> Value {
    let list = operation(
        "kv.list",
        "Keys of a bucket in order, a page at a time (scope read).",
        responses(vec![
            ("200", answer::<KvKeyList>(g, "One page of keys.")),
            ("400", problem_response("invalid-args or invalid-query")),
        ]),
    );
    with_parameters(
        list,
        json!([
            bucket_param(),
            query_param(
                "prefix",
                "Only keys that start with this.",
                json!({ "type": "string" })
            ),
            query_param(
                "after",
                "Keys after this one: the `next` of the page before.",
                json!({ "type": "string" })
            ),
            query_param(
                "limit",
                "Keys per page.",
                json!({ "type": "integer", "minimum": 1, "maximum": crate::limits::KV_KEYS_PER_PAGE })
            ),
        ]),
    )
}

pub(super) fn kv_get(_: &mut SchemaGenerator) -> Value {
    let get = operation(
        "kv.get",
        "A value's bytes (scope read).",
        responses(vec![
            (
                "200",
                json!({ "description": "The value.", "content": bytes_content() }),
            ),
            ("400", problem_response("invalid-args")),
            ("404", problem_response("not-found")),
        ]),
    );
    with_parameters(get, json!([bucket_param(), kv_key_param()]))
}

pub(super) fn kv_set(_: &mut SchemaGenerator) -> Value {
    let mut put = operation(
        "kv.set",
        "Set a value to the body's bytes (scope operate).",
        responses(vec![
            ("204", json!({ "description": "Set." })),
            ("400", problem_response("invalid-args or bad-body")),
            ("413", problem_response("too-large")),
            ("429", problem_response("quota-exceeded (kv_bytes)")),
        ]),
    );
    put["parameters"] = json!([bucket_param(), kv_key_param()]);
    // An empty body is an empty value.
    put["requestBody"] = json!({ "required": false, "content": bytes_content() });
    put
}

pub(super) fn kv_delete(_: &mut SchemaGenerator) -> Value {
    let delete = operation(
        "kv.delete",
        "Delete a key (scope operate).",
        responses(vec![
            ("204", json!({ "description": "Deleted." })),
            ("400", problem_response("invalid-args")),
            ("404", problem_response("not-found")),
        ]),
    );
    with_parameters(delete, json!([bucket_param(), kv_key_param()]))
}

// Schedules.

fn schedule_param() -> Value {
    path_param(
        "name",
        "The schedule's name; `{component}.{name}` for one a manifest declares.",
        json!({ "type": "string", "minLength": 1 }),
    )
}

pub(super) fn schedules_list(g: &mut SchemaGenerator) -> Value {
    operation(
        "schedules.list",
        "The tenant's cron schedules, with their next ticks and last outcome (scope read).",
        responses(vec![(
            "200",
            answer::<ScheduleList>(g, "The schedules, by name."),
        )]),
    )
}

pub(super) fn schedules_show(g: &mut SchemaGenerator) -> Value {
    let show = operation(
        "schedules.show",
        "One schedule (scope read).",
        responses(vec![
            ("200", answer::<ScheduleInfo>(g, "The schedule.")),
            ("404", problem_response("not-found")),
        ]),
    );
    with_parameters(show, json!([schedule_param()]))
}

pub(super) fn schedules_set(g: &mut SchemaGenerator) -> Value {
    let mut put = operation(
        "schedules.set",
        "Make or replace a schedule of a procedure or workflow (scope deploy). A replaced one keeps its history, and its next tick when the expression and time zone are unchanged.",
        responses(vec![
            ("200", answer::<ScheduleInfo>(g, "Replaced.")),
            ("201", answer::<ScheduleInfo>(g, "Made.")),
            (
                "400",
                problem_response("invalid-schedule, invalid-args or bad-body"),
            ),
            ("404", problem_response("not-found: no such procedure")),
            ("413", problem_response("too-large")),
            ("429", problem_response("quota-exceeded (schedules)")),
        ]),
    );
    put["parameters"] = json!([schedule_param()]);
    put["requestBody"] = request::<ScheduleRequest>(g);
    put
}

pub(super) fn schedules_delete(_: &mut SchemaGenerator) -> Value {
    let delete = operation(
        "schedules.delete",
        "Delete a schedule made over the API (scope deploy); a manifest's goes with its [[schedule]].",
        responses(vec![
            ("204", json!({ "description": "Deleted." })),
            (
                "400",
                problem_response("invalid-schedule: declared by a manifest"),
            ),
            ("404", problem_response("not-found")),
        ]),
    );
    with_parameters(delete, json!([schedule_param()]))
}

// Nodes, metrics, stats.

pub(super) fn nodes_list(g: &mut SchemaGenerator) -> Value {
    operation(
        "nodes.list",
        "The nodes sharing the store that beat in the last minute, with the leases each holds (admin).",
        responses(vec![("200", answer::<NodeList>(g, "The nodes."))]),
    )
}

pub(super) fn nodes_drain(_: &mut SchemaGenerator) -> Value {
    let drain = operation(
        "nodes.drain",
        "Tell a node to drain (admin): from its next heartbeat it claims no new executions; its runs in progress go on.",
        responses(vec![
            (
                "202",
                json!({ "description": "The node drains from its next heartbeat." }),
            ),
            ("404", problem_response("not-found")),
        ]),
    );
    with_parameters(
        drain,
        json!([path_param(
            "id",
            "The node's id (`GET /v1/nodes`).",
            json!({ "type": "string" })
        )]),
    )
}

pub(super) fn metrics(_: &mut SchemaGenerator) -> Value {
    operation(
        "metrics",
        "The host's metrics in the Prometheus (OpenMetrics) text format (admin). Series and labels: docs/operations.md.",
        responses(vec![(
            "200",
            json!({ "description": "Every metric.", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } }),
        )]),
    )
}

pub(super) fn stats(g: &mut SchemaGenerator) -> Value {
    operation(
        "stats",
        "Calls, errors and latency percentiles of the tenant's procedures on this node since it started (scope read).",
        responses(vec![("200", answer::<StatsList>(g, "By procedure."))]),
    )
}
