//! `POST /rpc/{procedure}` and the procedure catalogue.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Problem;
use crate::host::Host;
use crate::limits;
use crate::store::ExecutionStatus;

/// Call a procedure with a JSON object of arguments (see [`super::exposure::call`]).
pub async fn call(
    State(host): State<Arc<Host>>,
    Path(procedure): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let args = super::json_body(body, limits::MAX_ARGS_BYTES)?;
    let found = host
        .registry()
        .procedure(&procedure)
        .ok_or_else(|| Problem::not_found(format!("no procedure named {procedure}")))?;
    super::exposure::call(&host, &found, args, &headers).await
}

/// Seconds asked for with `Prefer: wait=SECONDS` (RFC 7240).
fn preferred_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `POST /rpc/{workflow}`: start an execution and wait for it, at most
/// [`limits::RPC_WORKFLOW_WAIT`] (less with `Prefer: wait=SECONDS`). Completed: 200 with the
/// result; failed: 422 `workflow-failed`; cancelled: 409 `cancelled`; still going: 202 with
/// its id. `Location` names the execution in every case.
pub(super) async fn run_workflow(
    host: &Arc<Host>,
    workflow: &str,
    args: &Value,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let wait = preferred_wait(headers).map_or(limits::RPC_WORKFLOW_WAIT, |w| {
        w.min(limits::RPC_WORKFLOW_WAIT)
    });
    let key = super::workflows::idempotency_key(headers)?;
    let (id, finished) = host.run_workflow(workflow, args, key, wait).await?;
    let mut response = match finished {
        None => (
            StatusCode::ACCEPTED,
            Json(json!({ "id": id, "status": "running" })),
        )
            .into_response(),
        Some(finished) => {
            let parse = |text: &Option<String>| {
                text.as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
                    .unwrap_or(Value::Null)
            };
            match finished.status {
                ExecutionStatus::Completed => {
                    (StatusCode::OK, Json(parse(&finished.result))).into_response()
                }
                ExecutionStatus::Cancelled => Problem::new(
                    StatusCode::CONFLICT,
                    "cancelled",
                    "Cancelled",
                    format!("execution {id} was cancelled"),
                )
                .into_response(),
                _ => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "workflow-failed",
                    "The workflow failed",
                    format!("execution {id} failed; see `error`"),
                )
                .with("error", parse(&finished.error))
                .into_response(),
            }
        }
    };
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/executions/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /procedures`: every procedure with its component, signature and schemas.
pub async fn procedures(State(host): State<Arc<Host>>) -> Json<Value> {
    let mut procedures = Vec::new();
    for deployment in host.registry().list() {
        for p in &deployment.procedures {
            let policy = &p.enforcement.policy;
            procedures.push(json!({
                "name": p.name,
                "route": policy.route.as_ref().map(ToString::to_string),
                "public": policy.public,
                "component": deployment.name,
                "version": deployment.version,
                "signature": p.signature,
                "description": p.description,
                "params_schema": p.params_schema,
                "result_schema": p.result_schema,
            }));
        }
    }
    Json(json!({ "procedures": procedures }))
}
