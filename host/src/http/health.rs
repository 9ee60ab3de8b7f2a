//! Liveness and readiness.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::Problem;
use crate::api::HealthInfo;
use crate::error_kind::ErrorKind;
use crate::host::Host;

/// The process is up and answering.
pub(crate) async fn health() -> Json<HealthInfo> {
    Json(HealthInfo {
        status: "ok".into(),
        components: None,
    })
}

/// The registry is loaded (before the server listens) and the store commits writes.
pub(crate) async fn ready(State(host): State<Arc<Host>>) -> Result<Json<HealthInfo>, Problem> {
    host.check_ready()
        .await
        .map_err(|detail| Problem::of(ErrorKind::NotReady, detail))?;
    Ok(Json(HealthInfo {
        status: "ready".into(),
        components: Some(
            host.registries()
                .iter()
                .map(|(_, registry)| registry.list().len())
                .sum(),
        ),
    }))
}
