//! The host's own endpoints in `/openapi.json` (components, procedures, workflows and
//! executions, health): their answers described from the [`crate::api`] types the handlers
//! build, so the document and the API cannot drift apart.

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::api::{
    Catalogue, ComponentInfo, ComponentList, ExecutionInfo, ExecutionList, HealthInfo, ProblemBody,
    RunningInfo, SignalInfo, StartedInfo,
};
use crate::store::ExecutionStatus;

/// A problem answer (schema `ProblemBody`) described for one status.
pub fn problem_response(description: &str) -> Value {
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
pub fn add(
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
            json!({ "type": "integer" })
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

    schemas.extend(generator.take_definitions(true));
}
