//! OpenAPI 3.1 for every procedure, generated from the same WIT-derived JSON Schemas the
//! host validates with. OpenAPI 3.1 schemas are JSON Schema 2020-12, so they embed as-is.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::auth::{Caller, path_tenant};
use super::openapi_management::problem_response;
use crate::host::Host;
use crate::policy::{Route, RouteMethod};
use crate::registry::{Procedure, Registry, schema};
use wasmtime::component::Type;

/// OpenAPI documents as last built, by tenant and by where they are served (the root, or
/// `/t/{tenant}/`), with the registry generation each was built for.
#[derive(Clone)]
pub(crate) struct DocumentCache(moka::sync::Cache<(String, bool), (u64, bytes::Bytes)>);

/// Documents kept built: one per tenant asked about, the least recently used dropped.
const CACHED_DOCUMENTS: u64 = 1_024;

impl Default for DocumentCache {
    fn default() -> DocumentCache {
        DocumentCache(moka::sync::Cache::new(CACHED_DOCUMENTS))
    }
}

/// `GET /openapi.json` and `GET /t/{tenant}/openapi.json`: the caller's tenant's public
/// procedures (and, at the root, the host's own endpoints); built once per change of what
/// is deployed.
pub(crate) async fn openapi(
    State(host): State<Arc<Host>>,
    State(cache): State<DocumentCache>,
    Extension(caller): Extension<Caller>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let under_tenant = path_tenant(uri.path()).is_some();
    let registry = host.registry(&caller.tenant);
    let generation = registry.generation();
    let key = (caller.tenant.clone(), under_tenant);
    let body = match cache
        .0
        .get(&key)
        .filter(|(built_for, _)| *built_for == generation)
    {
        Some((_, body)) => body,
        None => {
            let prefix = under_tenant.then(|| format!("/t/{}", caller.tenant));
            let body = bytes::Bytes::from(document(&registry, prefix.as_deref()).to_string());
            cache.0.insert(key, (generation, body.clone()));
            body
        }
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn without_dialect(mut schema: Value) -> Value {
    // The document's dialect (2020-12) applies to every schema in it.
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
    }
    schema
}

/// The responses of a call of `p`, RPC or REST; `workflow` when `p` is a workflow (the
/// call starts an execution and waits for it).
fn responses(p: &Procedure, workflow: bool) -> Map<String, Value> {
    let mut responses = Map::new();
    if workflow {
        responses.insert(
            "202".into(),
            json!({
                "description": "The execution goes on past the wait (30 s, or `Prefer: wait=N`); follow it at `Location`.",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RunningInfo" } } },
            }),
        );
        responses.insert(
            "409".into(),
            problem_response("cancelled: the execution was cancelled while the caller waited."),
        );
        responses.insert(
            "422".into(),
            problem_response("workflow-failed: the execution failed; its error is in `error`."),
        );
    }
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
    if let Some(wasmtime::component::Type::Result(result)) = &p.result
        && !workflow
    {
        let error = result
            .err()
            .map_or(json!({ "type": "null" }), |e| schema::schema(&e));
        responses.insert(
            "422".into(),
            json!({
                "description": "procedure-error: the procedure returned its error; it is in `error`.",
                "content": { "application/problem+json": { "schema": {
                    "allOf": [
                        { "$ref": "#/components/schemas/ProblemBody" },
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
    // What any call may meet on its way in: a key that is no key, a browser's cross-site
    // request (or a key without `call`, for a private procedure), the tenant's quotas.
    responses.insert(
        "401".into(),
        problem_response("unauthenticated: the request carries a key that is not a live one."),
    );
    responses.insert(
        "403".into(),
        problem_response(if p.is_public() {
            "cross-origin: refused as a browser page's cross-site request."
        } else {
            "private-procedure (the key has scope read, not call) or cross-origin."
        }),
    );
    let quota = "quota-exceeded: the tenant is at its requests_per_second, fuel_per_minute \
                 or concurrent_instances quota; see Retry-After";
    responses.insert(
        "429".into(),
        problem_response(&match p.enforcement.policy.rate_limit {
            Some(limit) => format!(
                "{quota}; or rate-limited: over {} calls per {}.",
                limit.requests,
                humantime::format_duration(limit.per)
            ),
            None => format!("{quota}."),
        }),
    );
    if workflow {
        responses.insert(
            "503".into(),
            problem_response(
                "component-unavailable: the component's version is not loaded yet; retry.",
            ),
        );
    }
    responses
}

fn tags(component: &str, p: &Procedure) -> Value {
    let mut tags = vec![component.to_string()];
    for tag in &p.enforcement.policy.tags {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    json!(tags)
}

fn describe(operation: &mut Value, p: &Procedure) {
    operation["summary"] = json!(p.description.clone().unwrap_or_else(|| p.name.clone()));
    operation["description"] = match &p.description {
        Some(description) => json!(format!("{description}\n\nWIT: `{}`", p.signature)),
        None => json!(format!("WIT: `{}`", p.signature)),
    };
}

fn operation(component: &str, p: &Procedure, workflow: bool) -> Value {
    let mut operation = json!({
        "operationId": p.name,
        "tags": tags(component, p),
        "requestBody": {
            "required": p.params.iter().any(|(_, ty)| !matches!(ty, wasmtime::component::Type::Option(_))),
            "content": { "application/json": {
                "schema": without_dialect(p.params_schema.clone()),
                "example": schema::example_args(&p.params),
            } },
        },
        "responses": responses(p, workflow),
    });
    describe(&mut operation, p);
    operation
}

/// The operation of `p`'s REST route: path parameters, then the other parameters in the
/// query (GET, DELETE) or as members of a JSON body (POST, PUT, PATCH).
fn rest_operation(component: &str, p: &Procedure, route: &Route, workflow: bool) -> Value {
    let example = schema::example_args(&p.params);
    let param_schema = |name: &str| without_dialect(p.params_schema["properties"][name].clone());
    let optional = |ty: &Type| matches!(ty, Type::Option(_));
    let mut parameters = Vec::new();
    let mut body_params = Vec::new();
    for (name, ty) in &p.params {
        let in_path = route.path_params.iter().any(|n| n == name);
        let in_query = !in_path && matches!(route.method, RouteMethod::Get | RouteMethod::Delete);
        if in_path || in_query {
            parameters.push(json!({
                "name": name,
                "in": if in_path { "path" } else { "query" },
                "required": in_path || !optional(ty),
                "schema": param_schema(name),
                "example": example[name],
            }));
        } else {
            body_params.push((name, ty));
        }
    }
    let mut operation = json!({
        "operationId": format!("{}.rest", p.name),
        "tags": tags(component, p),
        "parameters": parameters,
        "responses": responses(p, workflow),
    });
    if !body_params.is_empty() {
        let properties: Map<String, Value> = body_params
            .iter()
            .map(|(name, _)| (name.to_string(), param_schema(name)))
            .collect();
        let required: Vec<&str> = body_params
            .iter()
            .filter(|(_, ty)| !optional(ty))
            .map(|(name, _)| name.as_str())
            .collect();
        let body_example: Map<String, Value> = body_params
            .iter()
            .map(|(name, _)| (name.to_string(), example[name.as_str()].clone()))
            .collect();
        operation["requestBody"] = json!({
            "required": !required.is_empty(),
            "content": { "application/json": {
                "schema": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                },
                "example": body_example,
            } },
        });
    }
    describe(&mut operation, p);
    operation
}

/// What a component is granted, as a sentence for its tag (empty when nothing is).
fn grants_line(grants: &crate::grants::Grants) -> String {
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let parts: Vec<String> = [
        ("key-value buckets", &grants.key_value),
        ("outbound HTTP to", &grants.outbound_http),
        ("calls of", &grants.invoke),
    ]
    .into_iter()
    .filter(|(_, items)| !items.is_empty())
    .map(|(what, items)| format!("{what} {}", list(items)))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(". Granted: {}.", parts.join("; "))
    }
}

/// The OpenAPI document of everything deployed.
/// The document of `registry`: served at the root, or under `prefix` (`/t/{tenant}`), where
/// only the procedures are (the host's own endpoints are at the root).
pub(crate) fn document(registry: &Registry, prefix: Option<&str>) -> Value {
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for deployment in registry.list() {
        let serves = deployment.http.as_ref().map_or(String::new(), |http| {
            format!(
                ". Serves HTTP (wasi:http) under `{}{}/`",
                prefix.unwrap_or(""),
                http.prefix
            )
        });
        let description = format!(
            "component {} version {}{serves}{}",
            deployment.name,
            deployment.version,
            grants_line(&deployment.grants)
        );
        tags.push(json!({ "name": deployment.name, "description": description }));
        for p in deployment.procedures.iter().filter(|p| p.is_public()) {
            paths.insert(
                format!("/rpc/{}", p.name),
                json!({ "post": operation(&deployment.name, p, deployment.workflows) }),
            );
        }
    }
    for (route, target) in registry.routes().list() {
        let item = paths.entry(route.path.clone()).or_insert_with(|| json!({}));
        item[route.method.as_str().to_ascii_lowercase()] = rest_operation(
            &target.deployment.name,
            target.procedure(),
            route,
            target.deployment.workflows,
        );
    }
    let mut schemas = Map::new();
    if prefix.is_none() {
        super::endpoints::add_operations(&mut paths, &mut tags, &mut schemas);
    }
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tsdev",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every procedure deployed on this host, generated from the components' WIT types, and the host's own management API.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": super::endpoints::security_schemes(),
        },
    });
    if let Some(prefix) = prefix {
        document["servers"] = json!([{ "url": prefix }]);
    }
    document
}
