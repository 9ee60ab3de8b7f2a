//! The HTTP API, on axum. [`app`] builds the router without a socket, so tests can call it
//! directly; every error is a [`Problem`].
//!
//! - [`auth`]: who is asking (API keys, tenants, scopes); [`audit`]: what they did.
//! - [`components`]: upload, list, show and delete components; versions and rollback.
//! - [`tenants`]: tenants, their keys, the audit log.
//! - [`cross_site`]: what a page in a browser could send to a host it can reach, refused.
//! - [`rpc`]: `POST /rpc/{procedure}` and `GET /procedures`.
//! - [`rest`]: the REST routes components declare in their manifests.
//! - [`exposure`]: what every HTTP call of a procedure goes through (privacy, rate limits,
//!   the response cache).
//! - [`health`]: `/health` and `/ready`.
//! - [`openapi`]: `GET /openapi.json`, generated from the WIT types; `GET /docs`, a page
//!   over it (`docs.html`, embedded); `GET /ui`, the dashboard (`dashboard.html`, embedded).
//! - [`openapi_management`]: the host's own endpoints in that document, from [`crate::api`].
//! - [`request_id`]: an `X-Request-Id` on every response and in every problem.
//! - [`trace`]: every request as a server span of the host's traces.
//! - [`workflows`]: start workflow executions and see where they stand.
//! - [`schedules`]: the tenant's cron schedules.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod components;
pub(crate) mod cross_site;
pub(crate) mod exposure;
pub(crate) mod health;
pub(crate) mod kv;
pub(crate) mod metrics;
pub(crate) mod nodes;
pub(crate) mod openapi;
pub(crate) mod openapi_management;
pub(crate) mod problem;
pub(crate) mod request_id;
pub(crate) mod rest;
pub(crate) mod rpc;
pub(crate) mod schedules;
pub(crate) mod tenants;
pub(crate) mod trace;
pub(crate) mod wasi_http;
pub(crate) mod workflows;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::limits;
use crate::runtime::output;
use crate::workflow::WorkflowEngine;

pub use auth::AuthMode;
pub(crate) use problem::Problem;

/// What the handlers reach: the host (deploy, call) and the workflow engine. Handlers take
/// the part they need with `State<Arc<Host>>` or `State<Arc<WorkflowEngine>>`.
#[derive(Clone)]
pub struct AppState {
    /// Deploy, undeploy, call.
    pub host: Arc<Host>,
    /// Workflow executions.
    pub workflows: Arc<WorkflowEngine>,
    openapi: openapi::DocumentCache,
}

impl AppState {
    /// The state of `workflows` and the host under it.
    pub fn new(workflows: Arc<WorkflowEngine>) -> AppState {
        AppState {
            host: workflows.host().clone(),
            workflows,
            openapi: openapi::DocumentCache::default(),
        }
    }
}

impl axum::extract::FromRef<AppState> for openapi::DocumentCache {
    fn from_ref(state: &AppState) -> openapi::DocumentCache {
        state.openapi.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<Host> {
    fn from_ref(state: &AppState) -> Arc<Host> {
        state.host.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<WorkflowEngine> {
    fn from_ref(state: &AppState) -> Arc<WorkflowEngine> {
        state.workflows.clone()
    }
}

/// How the API is exposed.
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    /// Origins browsers may call the API from (`*` for any). Empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// The host listens on loopback addresses only: it answers only to host names of this
    /// machine (see [`cross_site`]: DNS rebinding).
    pub loopback_only: bool,
    /// Whether requests need API keys (see [`auth`]).
    pub auth: AuthMode,
}

/// A CORS origin that is not a valid header value.
#[derive(Debug, thiserror::Error)]
#[error("invalid CORS origin {0:?}")]
pub struct InvalidOrigin(String);

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, InvalidOrigin> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| InvalidOrigin(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(tower_http::cors::Any)
            .expose_headers([request_id::X_REQUEST_ID]),
    ))
}

/// The router of the whole API.
pub fn app(state: AppState, config: &HttpConfig) -> Result<Router, InvalidOrigin> {
    // Outermost last: the request id is set before the request's span is made, so every
    // record of the request (an internal error, a guest's log line) carries it.
    let cross_site = Arc::new(cross_site::CrossSite {
        any_origin: config.cors_origins.iter().any(|o| o == "*"),
        origins: config.cors_origins.clone(),
        loopback_only: config.loopback_only,
    });
    let auth = auth::Auth {
        mode: config.auth,
        host: state.host.clone(),
    };
    let router = routes(state)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        // Outside the refusals, so that they are counted too.
        .layer(axum::middleware::from_fn(metrics::record))
        .layer(axum::middleware::from_fn(trace::span))
        .layer(axum::middleware::from_fn_with_state(
            cross_site,
            cross_site::refuse_cross_site,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<axum::body::Body>| {
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %output::printable(request.uri().path()),
                        request_id = %request_id::of(request.headers()),
                    )
                })
                // No second event for a 5xx: the request event has the status, and most
                // are a guest's failure (a trap, out of fuel), not the host's error, which
                // a tenant's flood would otherwise fill the log with at ERROR. The host's
                // own errors are logged where they happen (`Problem::internal`).
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn(request_id::request_ids))
        .layer(CompressionLayer::new());
    Ok(match cors_layer(&config.cors_origins)? {
        Some(cors) => router.layer(cors),
        None => router,
    })
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route(
            "/v1/components",
            get(components::list).merge(
                post(components::upload)
                    .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(
                        limits::MAX_COMPONENT_BYTES,
                    ))
                    // Waits before the body is read: a flood of uploads is not all in memory.
                    .layer::<_, std::convert::Infallible>(
                        tower::limit::ConcurrencyLimitLayer::new(limits::MAX_CONCURRENT_UPLOADS),
                    ),
            ),
        )
        .route(
            "/v1/components/{name}",
            get(components::show).delete(components::remove),
        )
        .route("/v1/components/{name}/versions", get(components::versions))
        .route(
            "/v1/components/{name}/config",
            get(components::config)
                .put(components::set_config)
                .layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route(
            "/v1/components/{name}/rollback",
            post(components::rollback).layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route("/procedures", get(rpc::procedures))
        .route("/openapi.json", get(openapi::openapi))
        .route("/docs", get(docs))
        .route("/ui", get(dashboard))
        .route(
            "/v1/tenants",
            get(tenants::list)
                .post(tenants::create)
                .layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route(
            "/v1/tenants/{tenant}",
            get(tenants::show)
                .delete(tenants::remove)
                .patch(tenants::update)
                .layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route(
            "/v1/tenants/{tenant}/keys",
            get(tenants::list_keys)
                .post(tenants::create_key)
                .layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route(
            "/v1/tenants/{tenant}/keys/{id}",
            axum::routing::delete(tenants::revoke_key),
        )
        .route("/v1/audit", get(tenants::audit))
        .route("/v1/kv/{bucket}", get(kv::list))
        .route(
            "/v1/kv/{bucket}/{*key}",
            get(kv::get)
                .put(kv::put)
                .delete(kv::delete)
                // One byte over the limit, so that the limit itself is answered by the
                // key-value check, with its own message.
                .layer(DefaultBodyLimit::max(limits::MAX_KV_VALUE_BYTES + 1)),
        )
        .route("/v1/schedules", get(schedules::list))
        .route(
            "/v1/schedules/{name}",
            get(schedules::show)
                .put(schedules::put)
                .delete(schedules::delete)
                .layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route("/metrics", get(metrics::scrape))
        .route("/v1/stats", get(metrics::stats))
        .route("/v1/nodes", get(nodes::list))
        .route("/v1/nodes/{id}/drain", post(nodes::drain))
        // A tenant's public procedures, for callers without a key.
        .route(
            "/t/{tenant}/rpc/{procedure}",
            post(rpc::call).layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route("/t/{tenant}/procedures", get(rpc::procedures))
        .route("/t/{tenant}/openapi.json", get(openapi::openapi))
        .route("/t/{tenant}/docs", get(docs))
        .route("/t/{tenant}/{*route}", axum::routing::any(rest::call))
        .route(
            "/v1/workflows/{name}/executions",
            post(workflows::start).layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route("/v1/executions", get(workflows::list))
        .route("/v1/executions/{id}", get(workflows::show))
        .route("/v1/executions/{id}/cancel", post(workflows::cancel))
        .route("/v1/executions/{id}/events", get(workflows::events))
        .route(
            "/v1/executions/{id}/signals/{name}",
            post(workflows::signal).layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .route(
            "/rpc/{procedure}",
            post(rpc::call).layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        // Anything else may be a REST route from a manifest.
        .fallback(rest::call)
        .with_state(state)
}

/// `GET /ui`: the dashboard: executions (live) with their timelines, cancel and signal;
/// components, versions and rollback; procedures; schedules. Self-contained and embedded
/// like `/docs`; it calls the API with the key a person signs in with.
async fn dashboard() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("dashboard.html"))
}

/// `GET /docs`: a page to browse procedures and try them. Self-contained (no CDN) and
/// embedded in the binary; it reads `/openapi.json`.
async fn docs() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("docs.html"))
}

/// A JSON request body: an empty body is `null` (a signal without payload); malformed JSON
/// is `invalid-args`.
fn json_body(
    body: Result<axum::body::Bytes, BytesRejection>,
    limit: usize,
) -> Result<serde_json::Value, Problem> {
    let body = body.map_err(|e| body_problem(e, limit))?;
    if body.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|e| Problem::invalid_args(format!("the body is not valid JSON: {e}")))
}

/// The arguments of a call: a JSON object keyed by parameter name, as the OpenAPI document
/// says. An empty body (no bytes at all; whitespace alone is malformed JSON) is `{}`
/// (every parameter left out: fine when all are optional).
fn json_args(
    body: Result<axum::body::Bytes, BytesRejection>,
    limit: usize,
) -> Result<serde_json::Value, Problem> {
    let body = body.map_err(|e| body_problem(e, limit))?;
    if body.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    match serde_json::from_slice(&body) {
        Ok(object @ serde_json::Value::Object(_)) => Ok(object),
        Ok(other) => Err(Problem::invalid_args(format!(
            "expected an object keyed by parameter name, got {}",
            crate::registry::json::kind_of(&other)
        ))
        .with("path", serde_json::json!("arguments"))),
        Err(e) => Err(Problem::invalid_args(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// A body that could not be read: too large (413) or broken.
fn body_problem(rejection: BytesRejection, limit: usize) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("the body is over this route's limit of {limit} bytes"),
        )
    } else {
        Problem::new(
            rejection.status(),
            ErrorKind::BadBody,
            rejection.body_text(),
        )
    }
}
