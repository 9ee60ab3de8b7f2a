//! OpenAPI 3.1 for every procedure, generated from the same WIT-derived JSON Schemas the
//! host validates with. OpenAPI 3.1 schemas are JSON Schema 2020-12, so they embed as-is.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::host::Host;
use crate::registry::{Procedure, Registry, schema};

/// `GET /openapi.json`.
pub async fn openapi(State(host): State<Arc<Host>>) -> Json<Value> {
    Json(document(host.registry()))
}

fn without_dialect(mut schema: Value) -> Value {
    // The document's dialect (2020-12) applies to every schema in it.
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
    }
    schema
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

fn operation(component: &str, p: &Procedure) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The procedure's result (null when it has none).",
            "content": { "application/json": { "schema": without_dialect(p.result_schema.clone()) } },
        }),
    );
    responses.insert(
        "400".into(),
        problem_response("invalid-args: the arguments do not fit the WIT types."),
    );
    responses.insert(
        "404".into(),
        problem_response("not-found: the procedure is not deployed."),
    );
    responses.insert(
        "413".into(),
        problem_response("too-large: the arguments are over the body limit."),
    );
    if let Some(wasmtime::component::Type::Result(result)) = &p.result {
        let error = result
            .err()
            .map_or(json!({ "type": "null" }), |e| schema::schema(&e));
        responses.insert(
            "422".into(),
            json!({
                "description": "procedure-error: the procedure returned its error; it is in `error`.",
                "content": { "application/problem+json": { "schema": {
                    "allOf": [
                        { "$ref": "#/components/schemas/Problem" },
                        { "type": "object", "properties": { "error": error } },
                    ]
                } } },
            }),
        );
    }
    responses.insert(
        "500".into(),
        problem_response("trap, stack-overflow, out-of-fuel, memory-limit or result-too-large."),
    );
    responses.insert(
        "504".into(),
        problem_response("timeout: the call ran past its deadline."),
    );
    let mut operation = json!({
        "operationId": p.name,
        "summary": p.description.clone().unwrap_or_else(|| p.name.clone()),
        "description": format!("WIT: `{}`", p.signature),
        "tags": [component],
        "requestBody": {
            "required": p.params.iter().any(|(_, ty)| !matches!(ty, wasmtime::component::Type::Option(_))),
            "content": { "application/json": {
                "schema": without_dialect(p.params_schema.clone()),
                "example": schema::example_args(&p.params),
            } },
        },
        "responses": responses,
    });
    if let Some(description) = &p.description {
        operation["description"] = json!(format!("{description}\n\nWIT: `{}`", p.signature));
    }
    operation
}

/// The OpenAPI document of everything deployed.
pub fn document(registry: &Registry) -> Value {
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for deployment in registry.list() {
        tags.push(json!({ "name": deployment.name, "description": format!("component {} version {}", deployment.name, deployment.version) }));
        for p in &deployment.procedures {
            paths.insert(
                format!("/rpc/{}", p.name),
                json!({ "post": operation(&deployment.name, p) }),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tsdev procedures",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every procedure deployed on this host, generated from the components' WIT types.",
        },
        "tags": tags,
        "paths": paths,
        "components": { "schemas": { "Problem": {
            "type": "object",
            "description": "An RFC 9457 problem with a stable machine-readable kind.",
            "properties": {
                "type": { "type": "string" },
                "title": { "type": "string" },
                "status": { "type": "integer" },
                "kind": { "type": "string" },
                "detail": { "type": "string" },
                "request_id": { "type": "string" },
            },
            "required": ["type", "title", "status", "kind", "detail"],
        } } },
    })
}
