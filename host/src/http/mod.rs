//! The HTTP API, on axum. [`app`] builds the router without a socket, so tests can call it
//! directly; every error is a [`Problem`].
//!
//! - [`components`]: upload, list, show and delete components.
//! - [`rpc`]: `POST /rpc/{procedure}` and `GET /procedures`.
//! - [`health`]: `/health` and `/ready`.

pub mod components;
pub mod health;
pub mod problem;
pub mod rpc;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::host::Host;
use crate::limits;

pub use problem::Problem;

/// The router of the whole API.
pub fn app(host: Arc<Host>) -> Router {
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
        .route(
            "/rpc/{procedure}",
            post(rpc::call).layer(DefaultBodyLimit::max(limits::MAX_ARGS_BYTES)),
        )
        .fallback(|| async { Problem::not_found("no such route; see GET /procedures") })
        .with_state(host)
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
