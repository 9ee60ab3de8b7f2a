//! `/v1/components`: upload (deploy), list, show, delete, versions and rollback.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use serde::Deserialize;

use super::Problem;
use super::auth::Caller;
use crate::api::{
    ComponentInfo, ComponentList, ConfigChange, ConfigInfo, GrantsInfo, HttpInfo, ProcedureInfo,
    RateLimitInfo, RollbackRequest, UnexposedInfo, VersionInfo, VersionList,
};
use crate::error_kind::ErrorKind;
use crate::host::{ConfigError, Host};
use crate::limits::{self, CallLimits};
use crate::registry::Deployment;

/// Query of an upload: the name (else the one in the component's manifest), and optional
/// limits for the deployment.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadQuery {
    name: Option<String>,
    fuel: Option<u64>,
    memory_mib: Option<u64>,
    timeout_ms: Option<u64>,
}

/// A deployment as the API shows it; `with_schemas` adds each procedure's JSON Schemas.
pub(crate) fn component_info(d: &Deployment, with_schemas: bool) -> ComponentInfo {
    let procedures = d
        .procedures
        .iter()
        .map(|p| {
            let policy = &p.enforcement.policy;
            ProcedureInfo {
                name: p.name.clone(),
                signature: p.signature.clone(),
                public: policy.public,
                workflow: d.workflows,
                limits: policy.limits,
                description: p.description.clone(),
                route: policy.route.as_ref().map(ToString::to_string),
                tags: policy.tags.clone(),
                cache_ttl_ms: policy.cache_ttl.map(|ttl| ttl.as_millis() as u64),
                rate_limit: policy.rate_limit.map(|limit| RateLimitInfo {
                    requests: limit.requests.get(),
                    per_ms: limit.per.as_millis() as u64,
                }),
                params_schema: with_schemas.then(|| p.params_schema.clone()),
                result_schema: with_schemas.then(|| p.result_schema.clone()),
            }
        })
        .collect();
    ComponentInfo {
        name: d.name.clone(),
        version: d.version.clone(),
        component_version: d.about.version.clone(),
        description: d.about.description.clone(),
        size_bytes: d.size_bytes as u64,
        deployed_at: d.deployed_at,
        limits: d.limits,
        workflows: d.workflows,
        procedures,
        unexposed: d
            .unexposed
            .iter()
            .map(|u| UnexposedInfo {
                name: u.name.clone(),
                reason: u.reason.clone(),
            })
            .collect(),
        grants: GrantsInfo {
            key_value: d.grants.key_value.clone(),
            outbound_http: d.grants.outbound_http.clone(),
            invoke: d.grants.invoke.clone(),
        },
        http: d.http.as_ref().map(|h| HttpInfo {
            prefix: h.prefix.clone(),
            public: h.public,
        }),
    }
}

/// `POST /v1/components?name=NAME` with the component's bytes.
pub(crate) async fn upload(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ComponentInfo>), Problem> {
    let Query(query) = query.map_err(|e| {
        Problem::of(
            ErrorKind::InvalidQuery,
            format!(
                "{}; expected ?[name=NAME][&fuel=N&memory_mib=N&timeout_ms=N]",
                e.body_text()
            ),
        )
    })?;
    // Required: a page on another site cannot send this type without a CORS preflight.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|c| c.to_str().unwrap_or("?"));
    if !content_type.is_some_and(is_wasm_media_type) {
        return Err(Problem::of(
            ErrorKind::UnsupportedMediaType,
            match content_type {
                Some(other) => format!(
                    "send the component as application/wasm, not {}",
                    crate::runtime::output::printable(other)
                ),
                None => "send the component with Content-Type: application/wasm".into(),
            },
        ));
    }
    let body = super::body_within(body, limits::MAX_COMPONENT_BYTES, "the component").await?;
    let call_limits = CallLimits::with_overrides(
        query.fuel,
        query.memory_mib.map(|mib| mib.saturating_mul(1 << 20)),
        query.timeout_ms,
    )
    .map_err(|e| Problem::of(ErrorKind::InvalidLimits, e.to_string()))?;
    let name = match query.name {
        Some(name) => name,
        None => crate::manifest::Manifest::from_component(&body)
            .ok()
            .flatten()
            .and_then(|m| m.component.name)
            .ok_or_else(|| {
                Problem::of(
                    ErrorKind::InvalidQuery,
                    "name the component: ?name=NAME (or give it a name in its tsdev.toml)",
                )
            })?,
    };
    let deployment = host
        .deploy(
            &caller.tenant,
            &name,
            body.to_vec(),
            call_limits,
            caller.key_id.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(component_info(&deployment, false)),
    ))
}

/// `GET /v1/components`.
pub(crate) async fn list(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ComponentList>, Problem> {
    let components = host
        .registry(&caller.tenant)
        .list()
        .iter()
        .map(|d| component_info(d, false))
        .collect();
    Ok(Json(ComponentList { components }))
}

/// `GET /v1/components/{name}`.
pub(crate) async fn show(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ComponentInfo>, Problem> {
    let deployment = host
        .registry(&caller.tenant)
        .get(&name)
        .ok_or_else(|| Problem::not_found(format!("no component named {name}")))?;
    Ok(Json(component_info(&deployment, true)))
}

/// `DELETE /v1/components/{name}`.
pub(crate) async fn remove(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    if host.undeploy(&caller.tenant, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!("no component named {name}")))
    }
}

/// `GET /v1/components/{name}/versions`.
pub(crate) async fn versions(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<VersionList>, Problem> {
    let versions = host
        .versions(&caller.tenant, &name)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no component named {name}")))?;
    Ok(Json(VersionList {
        name,
        versions: versions
            .into_iter()
            .map(|v| VersionInfo {
                version: v.version,
                deployed_at: v.deployed_at,
                deployed_by: v.deployed_by,
                size_bytes: v.size_bytes,
                current: v.current,
            })
            .collect(),
    }))
}

/// `POST /v1/components/{name}/rollback` with an optional `{"version": HASH}`.
pub(crate) async fn rollback(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ComponentInfo>, Problem> {
    let request: RollbackRequest = if body.is_empty() {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Problem::of(
                ErrorKind::BadBody,
                format!("expected {{\"version\": HASH}} or no body: {e}"),
            )
        })?
    };
    let deployment = host
        .rollback(
            &caller.tenant,
            &name,
            request.version.as_deref(),
            caller.key_id.as_deref(),
        )
        .await?;
    Ok(Json(component_info(&deployment, false)))
}

/// `GET /v1/components/{name}/config`: its values, and the names of its secrets.
pub(crate) async fn config(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ConfigInfo>, Problem> {
    host.component_config(&caller.tenant, &name)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("no component named {name}")))
}

/// `PUT /v1/components/{name}/config` with values and secrets to set (`null` deletes).
pub(crate) async fn set_config(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ConfigInfo>, Problem> {
    let body = body.map_err(|e| super::body_problem(e, limits::MAX_ARGS_BYTES))?;
    let change: ConfigChange = serde_json::from_slice(&body).map_err(|e| {
        Problem::of(ErrorKind::BadBody,
            format!("expected {{\"values\": {{KEY: VALUE or null}}, \"secrets\": {{KEY: VALUE or null}}}}: {e}"),
        )
    })?;
    match host.change_config(&caller.tenant, &name, change).await {
        Ok(Some(info)) => Ok(Json(info)),
        Ok(None) => Err(Problem::not_found(format!("no component named {name}"))),
        Err(ConfigError::Invalid(message)) => Err(Problem::invalid_args(message)),
        Err(e @ ConfigError::TooManyKeys) => {
            Err(Problem::of(ErrorKind::TooManyKeys, e.to_string()))
        }
        Err(ConfigError::Store(e)) => Err(e.into()),
    }
}

/// `application/wasm` or `application/octet-stream`, in any case, with any parameters
/// (media types are case-insensitive and may carry `; charset=…`).
fn is_wasm_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/wasm")
        || essence.eq_ignore_ascii_case("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::is_wasm_media_type;

    #[test]
    fn media_types_are_read_as_rfc_9110_says() {
        for accepted in [
            "application/wasm",
            "Application/WASM",
            "application/wasm; charset=binary",
            "application/octet-stream",
        ] {
            assert!(is_wasm_media_type(accepted), "{accepted}");
        }
        for refused in ["text/plain", "application/wasmx", "", "application/json"] {
            assert!(!is_wasm_media_type(refused), "{refused}");
        }
    }
}
