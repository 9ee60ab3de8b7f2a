//! The audit log: every management action (deploy, delete, tenant and key changes, cancel,
//! signal) with its outcome, and every refusal (401, 403) of a management endpoint, with
//! time, tenant, key id (never the key), action, target and request id. Entries are
//! appended after the answer is made; an entry that cannot be written is logged as an
//! error (the action itself has happened).

use axum::http::{Method, StatusCode};

use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::runtime::output::printable;
use crate::store::AuditEntry;

/// Longest target kept (the request path and query).
const MAX_TARGET_LEN: usize = 512;

/// The audit name of a management route, and whether it changes something (recorded
/// always; reads are recorded only when refused).
pub(crate) fn action_of(method: &Method, route: &str) -> Option<(&'static str, bool)> {
    let write = *method != Method::GET;
    let action = match (method.as_str(), route) {
        ("POST", "/v1/components") => "component.deploy",
        ("DELETE", "/v1/components/{name}") => "component.delete",
        ("GET", "/v1/components") => "component.list",
        ("GET", "/v1/components/{name}") => "component.show",
        ("GET", "/v1/components/{name}/versions") => "component.versions",
        ("POST", "/v1/components/{name}/rollback") => "component.rollback",
        ("GET", "/v1/components/{name}/config") => "component.config.show",
        ("PUT", "/v1/components/{name}/config") => "component.config.set",
        ("POST", "/v1/tenants") => "tenant.create",
        ("GET", "/v1/tenants") => "tenant.list",
        ("GET", "/v1/tenants/{tenant}") => "tenant.show",
        ("DELETE", "/v1/tenants/{tenant}") => "tenant.delete",
        ("PATCH", "/v1/tenants/{tenant}") => "tenant.update",
        ("POST", "/v1/tenants/{tenant}/keys") => "key.create",
        ("GET", "/v1/tenants/{tenant}/keys") => "key.list",
        ("DELETE", "/v1/tenants/{tenant}/keys/{id}") => "key.revoke",
        ("POST", "/v1/workflows/{name}/executions") => "execution.start",
        ("GET", "/v1/executions") => "execution.list",
        ("GET", "/v1/executions/{id}") => "execution.show",
        ("GET", "/v1/executions/{id}/events") => "execution.events",
        ("POST", "/v1/executions/{id}/cancel") => "execution.cancel",
        ("POST", "/v1/executions/{id}/signals/{name}") => "execution.signal",
        ("GET", "/v1/audit") => "audit.list",
        ("GET", "/v1/kv/{bucket}") => "kv.list",
        ("GET", "/v1/kv/{bucket}/{*key}") => "kv.get",
        ("PUT", "/v1/kv/{bucket}/{*key}") => "kv.set",
        ("DELETE", "/v1/kv/{bucket}/{*key}") => "kv.delete",
        ("GET", "/v1/schedules") => "schedule.list",
        ("GET", "/v1/schedules/{name}") => "schedule.show",
        ("PUT", "/v1/schedules/{name}") => "schedule.set",
        ("DELETE", "/v1/schedules/{name}") => "schedule.delete",
        ("GET", "/v1/stats") => "stats.show",
        ("GET", "/v1/nodes") => "node.list",
        ("POST", "/v1/nodes/{id}/drain") => "node.drain",
        _ => return None,
    };
    Some((action, write))
}

/// What a request was, for its entry.
pub(crate) struct Asked {
    /// The tenant named in the path (`/v1/tenants/{tenant}/…`), if one is.
    pub(crate) tenant: Option<String>,
    pub(crate) action: &'static str,
    pub(crate) write: bool,
    pub(crate) target: String,
    pub(crate) request_id: String,
}

impl Asked {
    /// The tenant a `/v1/tenants/{tenant}…` route names.
    pub(crate) fn tenant_of(route: &str, uri: &axum::http::Uri) -> Option<String> {
        if !route.starts_with("/v1/tenants/{tenant}") {
            return None;
        }
        uri.path()
            .split('/')
            .nth(3)
            .map(|t| printable(t).chars().take(64).collect())
    }

    /// The request's target as kept: its path and query, escaped and cut.
    pub(crate) fn target_of(uri: &axum::http::Uri) -> String {
        let full = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
        printable(&full).chars().take(MAX_TARGET_LEN).collect()
    }
}

/// Append the entry of `asked`, answered with `status` (and the problem `kind`, for a
/// problem), if it is one to keep. `who` is the caller's tenant and key id, when the
/// caller was known (not for a refused key).
pub(crate) async fn record(
    host: &Host,
    who: Option<(&str, Option<&str>)>,
    asked: Asked,
    status: StatusCode,
    kind: Option<ErrorKind>,
) {
    let refused = status.as_u16() == 401 || status.as_u16() == 403;
    if !asked.write && !refused {
        return;
    }
    let outcome = match kind {
        Some(kind) => kind.as_str().to_string(),
        None if status.is_success() => "ok".to_string(),
        None => format!("status-{}", status.as_u16()),
    };
    let entry = AuditEntry {
        seq: 0,
        at: now_ms(),
        // The tenant acted on: the one the path names, else the caller's.
        tenant: asked.tenant.unwrap_or_else(|| {
            who.map_or(crate::store::DEFAULT_TENANT, |(tenant, _)| tenant)
                .to_string()
        }),
        key_id: who.and_then(|(_, key)| key).map(str::to_string),
        action: asked.action.to_string(),
        target: asked.target,
        request_id: asked.request_id,
        status: status.as_u16(),
        outcome,
    };
    if let Err(e) = host.store().append_audit(&entry).await {
        tracing::error!(action = entry.action, "appending to the audit log: {e}");
    }
}
