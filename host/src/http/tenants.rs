//! Tenants, their API keys and the audit log: `/v1/tenants`, `/v1/tenants/{tenant}/keys`,
//! `/v1/audit`. Tenants are the admin's; a tenant's keys are also its own `keys`-scoped
//! keys' business; the audit log is each tenant's own (the admin's: everyone's).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::Problem;
use super::auth::Caller;
use crate::access::{self, Scope};
use crate::api::{
    AuditInfo, AuditList, CreatedKey, KeyInfo, KeyList, NewKey, NewTenant, TenantChange,
    TenantInfo, TenantList,
};
use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::limits;
use crate::quota::QuotaChange;
use crate::store::{AuditEntry, AuditFilter, DEFAULT_TENANT, StoredKey, Tenant};

/// Longest key name.
pub(crate) const MAX_KEY_NAME_LEN: usize = 128;
/// Audit entries listed at most per page.
pub(crate) const MAX_AUDIT_PAGE: i64 = 500;

/// A JSON body of type `T`, or `invalid-args` saying why not. An integral float (`5.0`) is
/// an integer, as JSON Schema's `integer` has it.
fn body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Problem> {
    let mut value = super::json_body(body, limits::MAX_ARGS_BYTES)?;
    integral_floats_as_integers(&mut value);
    serde_json::from_value(value).map_err(|e| Problem::invalid_args(e.to_string()))
}

fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            // Below 2^53 a float holds its integer exactly.
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(members) => members.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn no_tenant(name: &str) -> Problem {
    Problem::not_found(format!(
        "no tenant named {:?}",
        crate::runtime::output::printable(name)
    ))
}

fn tenant_info(host: &Host, tenant: Tenant) -> TenantInfo {
    TenantInfo {
        components: host.registry(&tenant.name).list().len() as u64,
        name: tenant.name,
        created_at: tenant.created_at,
        quotas: tenant.quotas,
    }
}

/// `PATCH /v1/tenants/{tenant}` {quotas: {quota: value, …}} (admin): the quotas given
/// change, at once, in one conditional write. The quotas alone, flat, are read the same.
pub(crate) async fn update(
    State(host): State<Arc<Host>>,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<TenantInfo>, Problem> {
    let change: serde_json::Value = body(raw)?;
    let change: QuotaChange = match change {
        serde_json::Value::Object(ref members) if members.contains_key("quotas") => {
            serde_json::from_value::<TenantChange>(change).map(|c| c.quotas)
        }
        flat => serde_json::from_value(flat),
    }
    .map_err(|e| Problem::invalid_args(e.to_string()))?;
    change
        .check()
        .map_err(|e| Problem::invalid_args(e.to_string()))?;
    let tenant = host
        .tenants()
        .change_quotas(&name, &change)
        .await?
        .ok_or_else(|| no_tenant(&name))?;
    Ok(Json(tenant_info(&host, tenant)))
}

/// `POST /v1/tenants` {name, quotas?} (admin): 201, or 409 `already-exists`.
pub(crate) async fn create(
    State(host): State<Arc<Host>>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TenantInfo>), Problem> {
    let new: NewTenant = body(raw)?;
    access::check_tenant_name(&new.name).map_err(|e| Problem::invalid_args(e.to_string()))?;
    if let Some(quotas) = &new.quotas {
        quotas
            .check()
            .map_err(|e| Problem::invalid_args(e.to_string()))?;
    }
    let Some(tenant) = host
        .tenants()
        .create(&new.name, new.quotas.as_ref())
        .await?
    else {
        return Err(Problem::of(
            ErrorKind::AlreadyExists,
            format!("tenant {} exists", new.name),
        ));
    };
    Ok((StatusCode::CREATED, Json(tenant_info(&host, tenant))))
}

/// `GET /v1/tenants` (admin).
pub(crate) async fn list(State(host): State<Arc<Host>>) -> Result<Json<TenantList>, Problem> {
    let tenants = host.tenants().list().await?;
    Ok(Json(TenantList {
        tenants: tenants.into_iter().map(|t| tenant_info(&host, t)).collect(),
    }))
}

/// The tenant `name` if the caller may see it: its own (with `read`) or any (admin).
/// Another tenant's is 404, exactly as one that does not exist.
async fn visible_tenant(
    host: &Host,
    caller: &Caller,
    name: &str,
    scope: Scope,
) -> Result<Tenant, Problem> {
    if !caller.sees_tenant(name) {
        // Authenticate first: a caller without a key learns nothing either way.
        caller.require(scope)?;
        return Err(no_tenant(name));
    }
    caller.require(scope)?;
    host.tenants()
        .get(name)
        .await?
        .ok_or_else(|| no_tenant(name))
}

/// `GET /v1/tenants/{tenant}`: admin, or the tenant's own key with `read`.
pub(crate) async fn show(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<TenantInfo>, Problem> {
    let tenant = visible_tenant(&host, &caller, &name, Scope::Read).await?;
    Ok(Json(tenant_info(&host, tenant)))
}

/// `DELETE /v1/tenants/{tenant}` (admin): its components, routes and keys go, its
/// executions are cancelled. `default` always exists.
pub(crate) async fn remove(
    State(host): State<Arc<Host>>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    if name == DEFAULT_TENANT {
        return Err(Problem::of(
            ErrorKind::Forbidden,
            "tenant default always exists",
        ));
    }
    if host.delete_tenant(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_tenant(&name))
    }
}

fn key_info(key: StoredKey) -> KeyInfo {
    KeyInfo {
        id: key.id,
        tenant: key.tenant.unwrap_or_else(|| DEFAULT_TENANT.into()),
        name: key.name,
        scopes: key.scopes,
        created_at: key.created_at,
        expires_at: key.expires_at,
        revoked_at: key.revoked_at,
    }
}

/// `POST /v1/tenants/{tenant}/keys` {name, scopes, expires_at?}: 201 with the key, shown
/// this once. Admin, or a key of the tenant with `keys`, which cannot give scopes it lacks
/// (so only an admin key makes another admin key).
pub(crate) async fn create_key(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedKey>), Problem> {
    let tenant = visible_tenant(&host, &caller, &tenant, Scope::Keys).await?;
    let new: NewKey = body(raw)?;
    if new.name.is_empty() || new.name.chars().count() > MAX_KEY_NAME_LEN {
        return Err(Problem::invalid_args(format!(
            "a key name has 1 to {MAX_KEY_NAME_LEN} characters"
        )));
    }
    let mut scopes = new.scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(Problem::invalid_args("give the key at least one scope"));
    }
    if let Some(missing) = scopes.iter().find(|s| !caller.has(**s)) {
        return Err(Problem::of(
            ErrorKind::Forbidden,
            format!("a key cannot give scope {missing}, which it does not have itself"),
        )
        .with("scope", serde_json::json!(missing.as_str())));
    }
    let now = now_ms();
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(Problem::invalid_args("expires_at is in the past"));
    }
    let secret = access::generate_key().map_err(|e| Problem::internal(&e))?;
    let stored = StoredKey {
        id: access::new_key_id(),
        tenant: Some(tenant.name),
        name: new.name,
        hash: secret.hash,
        scopes,
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
    };
    host.tenants().create_key(&stored).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: secret.key,
            info: key_info(stored),
        }),
    ))
}

/// `GET /v1/tenants/{tenant}/keys`: never a key itself.
pub(crate) async fn list_keys(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Result<Json<KeyList>, Problem> {
    let tenant = visible_tenant(&host, &caller, &tenant, Scope::Keys).await?;
    let keys = host.tenants().keys(&tenant.name).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(key_info).collect(),
    }))
}

/// `DELETE /v1/tenants/{tenant}/keys/{id}`: revoked at once.
pub(crate) async fn revoke_key(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let tenant = visible_tenant(&host, &caller, &tenant, Scope::Keys).await?;
    if host.tenants().revoke_key(Some(&tenant.name), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!(
            "no live key {:?} in tenant {}",
            crate::runtime::output::printable(&id),
            tenant.name
        )))
    }
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    /// Admin only: one tenant's entries (else everyone's).
    tenant: Option<String>,
    action: Option<String>,
    /// Entries at or after this time (ms since the Unix epoch).
    since: Option<i64>,
    /// Entries before this time.
    until: Option<i64>,
    /// The `next` of the previous page.
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /v1/audit`: the caller's tenant's entries (the admin's: every tenant's), newest
/// first, paged.
pub(crate) async fn audit(
    State(host): State<Arc<Host>>,
    State(strangers): State<Arc<super::audit::Strangers>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditList>, Problem> {
    super::audit::flush_strangers(&host, &strangers).await;
    let Query(query) = query.map_err(|e| Problem::of(ErrorKind::InvalidQuery, e.body_text()))?;
    let tenant = if caller.has(Scope::Admin) {
        query.tenant
    } else {
        Some(caller.tenant.clone())
    };
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_AUDIT_PAGE);
    let entries = host
        .tenants()
        .audit_entries(&AuditFilter {
            tenant,
            action: query.action,
            since: query.since,
            until: query.until,
            before_seq: query.before,
            limit,
        })
        .await?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditList {
        entries: entries.into_iter().map(audit_info).collect(),
        next,
    }))
}

fn audit_info(entry: AuditEntry) -> AuditInfo {
    AuditInfo {
        seq: entry.seq,
        at: entry.at,
        tenant: entry.tenant,
        key_id: entry.key_id,
        action: entry.action,
        target: entry.target,
        request_id: entry.request_id,
        status: entry.status,
        outcome: entry.outcome,
        repeats: entry.repeats,
    }
}
