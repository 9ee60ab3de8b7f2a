//! The HTTP API, on axum. [`app`] builds the router without a socket, so tests can call it
//! directly; every error is a [`Problem`].
//!
//! - [`endpoints`]: every endpoint of the host's API, declared once: route, scope, audit
//!   action, handler, OpenAPI operation. The router, the audit log and `/openapi.json`
//!   are made from it.
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
pub(crate) mod endpoints;
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
    /// Refusals of callers without a valid key, counted for the audit log.
    strangers: Arc<audit::Strangers>,
}

impl AppState {
    /// The state of `workflows` and the host under it.
    pub fn new(workflows: Arc<WorkflowEngine>) -> AppState {
        AppState {
            host: workflows.host().clone(),
            workflows,
            openapi: openapi::DocumentCache::default(),
            strangers: Arc::default(),
        }
    }
}

impl axum::extract::FromRef<AppState> for openapi::DocumentCache {
    fn from_ref(state: &AppState) -> openapi::DocumentCache {
        state.openapi.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<audit::Strangers> {
    fn from_ref(state: &AppState) -> Arc<audit::Strangers> {
        state.strangers.clone()
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
        action_of: endpoints::action_of,
        strangers: state.strangers.clone(),
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

/// The table's endpoints (see [`endpoints`]), and what tenants deployed: procedures over
/// RPC, their REST routes and wasi:http components, the pages over the API.
fn routes(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, methods) in endpoints::method_routers() {
        router = router.route(path, methods);
    }
    router
        .route("/openapi.json", get(openapi::openapi))
        .route("/docs", get(docs))
        .route("/ui", get(dashboard))
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

/// Bytes past a body's limit read and thrown away before the 413 is sent, at most.
/// Without this a client streaming a body of unknown length (chunked) was cut off mid-send
/// and never saw the answer; past it the connection is closed all the same.
pub(crate) const MAX_DRAINED_BYTES: usize = 512 << 20;
/// How long the rest of a body over its limit is read, at most (see [`MAX_DRAINED_BYTES`]).
pub(crate) const MAX_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// A body of at most `limit` bytes (`what` names it in the 413 `too-large`, for a body of
/// any length, Content-Length or chunked). The rest of a body over the limit is read and
/// dropped (bounded) so that its sender reads the answer.
pub(crate) async fn body_within(
    body: axum::body::Body,
    limit: usize,
    what: &str,
) -> Result<axum::body::Bytes, Problem> {
    let too_large = || {
        Problem::of(
            ErrorKind::TooLarge,
            format!("{what} is over the upload limit of {limit} bytes"),
        )
    };
    let mut stream = body.into_data_stream();
    let mut bytes = bytes::BytesMut::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|e| body_problem_of(&e, limit))?;
        if bytes.len() + chunk.len() > limit {
            let drained = async {
                let mut seen = 0usize;
                while seen < MAX_DRAINED_BYTES {
                    match futures::StreamExt::next(&mut stream).await {
                        Some(Ok(chunk)) => seen += chunk.len(),
                        _ => break,
                    }
                }
            };
            let _ = tokio::time::timeout(MAX_DRAIN_TIME, drained).await;
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// A body whose reading failed: over a limit a layer set (413), or broken (400).
fn body_problem_of(error: &axum::Error, limit: usize) -> Problem {
    let over = std::error::Error::source(error)
        .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
    if over {
        Problem::of(
            ErrorKind::TooLarge,
            format!("the body is over this route's limit of {limit} bytes"),
        )
    } else {
        Problem::of(ErrorKind::BadBody, error.to_string())
    }
}

/// A body that could not be read: too large (413) or broken.
fn body_problem(rejection: BytesRejection, limit: usize) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::of(
            ErrorKind::TooLarge,
            format!("the body is over this route's limit of {limit} bytes"),
        )
    } else {
        Problem::with_status(
            rejection.status(),
            ErrorKind::BadBody,
            rejection.body_text(),
        )
    }
}
