//! Every request as a server span of the host's traces (when they are exported): named by
//! method and route template, continuing the caller's `traceparent`, with the status and
//! tenant once answered. The handler runs inside it, so the calls it makes are its children.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use super::request_id;
use crate::telemetry::traces;

/// The middleware: a span around the rest of the request's handling.
pub(crate) async fn span(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let span = tracing::info_span!(
        target: "tsdev::trace",
        "request",
        otel.name = %match &route {
            Some(route) => format!("{} {route}", request.method()),
            None => request.method().to_string(),
        },
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %request.method(),
        url.path = %crate::runtime::output::printable(request.uri().path()),
        http.route = route.as_deref(),
        http.response.status_code = Empty,
        tsdev.request_id = %request_id::of(request.headers()),
        tsdev.tenant = Empty,
    );
    if span.is_disabled() {
        return next.run(request).await;
    }
    traces::continue_trace_of_request(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    if let Some(tenant) = response.extensions().get::<super::auth::CallerTenant>() {
        span.record("tsdev.tenant", tenant.0.as_str());
    }
    response
}
