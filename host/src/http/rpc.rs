//! `POST /rpc/{procedure}` and the procedure catalogue.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{AppState, Problem};
use crate::api::{Catalogue, CatalogueEntry};
use crate::host::Host;
use crate::limits;

/// Call a procedure with a JSON object of arguments (see [`super::exposure::call`]).
pub async fn call(
    State(state): State<AppState>,
    Path(procedure): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let args = super::json_args(body, limits::MAX_ARGS_BYTES)?;
    let found = state
        .host
        .registry()
        .procedure(&procedure)
        .ok_or_else(|| Problem::not_found(format!("no procedure named {procedure}")))?;
    super::exposure::call(&state, &found, args, &headers).await
}

/// `GET /procedures`: every procedure with its component, signature and schemas.
pub async fn procedures(State(host): State<Arc<Host>>) -> Json<Catalogue> {
    let mut procedures = Vec::new();
    for deployment in host.registry().list() {
        for p in &deployment.procedures {
            let policy = &p.enforcement.policy;
            procedures.push(CatalogueEntry {
                name: p.name.clone(),
                route: policy.route.as_ref().map(ToString::to_string),
                public: policy.public,
                workflow: deployment.workflows,
                component: deployment.name.clone(),
                version: deployment.version.clone(),
                signature: p.signature.clone(),
                description: p.description.clone(),
                params_schema: p.params_schema.clone(),
                result_schema: p.result_schema.clone(),
            });
        }
    }
    Json(Catalogue { procedures })
}
