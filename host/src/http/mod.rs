//! The HTTP API, on axum. [`app`] builds the router without a socket, so tests can call it
//! directly; every error is a [`Problem`].
//!
//! - [`components`]: upload, list, show and delete components.
//! - [`rpc`]: `POST /rpc/{procedure}` and `GET /procedures`.
//! - [`rest`]: the REST routes components declare in their manifests.
//! - [`exposure`]: what every HTTP call of a procedure goes through (privacy, rate limits,
//!   the response cache).
//! - [`health`]: `/health` and `/ready`.
//! - [`openapi`]: `GET /openapi.json`, generated from the WIT types; `GET /docs`, a page
//!   over it (`docs.html`, embedded).
//! - [`request_id`]: an `X-Request-Id` on every response and in every problem.
//! - [`workflows`]: start workflow executions and see where they stand.

pub mod components;
pub mod exposure;
pub mod health;
pub mod openapi;
pub mod problem;
pub mod request_id;
pub mod rest;
pub mod rpc;
pub mod workflows;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::host::Host;
use crate::limits;

pub use problem::Problem;

/// How the API is exposed.
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    /// Origins browsers may call the API from (`*` for any). Empty: no CORS headers.
    pub cors_origins: Vec<String>,
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
pub fn app(host: Arc<Host>, config: &HttpConfig) -> Result<Router, InvalidOrigin> {
    let router = routes(host)
        .layer(axum::middleware::from_fn(request_id::request_ids))
        .layer(CompressionLayer::new());
    Ok(match cors_layer(&config.cors_origins)? {
        Some(cors) => router.layer(cors),
        None => router,
    })
}

fn routes(host: Arc<Host>) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route(
            "/v1/components",
            get(components::list)
                .post(components::upload)
                .layer(DefaultBodyLimit::max(limits::MAX_COMPONENT_BYTES)),
        )
        .route(
            "/v1/components/{name}",
            get(components::show).delete(components::remove),
        )
        .route("/procedures", get(rpc::procedures))
        .route("/openapi.json", get(openapi::openapi))
        .route("/docs", get(docs))
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
        .with_state(host)
}

/// `GET /docs`: a page to browse procedures and try them. Self-contained (no CDN) and
/// embedded in the binary; it reads `/openapi.json`.
async fn docs() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("docs.html"))
}

/// A JSON request body: an empty body is `null` (a call without arguments); malformed JSON
/// is `invalid-args`.
fn json_body(
    body: Result<axum::body::Bytes, BytesRejection>,
    limit: usize,
) -> Result<serde_json::Value, Problem> {
    let body = body.map_err(|e| body_problem(e, limit))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|e| Problem::invalid_args(format!("the body is not valid JSON: {e}")))
}

/// A body that could not be read: too large (413) or broken.
fn body_problem(rejection: BytesRejection, limit: usize) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Body too large",
            format!("the body is over this route's limit of {limit} bytes"),
        )
    } else {
        Problem::new(
            rejection.status(),
            "bad-body",
            "Unreadable body",
            rejection.body_text(),
        )
    }
}
