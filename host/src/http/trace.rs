//! Every request as a server span of the host's traces (when they are exported): named by
//! method and route template, continuing the caller's `traceparent`, with the status and
//! tenant once answered. The handler runs inside it, so the calls it makes are its children.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::request_id;
use crate::telemetry::traces::{self, TraceSpan};

/// The middleware: a span around the rest of the request's handling.
pub(crate) async fn span(request: Request, next: Next) -> Response {
    if !traces::enabled() {
        return next.run(request).await;
    }
    let span = TraceSpan::continuing_request(request.headers(), SpanKind::Server, || {
        let method = request.method().to_string();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string());
        let name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.clone(),
        };
        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new(
                "url.path",
                crate::runtime::output::printable(request.uri().path()).to_string(),
            ),
            KeyValue::new("tsdev.request_id", request_id::of(request.headers())),
        ];
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", route));
        }
        (name, attributes)
    });
    let response = span.around(next.run(request)).await;
    if !span.is_recording() {
        return response;
    }
    let status = response.status();
    span.set("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.fail();
    }
    if let Some(tenant) = response.extensions().get::<super::auth::CallerTenant>() {
        span.set("tsdev.tenant", tenant.0.clone());
    }
    response
}
