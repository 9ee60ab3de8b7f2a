//! One way in for every HTTP call of a procedure, RPC or REST: private procedures are
//! refused, the rate limit and the response cache apply, workflows are started and waited
//! for.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{AppState, Problem};
use crate::access::Scope;
use crate::api::RunningInfo;
use crate::error_kind::ErrorKind;
use crate::limits;
use crate::registry::ProcedureRef;
use crate::runtime::CallContext;
use crate::store::ExecutionStatus;
use crate::workflow::WorkflowEngine;

/// `X-Cache: hit|miss` on answers of cacheable procedures.
pub(crate) const X_CACHE: &str = "x-cache";

/// Whether `caller` may know that `procedure` exists: a public one, or any with scope
/// `call` or `read` on its tenant. To anyone else a private procedure answers exactly as a
/// missing one (404), so that a tenant's private API cannot be probed.
pub(crate) fn visible_to(caller: &Caller, procedure: &crate::registry::Procedure) -> bool {
    procedure.is_public() || caller.has(Scope::Call) || caller.has(Scope::Read)
}

/// Call `found` with `args` for an HTTP caller.
pub(crate) async fn call(
    state: &AppState,
    caller: &Caller,
    found: &ProcedureRef,
    args: Value,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let procedure = found.procedure();
    if !procedure.is_public() && !caller.has(Scope::Call) {
        return Err(Problem::of(
            ErrorKind::PrivateProcedure,
            format!(
                "procedure {} is private (public = false in its manifest): call it with an API key \
                 that has scope call, or as a workflow step",
                procedure.name
            ),
        ));
    }
    let enforcement = &procedure.enforcement;
    if let Some(limiter) = &enforcement.rate_limiter
        && let Err(wait) = limiter.check()
    {
        let limit = limiter.limit();
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = Problem::of(
            ErrorKind::RateLimited,
            format!(
                "procedure {} allows {} calls per {}; retry in {retry_after} s",
                procedure.name,
                limit.requests,
                humantime::format_duration(limit.per)
            ),
        )
        .with("retry_after", json!(retry_after))
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        return Ok(response);
    }
    if found.deployment.workflows {
        return run_workflow(
            &state.workflows,
            &caller.tenant,
            &procedure.name,
            &args,
            headers,
        )
        .await;
    }
    let cache = enforcement
        .cache
        .as_ref()
        .map(|cache| (cache, cache.key(&args)));
    if let Some((cache, key)) = &cache
        && let Some(body) = cache.get(key)
    {
        return Ok(json_answer(body, Some("hit")));
    }
    let context = CallContext::new(super::request_id::of(headers), None);
    let output = state
        .host
        .call_found(&caller.tenant, found, &args, &context)
        .await?;
    let body = Bytes::from(output.body);
    match cache {
        Some((cache, key)) => {
            cache.put(key, body.clone());
            Ok(json_answer(body, Some("miss")))
        }
        None => Ok(json_answer(body, None)),
    }
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
async fn run_workflow(
    workflows: &Arc<WorkflowEngine>,
    tenant: &str,
    workflow: &str,
    args: &Value,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let wait = preferred_wait(headers).map_or(limits::RPC_WORKFLOW_WAIT, |w| {
        w.min(limits::RPC_WORKFLOW_WAIT)
    });
    let key = super::workflows::idempotency_key(headers)?;
    let (id, finished) = workflows
        .run_workflow(tenant, workflow, args, key, wait)
        .await?;
    let mut response = match finished {
        None => (
            StatusCode::ACCEPTED,
            Json(RunningInfo {
                id: id.clone(),
                status: ExecutionStatus::Running,
            }),
        )
            .into_response(),
        Some(finished) => {
            let parse = |text: &Option<String>| super::workflows::parse(text.as_deref());
            match finished.status {
                ExecutionStatus::Completed => {
                    (StatusCode::OK, Json(parse(&finished.result))).into_response()
                }
                ExecutionStatus::Cancelled => Problem::of(
                    ErrorKind::Cancelled,
                    format!("execution {id} was cancelled"),
                )
                .into_response(),
                _ => Problem::of(
                    ErrorKind::WorkflowFailed,
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

fn json_answer(body: Bytes, cache: Option<&'static str>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(state) = cache {
        response
            .headers_mut()
            .insert(X_CACHE, HeaderValue::from_static(state));
    }
    response
}
