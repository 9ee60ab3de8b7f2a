//! Every endpoint of the host's own API, declared once ([`ENDPOINTS`]): its method and
//! path, the scope a key needs, the action the audit log records, its handler (with its
//! body limit) and its OpenAPI operation. The router ([`super::routes`]), the audit log's
//! actions ([`action_of`]), the scope each request is held to ([`require_scope`]) and the
//! management half of `/openapi.json` ([`add_operations`]) are all made
//! from this table, so a new endpoint is one row here and its handler.
//!
//! What is not in the table is not the host's API but what tenants deployed: `/rpc/…`,
//! `/t/{tenant}/…`, REST routes and wasi:http components, and the pages (`/docs`, `/ui`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::LazyLock;

use axum::Extension;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use schemars::generate::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::openapi_management as ops;
use super::{AppState, components, health, kv, metrics, nodes, rpc, schedules, tenants, workflows};
use crate::access::Scope;
use crate::api::{ProblemBody, RunningInfo};
use crate::limits;

/// One endpoint of the host's API.
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    /// The route, as axum matches it (`{name}`, `{*key}`).
    pub(crate) path: &'static str,
    /// The scope a caller needs; `None`: anyone (health, the procedure catalogue).
    pub(crate) scope: Option<Scope>,
    /// What the audit log calls it (`component.deploy`): recorded always when the method
    /// changes something, else only when refused. `None`: not audited.
    pub(crate) action: Option<&'static str>,
    /// Its handler, with its layers (body limit, concurrency).
    pub(crate) handler: fn() -> MethodRouter<AppState>,
    /// Its operation in `/openapi.json`.
    pub(crate) operation: fn(&mut SchemaGenerator) -> Value,
}

impl Endpoint {
    /// The path as OpenAPI writes it (`{*key}` is `{key}`).
    pub(crate) fn openapi_path(&self) -> String {
        self.path.replace("{*", "{")
    }
}

/// A management request with a JSON body: at most [`limits::MAX_ARGS_BYTES`].
fn json_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)
}

/// Shorthand for the table's rows.
const fn row(
    method: Method,
    path: &'static str,
    scope: Option<Scope>,
    action: Option<&'static str>,
    handler: fn() -> MethodRouter<AppState>,
    operation: fn(&mut SchemaGenerator) -> Value,
) -> Endpoint {
    Endpoint {
        method,
        path,
        scope,
        action,
        handler,
        operation,
    }
}

use Scope::{Admin, Call, Deploy, Keys, Operate, Read};

/// The host's API.
pub(crate) static ENDPOINTS: &[Endpoint] = &[
    row(
        Method::GET,
        "/health",
        None,
        None,
        || get(health::health),
        ops::health,
    ),
    row(
        Method::GET,
        "/ready",
        None,
        None,
        || get(health::ready),
        ops::ready,
    ),
    row(
        Method::GET,
        "/procedures",
        None,
        None,
        || get(rpc::procedures),
        ops::procedures,
    ),
    // Components.
    row(
        Method::GET,
        "/v1/components",
        Some(Read),
        Some("component.list"),
        || get(components::list),
        ops::components_list,
    ),
    row(
        Method::POST,
        "/v1/components",
        Some(Deploy),
        Some("component.deploy"),
        || {
            // The body is read by the handler, to its own limit (and a 413 for a chunked
            // body over it too). Uploads wait before their body is read: a flood of them
            // is not all in memory.
            post(components::upload)
                .layer::<_, Infallible>(DefaultBodyLimit::max(limits::MAX_COMPONENT_BYTES))
                .layer::<_, Infallible>(tower::limit::ConcurrencyLimitLayer::new(
                    limits::MAX_CONCURRENT_UPLOADS,
                ))
        },
        ops::components_upload,
    ),
    row(
        Method::GET,
        "/v1/components/{name}",
        Some(Read),
        Some("component.show"),
        || get(components::show),
        ops::components_show,
    ),
    row(
        Method::DELETE,
        "/v1/components/{name}",
        Some(Deploy),
        Some("component.delete"),
        || delete(components::remove),
        ops::components_delete,
    ),
    row(
        Method::GET,
        "/v1/components/{name}/versions",
        Some(Read),
        Some("component.versions"),
        || get(components::versions),
        ops::components_versions,
    ),
    row(
        Method::GET,
        "/v1/components/{name}/config",
        Some(Read),
        Some("component.config.show"),
        || get(components::config),
        ops::components_config,
    ),
    row(
        Method::PUT,
        "/v1/components/{name}/config",
        Some(Deploy),
        Some("component.config.set"),
        || put(components::set_config).layer(json_limit()),
        ops::components_config_set,
    ),
    row(
        Method::POST,
        "/v1/components/{name}/rollback",
        Some(Deploy),
        Some("component.rollback"),
        || post(components::rollback).layer(json_limit()),
        ops::components_rollback,
    ),
    // Workflows and executions.
    row(
        Method::POST,
        "/v1/workflows/{name}/executions",
        Some(Call),
        Some("execution.start"),
        || post(workflows::start).layer(json_limit()),
        ops::workflows_start,
    ),
    row(
        Method::GET,
        "/v1/executions",
        Some(Read),
        Some("execution.list"),
        || get(workflows::list),
        ops::executions_list,
    ),
    row(
        Method::GET,
        "/v1/executions/{id}",
        Some(Read),
        Some("execution.show"),
        || get(workflows::show),
        ops::executions_show,
    ),
    row(
        Method::POST,
        "/v1/executions/{id}/cancel",
        Some(Operate),
        Some("execution.cancel"),
        || post(workflows::cancel),
        ops::executions_cancel,
    ),
    row(
        Method::GET,
        "/v1/executions/{id}/events",
        Some(Read),
        Some("execution.events"),
        || get(workflows::events),
        ops::executions_events,
    ),
    row(
        Method::POST,
        "/v1/executions/{id}/signals/{name}",
        Some(Operate),
        Some("execution.signal"),
        || post(workflows::signal).layer(json_limit()),
        ops::executions_signal,
    ),
    // Tenants, their keys, the audit log. A tenant's own keys see their tenant (`read`)
    // and manage its keys (`keys`); the handlers hold another tenant's to 404.
    row(
        Method::POST,
        "/v1/tenants",
        Some(Admin),
        Some("tenant.create"),
        || post(tenants::create).layer(json_limit()),
        ops::tenants_create,
    ),
    row(
        Method::GET,
        "/v1/tenants",
        Some(Admin),
        Some("tenant.list"),
        || get(tenants::list),
        ops::tenants_list,
    ),
    row(
        Method::GET,
        "/v1/tenants/{tenant}",
        Some(Read),
        Some("tenant.show"),
        || get(tenants::show),
        ops::tenants_show,
    ),
    row(
        Method::DELETE,
        "/v1/tenants/{tenant}",
        Some(Admin),
        Some("tenant.delete"),
        || delete(tenants::remove),
        ops::tenants_delete,
    ),
    row(
        Method::PATCH,
        "/v1/tenants/{tenant}",
        Some(Admin),
        Some("tenant.update"),
        || patch(tenants::update).layer(json_limit()),
        ops::tenants_update,
    ),
    row(
        Method::POST,
        "/v1/tenants/{tenant}/keys",
        Some(Keys),
        Some("key.create"),
        || post(tenants::create_key).layer(json_limit()),
        ops::keys_create,
    ),
    row(
        Method::GET,
        "/v1/tenants/{tenant}/keys",
        Some(Keys),
        Some("key.list"),
        || get(tenants::list_keys),
        ops::keys_list,
    ),
    row(
        Method::DELETE,
        "/v1/tenants/{tenant}/keys/{id}",
        Some(Keys),
        Some("key.revoke"),
        || delete(tenants::revoke_key),
        ops::keys_revoke,
    ),
    row(
        Method::GET,
        "/v1/audit",
        Some(Read),
        Some("audit.list"),
        || get(tenants::audit),
        ops::audit_list,
    ),
    // Key-value data.
    row(
        Method::GET,
        "/v1/kv/{bucket}",
        Some(Read),
        Some("kv.list"),
        || get(kv::list),
        ops::kv_list,
    ),
    row(
        Method::GET,
        "/v1/kv/{bucket}/{*key}",
        Some(Read),
        Some("kv.get"),
        || get(kv::get),
        ops::kv_get,
    ),
    row(
        Method::PUT,
        "/v1/kv/{bucket}/{*key}",
        Some(Operate),
        Some("kv.set"),
        // One byte over the limit, so that the limit itself is answered by the key-value
        // check, with its own message.
        || put(kv::put).layer(DefaultBodyLimit::max(limits::MAX_KV_VALUE_BYTES + 1)),
        ops::kv_set,
    ),
    row(
        Method::DELETE,
        "/v1/kv/{bucket}/{*key}",
        Some(Operate),
        Some("kv.delete"),
        || delete(kv::delete),
        ops::kv_delete,
    ),
    // Schedules.
    row(
        Method::GET,
        "/v1/schedules",
        Some(Read),
        Some("schedule.list"),
        || get(schedules::list),
        ops::schedules_list,
    ),
    row(
        Method::GET,
        "/v1/schedules/{name}",
        Some(Read),
        Some("schedule.show"),
        || get(schedules::show),
        ops::schedules_show,
    ),
    row(
        Method::PUT,
        "/v1/schedules/{name}",
        Some(Deploy),
        Some("schedule.set"),
        || put(schedules::put).layer(json_limit()),
        ops::schedules_set,
    ),
    row(
        Method::DELETE,
        "/v1/schedules/{name}",
        Some(Deploy),
        Some("schedule.delete"),
        || delete(schedules::delete),
        ops::schedules_delete,
    ),
    // The host's own state: metrics, stats, nodes.
    row(
        Method::GET,
        "/metrics",
        Some(Admin),
        None,
        || get(metrics::scrape),
        ops::metrics,
    ),
    row(
        Method::GET,
        "/v1/stats",
        Some(Read),
        Some("stats.show"),
        || get(metrics::stats),
        ops::stats,
    ),
    row(
        Method::GET,
        "/v1/nodes",
        Some(Admin),
        Some("node.list"),
        || get(nodes::list),
        ops::nodes_list,
    ),
    row(
        Method::POST,
        "/v1/nodes/{id}/drain",
        Some(Admin),
        Some("node.drain"),
        || post(nodes::drain),
        ops::nodes_drain,
    ),
];

/// The endpoints by method and route, for the per-request look-ups.
static BY_ROUTE: LazyLock<HashMap<(&'static str, &'static str), &'static Endpoint>> =
    LazyLock::new(|| {
        ENDPOINTS
            .iter()
            .map(|e| ((e.method.as_str(), e.path), e))
            .collect()
    });

/// The endpoint `method` on the matched `route`, if it is one of the table's.
pub(crate) fn endpoint(method: &Method, route: &str) -> Option<&'static Endpoint> {
    BY_ROUTE.get(&(method.as_str(), route)).copied()
}

/// The audit name of a management route, and whether it changes something (recorded
/// always; reads are recorded only when refused).
pub(crate) fn action_of(method: &Method, route: &str) -> Option<(&'static str, bool)> {
    let endpoint = endpoint(method, route)?;
    Some((endpoint.action?, endpoint.method != Method::GET))
}

/// The table's routes for the router: one `MethodRouter` a path, each method with its
/// scope checked before its handler runs (and before a body is read).
pub(crate) fn method_routers() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for endpoint in ENDPOINTS {
        let mut handler = (endpoint.handler)();
        if let Some(scope) = endpoint.scope {
            handler =
                handler.route_layer(axum::middleware::from_fn_with_state(scope, require_scope));
        }
        match by_path.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, routes)) => *routes = std::mem::take(routes).merge(handler),
            None => by_path.push((endpoint.path, handler)),
        }
    }
    by_path
}

/// The scope an endpoint needs, required of its caller (401 without a key, 403 naming the
/// scope).
async fn require_scope(
    State(scope): State<Scope>,
    Extension(caller): Extension<Caller>,
    request: Request,
    next: Next,
) -> Response {
    match caller.require(scope) {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

/// Add the management endpoints to `paths`, their tag to `tags` and the schemas of their
/// answers to `schemas`: every row of [`ENDPOINTS`], an endpoint that needs a key with the
/// answers of refusals (401, 403, 429) besides its own.
pub(crate) fn add_operations(
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
    for endpoint in ENDPOINTS {
        let mut operation = (endpoint.operation)(g);
        if endpoint.scope.is_some() {
            let responses = &mut operation["responses"];
            responses["401"] = ops::problem_response(
                "unauthenticated: no key, or one that is malformed, unknown, expired or revoked",
            );
            responses["403"] = ops::problem_response("forbidden: the key lacks the scope named");
            // Any request of a tenant's key counts toward its requests per second.
            if responses.get("429").is_none() {
                responses["429"] = ops::problem_response(
                    "quota-exceeded: the tenant's requests_per_second (the admin key is not held to it)",
                );
            }
            operation["security"] = json!([{ "bearer": [] }]);
        }
        let item = paths
            .entry(endpoint.openapi_path())
            .or_insert_with(|| json!({}));
        item[endpoint.method.as_str().to_ascii_lowercase()] = operation;
    }
    schemas.extend(generator.take_definitions(true));
}

/// The bearer scheme of API keys, for `components.securitySchemes`.
pub(crate) fn security_schemes() -> Value {
    json!({ "bearer": { "type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer tsdev_…`." } })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `/v1` endpoint is audited and needs a scope; no two rows are the same endpoint
    /// or the same action; operation ids are unique.
    #[test]
    fn every_management_endpoint_has_a_scope_an_action_and_an_operation() {
        let mut seen = std::collections::HashSet::new();
        let mut actions = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        let mut generator = SchemaGenerator::default();
        for endpoint in ENDPOINTS {
            let what = format!("{} {}", endpoint.method, endpoint.path);
            assert!(
                seen.insert((endpoint.method.clone(), endpoint.path)),
                "{what} twice"
            );
            if endpoint.path.starts_with("/v1/") {
                assert!(endpoint.scope.is_some(), "{what} needs a scope");
                let action = endpoint
                    .action
                    .unwrap_or_else(|| panic!("{what} is not audited"));
                assert!(actions.insert(action), "action {action} twice");
            }
            let operation = (endpoint.operation)(&mut generator);
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(!id.is_empty(), "{what} has no operation");
            assert!(ids.insert(id.clone()), "operation {id} twice");
            assert!(operation["responses"].is_object(), "{what}: responses");
        }
        assert_eq!(
            endpoint(&Method::POST, "/v1/components").and_then(|e| e.action),
            Some("component.deploy")
        );
        assert_eq!(action_of(&Method::GET, "/rpc/{procedure}"), None);
    }

    /// The router takes `/v1` routes from the table only: no `/v1` path is written in
    /// `http/mod.rs` by hand, where it would have no scope, audit action or operation.
    #[test]
    fn no_management_route_is_made_outside_the_table() {
        let router = include_str!("mod.rs");
        let by_hand: Vec<&str> = router
            .lines()
            .filter(|line| {
                line.contains(".route(") || line.contains("\"/v1") || line.contains("\"/metrics\"")
            })
            .filter(|line| line.contains("\"/v1") || line.contains("\"/metrics\""))
            .collect();
        assert!(by_hand.is_empty(), "routes made by hand: {by_hand:?}");
    }
}
