//! The host's own endpoints in `/openapi.json` (components, procedures, workflows and
//! executions, health): their answers described from the [`crate::api`] types the handlers
//! build, so the document and the API cannot drift apart.

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::api::{
    AuditList, Catalogue, ComponentInfo, ComponentList, ConfigChange, ConfigInfo, CreatedKey,
    ExecutionInfo, ExecutionList, HealthInfo, KeyList, KvKeyList, NewKey, NewTenant, NodeList,
    ProblemBody, RollbackRequest, RunningInfo, ScheduleInfo, ScheduleList, ScheduleRequest,
    SignalInfo, StartedInfo, StatsList, TenantInfo, TenantList, VersionList,
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

/// Add the management endpoints to `paths`, their tag to `tags` and the schemas of their
/// answers to `schemas`.
pub(crate) fn add(
    paths: &mut Map<String, Value>,
    tags: &mut Vec<Value>,
    schemas: &mut Map<String, Value>,
) {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let g = &mut generator;
    tags.push(json!({ "name": "tsdev", "description": "The host's own API: components, workflows, executions, health." }));
    // Referenced by every problem answer, and by the 202 of a workflow's call.
    g.subschema_for::<ProblemBody>();
    g.subschema_for::<RunningInfo>();
    let not_found = || problem_response("not-found");
    let status_schema =
        serde_json::to_value(g.subschema_for::<ExecutionStatus>()).unwrap_or(Value::Null);

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
            ("413", problem_response("too-large: over the upload limit")),
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
    paths.insert(
        "/v1/components".into(),
        json!({
            "get": operation("components.list", "Every deployed component.", responses(vec![("200", answer::<ComponentList>(g, "The components."))])),
            "post": upload,
        }),
    );
    let name = path_param("name", "The component's name.", component_name());
    let mut show = operation(
        "components.show",
        "A component, with the JSON Schemas of its procedures.",
        responses(vec![
            ("200", answer::<ComponentInfo>(g, "The component.")),
            ("404", not_found()),
        ]),
    );
    show["parameters"] = json!([name.clone()]);
    let mut remove = operation(
        "components.delete",
        "Remove a component (versions that unfinished executions run on stay until they end).",
        responses(vec![
            ("204", json!({ "description": "Removed." })),
            ("404", not_found()),
        ]),
    );
    remove["parameters"] = json!([name]);
    paths.insert(
        "/v1/components/{name}".into(),
        json!({ "get": show, "delete": remove }),
    );
    let mut versions = operation(
        "components.versions",
        "The kept versions of a component, newest first.",
        responses(vec![
            ("200", answer::<VersionList>(g, "Its versions.")),
            ("404", not_found()),
        ]),
    );
    versions["parameters"] = json!([name.clone()]);
    paths.insert(
        "/v1/components/{name}/versions".into(),
        json!({ "get": versions }),
    );
    let mut config = operation(
        "components.config",
        "A component's config values and the names of its secrets (their values are never shown).",
        responses(vec![
            ("200", answer::<ConfigInfo>(g, "Its config.")),
            ("404", not_found()),
        ]),
    );
    config["parameters"] = json!([name.clone()]);
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
    set_config["parameters"] = json!([name.clone()]);
    let change_schema =
        serde_json::to_value(g.subschema_for::<ConfigChange>()).unwrap_or(Value::Null);
    set_config["requestBody"] = json!({
        "required": true,
        "content": { "application/json": { "schema": change_schema } },
    });
    paths.insert(
        "/v1/components/{name}/config".into(),
        json!({ "get": config, "put": set_config }),
    );
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
    rollback["parameters"] = json!([name.clone()]);
    let rollback_schema =
        serde_json::to_value(g.subschema_for::<RollbackRequest>()).unwrap_or(Value::Null);
    rollback["requestBody"] = json!({
        "required": false,
        "content": { "application/json": { "schema": rollback_schema } },
    });
    paths.insert(
        "/v1/components/{name}/rollback".into(),
        json!({ "post": rollback }),
    );

    paths.insert(
        "/procedures".into(),
        json!({ "get": operation("procedures", "Every procedure with its WIT signature and JSON Schemas.", responses(vec![("200", answer::<Catalogue>(g, "The catalogue."))])) }),
    );
    for (path, id, summary) in [
        ("/health", "health", "The process is up."),
        (
            "/ready",
            "ready",
            "The store commits writes and the registry is loaded.",
        ),
    ] {
        let mut list = vec![("200", answer::<HealthInfo>(g, "Up."))];
        if path == "/ready" {
            list.push(("503", problem_response("not-ready")));
        }
        paths.insert(
            path.into(),
            json!({ "get": operation(id, summary, responses(list)) }),
        );
    }

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
    paths.insert(
        "/v1/workflows/{name}/executions".into(),
        json!({ "post": start }),
    );

    let mut list = operation(
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
    list["parameters"] = json!([
        query_param(
            "workflow",
            "Only this workflow's.",
            json!({ "type": "string" })
        ),
        query_param("status", "Only those in this status.", status_schema),
        query_param(
            "limit",
            "At most this many (1 to 100; default 20).",
            json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX })
        ),
        query_param(
            "after",
            "The `next` cursor of the previous page.",
            json!({ "type": "string" })
        ),
    ]);
    paths.insert("/v1/executions".into(), json!({ "get": list }));
    let id = path_param("id", "The execution's id.", json!({ "type": "string" }));
    let mut show = operation(
        "executions.show",
        "An execution with its journaled steps.",
        responses(vec![
            ("200", answer::<ExecutionInfo>(g, "The execution.")),
            ("404", not_found()),
        ]),
    );
    show["parameters"] = json!([id.clone()]);
    paths.insert("/v1/executions/{id}".into(), json!({ "get": show }));
    let mut cancel = operation(
        "executions.cancel",
        "Cancel an unfinished execution.",
        responses(vec![
            ("200", answer::<ExecutionInfo>(g, "Cancelled.")),
            ("404", not_found()),
            ("409", problem_response("already-finished")),
        ]),
    );
    cancel["parameters"] = json!([id.clone()]);
    paths.insert(
        "/v1/executions/{id}/cancel".into(),
        json!({ "post": cancel }),
    );
    let mut events = operation(
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
    events["parameters"] = json!([id.clone()]);
    paths.insert(
        "/v1/executions/{id}/events".into(),
        json!({ "get": events }),
    );
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
        id,
        path_param(
            "name",
            "The signal's name.",
            json!({ "type": "string", "minLength": 1, "maxLength": 128 })
        )
    ]);
    signal["requestBody"] =
        json!({ "required": false, "content": { "application/json": { "schema": {} } } });
    paths.insert(
        "/v1/executions/{id}/signals/{name}".into(),
        json!({ "post": signal }),
    );

    add_tenants(paths, g);
    add_nodes(paths, g);
    add_kv(paths, g);
    add_schedules(paths, g);

    // Every management endpoint needs a key (when keys are on): say how it refuses.
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/v1/") && path != "/metrics" {
            continue;
        }
        if let Value::Object(operations) = item {
            for operation in operations.values_mut() {
                let responses = &mut operation["responses"];
                responses["401"] = problem_response(
                    "unauthenticated: no key, or one that is malformed, unknown, expired or revoked",
                );
                responses["403"] = problem_response("forbidden: the key lacks the scope named");
                // Any request of a tenant's key counts toward its requests per second.
                if responses.get("429").is_none() {
                    responses["429"] = problem_response(
                        "quota-exceeded: the tenant's requests_per_second (the admin key is not held to it)",
                    );
                }
                operation["security"] = json!([{ "bearer": [] }]);
            }
        }
    }
    schemas.extend(generator.take_definitions(true));
}

/// The bearer scheme of API keys, for `components.securitySchemes`.
pub(crate) fn security_schemes() -> Value {
    json!({ "bearer": { "type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer tsdev_…`." } })
}

/// A JSON request body of type `T`.
fn request<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    let schema = serde_json::to_value(generator.subschema_for::<T>()).unwrap_or(Value::Null);
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// `/v1/tenants`, their keys, and `/v1/audit`.
fn add_tenants(paths: &mut Map<String, Value>, g: &mut SchemaGenerator) {
    let not_found = || problem_response("not-found");
    let tenant_name = json!({ "type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$" });
    let tenant = path_param("tenant", "The tenant's name.", tenant_name);

    let mut create = operation(
        "tenants.create",
        "Create a tenant (admin).",
        responses(vec![
            ("201", answer::<TenantInfo>(g, "Created.")),
            ("400", problem_response("invalid-args")),
            ("409", problem_response("already-exists")),
        ]),
    );
    create["requestBody"] = request::<NewTenant>(g);
    paths.insert(
        "/v1/tenants".into(),
        json!({
            "get": operation("tenants.list", "Every tenant (admin).", responses(vec![("200", answer::<TenantList>(g, "The tenants."))])),
            "post": create,
        }),
    );
    let mut show = operation(
        "tenants.show",
        "A tenant (admin, or its own keys with scope read).",
        responses(vec![
            ("200", answer::<TenantInfo>(g, "The tenant.")),
            ("404", not_found()),
        ]),
    );
    show["parameters"] = json!([tenant.clone()]);
    let mut remove = operation(
        "tenants.delete",
        "Delete a tenant (admin): its components and keys go, its executions are cancelled. `default` cannot be deleted (403).",
        responses(vec![
            ("204", json!({ "description": "Deleted." })),
            ("404", not_found()),
        ]),
    );
    remove["parameters"] = json!([tenant.clone()]);
    let mut update = operation(
        "tenants.update",
        "Change a tenant's quotas (admin); those left out stay.",
        responses(vec![
            (
                "200",
                answer::<TenantInfo>(g, "The tenant with its quotas."),
            ),
            ("400", problem_response("invalid-args")),
            ("404", not_found()),
        ]),
    );
    update["parameters"] = json!([tenant.clone()]);
    update["requestBody"] = request::<QuotaChange>(g);
    paths.insert(
        "/v1/tenants/{tenant}".into(),
        json!({ "get": show, "delete": remove, "patch": update }),
    );

    let mut create_key = operation(
        "keys.create",
        "Create an API key in the tenant; the answer is the only one that holds the key.",
        responses(vec![
            ("201", answer::<CreatedKey>(g, "Created: keep the key now.")),
            ("400", problem_response("invalid-args")),
            ("404", not_found()),
        ]),
    );
    create_key["parameters"] = json!([tenant.clone()]);
    create_key["requestBody"] = request::<NewKey>(g);
    let mut list_keys = operation(
        "keys.list",
        "The tenant's keys (never the keys themselves).",
        responses(vec![
            ("200", answer::<KeyList>(g, "The keys.")),
            ("404", not_found()),
        ]),
    );
    list_keys["parameters"] = json!([tenant.clone()]);
    paths.insert(
        "/v1/tenants/{tenant}/keys".into(),
        json!({ "get": list_keys, "post": create_key }),
    );
    let mut revoke = operation(
        "keys.revoke",
        "Revoke a key, at once.",
        responses(vec![
            ("204", json!({ "description": "Revoked." })),
            ("404", not_found()),
        ]),
    );
    revoke["parameters"] = json!([
        tenant,
        path_param("id", "The key's id.", json!({ "type": "string" }))
    ]);
    paths.insert(
        "/v1/tenants/{tenant}/keys/{id}".into(),
        json!({ "delete": revoke }),
    );

    let mut audit = operation(
        "audit.list",
        "The audit log, newest first: the caller's tenant's entries (an admin's: every tenant's).",
        responses(vec![
            ("200", answer::<AuditList>(g, "A page.")),
            ("400", problem_response("invalid-query")),
        ]),
    );
    // Query values are read as i64: say so, or a valid-looking 1e20 would be refused.
    let integer = || json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX });
    audit["parameters"] = json!([
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
            integer()
        ),
        query_param("until", "Entries before this time.", integer()),
        query_param("before", "The `next` of the previous page.", integer()),
        query_param(
            "limit",
            "At most this many (1 to 500; default 100).",
            integer()
        ),
    ]);
    paths.insert("/v1/audit".into(), json!({ "get": audit }));
}

/// `/v1/kv`: a tenant's key-value data.
fn add_kv(paths: &mut Map<String, Value>, g: &mut SchemaGenerator) {
    let bucket = path_param(
        "bucket",
        "A bucket named in a component's `[grants] key-value`.",
        json!({ "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" }),
    );
    let key = path_param(
        "key",
        "The key (may hold `/`).",
        json!({ "type": "string", "minLength": 1, "maxLength": crate::limits::MAX_KV_KEY_BYTES }),
    );
    let mut list = operation(
        "kv.list",
        "Keys of a bucket in order, a page at a time (scope read).",
        responses(vec![
            ("200", answer::<KvKeyList>(g, "One page of keys.")),
            ("400", problem_response("invalid-args or invalid-query")),
        ]),
    );
    list["parameters"] = json!([
        bucket.clone(),
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
    ]);
    paths.insert("/v1/kv/{bucket}".into(), json!({ "get": list }));
    let bytes = json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } });
    let mut get = operation(
        "kv.get",
        "A value's bytes (scope read).",
        responses(vec![
            (
                "200",
                json!({ "description": "The value.", "content": bytes.clone() }),
            ),
            ("400", problem_response("invalid-args")),
            ("404", problem_response("not-found")),
        ]),
    );
    get["parameters"] = json!([bucket.clone(), key.clone()]);
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
    put["parameters"] = json!([bucket.clone(), key.clone()]);
    // An empty body is an empty value.
    put["requestBody"] = json!({ "required": false, "content": bytes });
    let mut delete = operation(
        "kv.delete",
        "Delete a key (scope operate).",
        responses(vec![
            ("204", json!({ "description": "Deleted." })),
            ("400", problem_response("invalid-args")),
            ("404", problem_response("not-found")),
        ]),
    );
    delete["parameters"] = json!([bucket, key]);
    paths.insert(
        "/v1/kv/{bucket}/{key}".into(),
        json!({ "get": get, "put": put, "delete": delete }),
    );
}

/// `/v1/schedules`: a tenant's cron schedules.
fn add_schedules(paths: &mut Map<String, Value>, g: &mut SchemaGenerator) {
    paths.insert(
        "/v1/schedules".into(),
        json!({ "get": operation(
            "schedules.list",
            "The tenant's cron schedules, with their next ticks and last outcome (scope read).",
            responses(vec![("200", answer::<ScheduleList>(g, "The schedules, by name."))]),
        ) }),
    );
    let name = path_param(
        "name",
        "The schedule's name; `{component}.{name}` for one a manifest declares.",
        json!({ "type": "string", "minLength": 1 }),
    );
    let mut show = operation(
        "schedules.show",
        "One schedule (scope read).",
        responses(vec![
            ("200", answer::<ScheduleInfo>(g, "The schedule.")),
            ("404", problem_response("not-found")),
        ]),
    );
    show["parameters"] = json!([name.clone()]);
    let request = serde_json::to_value(g.subschema_for::<ScheduleRequest>()).unwrap_or(Value::Null);
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
    put["parameters"] = json!([name.clone()]);
    put["requestBody"] =
        json!({ "required": true, "content": { "application/json": { "schema": request } } });
    let mut delete = operation(
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
    delete["parameters"] = json!([name]);
    paths.insert(
        "/v1/schedules/{name}".into(),
        json!({ "get": show, "put": put, "delete": delete }),
    );
}

/// `/v1/nodes` and draining one.
fn add_nodes(paths: &mut Map<String, Value>, g: &mut SchemaGenerator) {
    paths.insert(
        "/v1/nodes".into(),
        json!({ "get": operation(
            "nodes.list",
            "The nodes sharing the store that beat in the last minute, with the leases each holds (admin).",
            responses(vec![("200", answer::<NodeList>(g, "The nodes."))]),
        ) }),
    );
    let mut drain = operation(
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
    drain["parameters"] = json!([path_param(
        "id",
        "The node's id (`GET /v1/nodes`).",
        json!({ "type": "string" })
    )]);
    paths.insert("/v1/nodes/{id}/drain".into(), json!({ "post": drain }));
    let metrics = operation(
        "metrics",
        "The host's metrics in the Prometheus (OpenMetrics) text format (admin). Series and labels: docs/operations.md.",
        responses(vec![(
            "200",
            json!({ "description": "Every metric.", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } }),
        )]),
    );
    paths.insert("/metrics".into(), json!({ "get": metrics }));
    paths.insert(
        "/v1/stats".into(),
        json!({ "get": operation(
            "stats",
            "Calls, errors and latency percentiles of the tenant's procedures on this node since it started (scope read).",
            responses(vec![("200", answer::<StatsList>(g, "By procedure."))]),
        ) }),
    );
}
