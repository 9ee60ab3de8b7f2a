//! Liveness and readiness.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Problem;
use crate::host::Host;

/// The process is up and answering.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The store answers and the registry is loaded (it is loaded before the server listens).
pub async fn ready(State(host): State<Arc<Host>>) -> Result<Json<Value>, Problem> {
    host.store().ping().await.map_err(|e| {
        tracing::warn!("not ready: {e}");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the store does not answer",
        )
    })?;
    Ok(Json(
        json!({ "status": "ready", "components": host.registry().list().len() }),
    ))
}
