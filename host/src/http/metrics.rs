//! `GET /metrics` (admin): the host's metrics in the Prometheus text format, and the layer
//! that counts every HTTP request by route template and status; `GET /v1/stats`: a
//! tenant's procedure calls on this node, for people (the dashboard, the CLI).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::problem::Problem;
use crate::host::Host;
use crate::metrics::{HttpLabels, RouteLabels, StatusLabels, metrics};
use crate::store::ExecutionStatus;

/// `GET /v1/stats` (scope read): calls, errors and latency percentiles of the caller's
/// tenant's procedures on this node since it started.
pub(crate) async fn stats(
    Extension(caller): Extension<Caller>,
) -> Result<axum::Json<crate::api::StatsList>, Problem> {
    let m = metrics();
    let procedures = m
        .procedure_stats(&caller.tenant)
        .into_iter()
        .map(|(procedure, s)| crate::api::ProcedureStatsInfo {
            procedure,
            calls: s.calls,
            errors: s.errors,
            p50_ms: s.quantile_ms(0.5),
            p99_ms: s.quantile_ms(0.99),
        })
        .collect();
    Ok(axum::Json(crate::api::StatsList {
        since: m.started_at,
        procedures,
    }))
}

/// The content type Prometheus asks for and prometheus-client writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Count the request under its route template, with parameters as `:name`
/// (`/rpc/:procedure`: braces in label values trip some parsers). REST routes of manifests,
/// served by the fallback, count as `fallback`: their paths are the tenants' to choose.
pub(crate) async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "fallback".to_string(), |m| route_label(m.as_str()));
    let procedure = procedure_of(&route, request.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let took = started.elapsed();
    // One event per request; the request's span adds its id, method and path.
    let tenant = response.extensions().get::<super::auth::CallerTenant>();
    tracing::info!(
        target: "tsdev::request",
        route = %route,
        status = response.status().as_u16(),
        duration_ms = took.as_secs_f64() * 1e3,
        tenant = tenant.map(|t| t.0.as_str()),
        procedure = procedure.as_deref(),
        "request"
    );
    let m = metrics();
    m.http_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(took.as_secs_f64());
    m.http_requests
        .get_or_create(&HttpLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// The procedure a call route names: the last segment of `/rpc/:procedure` and
/// `/t/:tenant/rpc/:procedure`.
fn procedure_of(route: &str, path: &str) -> Option<String> {
    route
        .ends_with("/rpc/:procedure")
        .then(|| {
            path.rsplit('/')
                .next()
                .map(|p| crate::runtime::output::printable(p).into_owned())
        })
        .flatten()
}

/// `/rpc/{procedure}` as `/rpc/:procedure`, `/t/{tenant}/{*route}` as `/t/:tenant/*route`.
fn route_label(template: &str) -> String {
    template
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if name.starts_with('*') => name.to_string(),
                Some(name) => format!(":{name}"),
                None => part.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// `GET /metrics`: every metric; what the store knows is read now.
pub(crate) async fn scrape(State(host): State<Arc<Host>>) -> Result<Response, Problem> {
    let m = metrics();
    match host.unfinished_executions().await {
        Ok(counts) => {
            for status in ExecutionStatus::ALL
                .into_iter()
                .filter(|s| !s.is_finished())
            {
                let count = counts
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                m.executions
                    .get_or_create(&StatusLabels {
                        status: status.as_str().to_string(),
                    })
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        Err(e) => tracing::warn!("counting executions for /metrics: {e}"),
    }
    let (open, idle) = host.store_connections();
    m.store_connections.set(i64::from(open));
    m.store_connections_idle
        .set(i64::try_from(idle).unwrap_or(i64::MAX));
    Ok(([(CONTENT_TYPE, OPENMETRICS)], m.encode()).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_templates_become_labels_without_braces() {
        assert_eq!(super::route_label("/rpc/{procedure}"), "/rpc/:procedure");
        assert_eq!(
            super::route_label("/t/{tenant}/{*route}"),
            "/t/:tenant/*route"
        );
        assert_eq!(super::route_label("/health"), "/health");
    }
}
