//! `/v1/components`: upload (deploy), list, show, delete.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Problem, body_problem};
use crate::host::Host;
use crate::limits::{self, CallLimits};
use crate::registry::Deployment;

/// Query of an upload: the name (else the one in the component's manifest), and optional
/// limits for the deployment.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
    fuel: Option<u64>,
    memory_mib: Option<u64>,
    timeout_ms: Option<u64>,
}

/// A deployment as the API shows it; `with_schemas` adds each procedure's JSON Schemas.
pub fn deployment_json(d: &Deployment, with_schemas: bool) -> Value {
    let procedures: Vec<Value> = d
        .procedures
        .iter()
        .map(|p| {
            let policy = &p.enforcement.policy;
            let mut v = json!({
                "name": p.name,
                "signature": p.signature,
                "public": policy.public,
                "limits": policy.limits,
            });
            if let Some(description) = &p.description {
                v["description"] = json!(description);
            }
            if let Some(route) = &policy.route {
                v["route"] = json!(route.to_string());
            }
            if !policy.tags.is_empty() {
                v["tags"] = json!(policy.tags);
            }
            if let Some(ttl) = policy.cache_ttl {
                v["cache_ttl_ms"] = json!(ttl.as_millis() as u64);
            }
            if let Some(limit) = policy.rate_limit {
                v["rate_limit"] = json!({ "requests": limit.requests.get(), "per_ms": limit.per.as_millis() as u64 });
            }
            if with_schemas {
                v["params_schema"] = p.params_schema.clone();
                v["result_schema"] = p.result_schema.clone();
            }
            v
        })
        .collect();
    json!({
        "name": d.name,
        "version": d.version,
        "component_version": d.about.version,
        "description": d.about.description,
        "size_bytes": d.size_bytes,
        "deployed_at": d.deployed_at,
        "limits": d.limits,
        "workflows": d.workflows,
        "procedures": procedures,
        "unexposed": d.unexposed,
    })
}

/// `POST /v1/components?name=NAME` with the component's bytes.
pub async fn upload(
    State(host): State<Arc<Host>>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let Query(query) = query.map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
            format!(
                "{}; expected ?[name=NAME][&fuel=N&memory_mib=N&timeout_ms=N]",
                e.body_text()
            ),
        )
    })?;
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or("");
        if !matches!(
            content_type,
            "application/wasm" | "application/octet-stream"
        ) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!("send the component as application/wasm, not {content_type}"),
            ));
        }
    }
    let body = body.map_err(|e| body_problem(e, limits::MAX_COMPONENT_BYTES))?;
    let call_limits = CallLimits::with_overrides(
        query.fuel,
        query.memory_mib.map(|mib| mib.saturating_mul(1 << 20)),
        query.timeout_ms,
    )
    .map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-limits",
            "Invalid limits",
            e.to_string(),
        )
    })?;
    let name = match query.name {
        Some(name) => name,
        None => crate::manifest::Manifest::from_component(&body)
            .ok()
            .flatten()
            .and_then(|m| m.component.name)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-query",
                    "Invalid query",
                    "name the component: ?name=NAME (or give it a name in its tsdev.toml)",
                )
            })?,
    };
    let deployment = host.deploy(&name, body.to_vec(), call_limits).await?;
    Ok((
        StatusCode::CREATED,
        Json(deployment_json(&deployment, false)),
    ))
}

/// `GET /v1/components`.
pub async fn list(State(host): State<Arc<Host>>) -> Json<Value> {
    let components: Vec<Value> = host
        .registry()
        .list()
        .iter()
        .map(|d| deployment_json(d, false))
        .collect();
    Json(json!({ "components": components }))
}

/// `GET /v1/components/{name}`.
pub async fn show(
    State(host): State<Arc<Host>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    let deployment = host
        .registry()
        .get(&name)
        .ok_or_else(|| Problem::not_found(format!("no component named {name}")))?;
    Ok(Json(deployment_json(&deployment, true)))
}

/// `DELETE /v1/components/{name}`.
pub async fn remove(
    State(host): State<Arc<Host>>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    if host.undeploy(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!("no component named {name}")))
    }
}
