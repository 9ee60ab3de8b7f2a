//! One way in for every HTTP call of a procedure, RPC or REST: private procedures are
//! refused, the rate limit and the response cache apply, workflows are started and waited
//! for.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
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
    let cache = enforcement
        .cache
        .as_ref()
        .map(|cache| (cache, cache.key(&args)));
    if let Some((cache, key)) = &cache
        && let Some(body) = cache.get(key)
    {
        return Ok(json_answer(body, Some("hit")));
    }
    let context = CallContext {
        request_id: super::request_id::of(headers),
        idempotency_key: None,
    };
    let output = host.call_found(found, &args, &context).await?;
    let body = Bytes::from(output.body);
    match cache {
        Some((cache, key)) => {
            cache.put(key, body.clone());
            Ok(json_answer(body, Some("miss")))
        }
        None => Ok(json_answer(body, None)),
    }
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
