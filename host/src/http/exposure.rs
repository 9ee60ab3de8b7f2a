//! One way in for every HTTP call of a procedure, RPC or REST: private procedures are
//! refused, the rate limit and the response cache apply, workflows are started and waited
//! for.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Problem;
use crate::host::Host;
use crate::registry::ProcedureRef;
use crate::runtime::CallContext;

/// `X-Cache: hit|miss` on answers of cacheable procedures.
pub const X_CACHE: &str = "x-cache";

/// Call `found` with `args` for an HTTP caller.
pub async fn call(
    host: &Arc<Host>,
    found: &ProcedureRef,
    args: Value,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let procedure = found.procedure();
    if !procedure.is_public() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "private-procedure",
            "Private procedure",
            format!(
                "procedure {} is private (public = false in its manifest); it can only be called as a workflow step",
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
        let mut response = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
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
        return super::rpc::run_workflow(host, &procedure.name, &args, headers).await;
    }
    if let Some(cache) = &enforcement.cache
        && let Some(body) = cache.get(&args)
    {
        return Ok(json_answer(body.as_ref().clone(), Some("hit")));
    }
    let context = CallContext {
        request_id: super::request_id::of(headers),
        idempotency_key: None,
    };
    let output = host.call_found(found, &args, &context).await?;
    match &enforcement.cache {
        Some(cache) => {
            cache.put(&args, Arc::new(output.body.clone()));
            Ok(json_answer(output.body, Some("miss")))
        }
        None => Ok(json_answer(output.body, None)),
    }
}

fn json_answer(body: Vec<u8>, cache: Option<&'static str>) -> Response {
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
