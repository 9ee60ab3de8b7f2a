//! `/v1/kv`: operators reach their tenant's key-value data, the same entries its
//! components read and write through `wasi:keyvalue` (docs/capabilities.md). Values are
//! bytes both ways (`application/octet-stream`); keys may hold `/`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::Problem;
use super::auth::Caller;
use crate::api::KvKeyList;
use crate::capabilities::keyvalue::{KvError, Scope as Bucket};
use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::limits::{KV_KEYS_PER_PAGE, MAX_KV_VALUE_BYTES};
use crate::store::KvExpect;

impl From<KvError> for Problem {
    fn from(error: KvError) -> Problem {
        match error {
            KvError::InvalidKey(_) => Problem::invalid_args(error.to_string()),
            KvError::ValueTooLarge(_) => Problem::of(ErrorKind::TooLarge, error.to_string()),
            KvError::OverQuota { .. } => Problem::of(ErrorKind::QuotaExceeded, error.to_string())
                .with("quota", json!("kv_bytes")),
            KvError::NotAnInteger(_) | KvError::Overflow(_) | KvError::Contended(_) => {
                Problem::invalid_args(error.to_string())
            }
            KvError::Store(e) => e.into(),
        }
    }
}

/// The caller's tenant's bucket `name`, checked.
fn bucket(host: &Arc<Host>, caller: &Caller, name: String) -> Result<Bucket, Problem> {
    crate::grants::check_bucket_name(&name).map_err(|e| Problem::invalid_args(e.to_string()))?;
    Ok(host.bucket(&caller.tenant, name))
}

/// Query of `GET /v1/kv/{bucket}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only keys that start with this.
    #[serde(default)]
    prefix: String,
    /// Keys after this one (the `next` of the page before).
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/kv/{bucket}?prefix=&after=&limit=`: keys in order, a page at a time.
pub(crate) async fn list(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<KvKeyList>, Problem> {
    let Query(query) = query.map_err(|e| {
        Problem::of(
            ErrorKind::InvalidQuery,
            format!(
                "{}; expected ?[prefix=P][&after=KEY][&limit=N]",
                e.body_text()
            ),
        )
    })?;
    let limit = query.limit.unwrap_or(KV_KEYS_PER_PAGE);
    if !(1..=KV_KEYS_PER_PAGE).contains(&limit) {
        return Err(Problem::of(
            ErrorKind::InvalidQuery,
            format!("limit must be between 1 and {KV_KEYS_PER_PAGE}"),
        ));
    }
    let bucket = bucket(&host, &caller, name)?;
    let page = bucket
        .list(&query.prefix, query.after.as_deref(), limit)
        .await?;
    let next = if page.more {
        page.keys.last().cloned()
    } else {
        None
    };
    Ok(axum::Json(KvKeyList {
        bucket: bucket.bucket,
        keys: page.keys,
        next,
    }))
}

/// `GET /v1/kv/{bucket}/{key}`: the value's bytes.
pub(crate) async fn get(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let bucket = bucket(&host, &caller, name)?;
    match bucket.get(&key).await? {
        Some(entry) => Ok((
            [(header::CONTENT_TYPE, "application/octet-stream")],
            entry.value,
        )
            .into_response()),
        None => Err(Problem::not_found(format!(
            "bucket {} has no key {key:?}",
            bucket.bucket
        ))),
    }
}

/// `PUT /v1/kv/{bucket}/{key}`: set the value to the body's bytes.
pub(crate) async fn put(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path((name, key)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Problem> {
    let bucket = bucket(&host, &caller, name)?;
    let body = body.map_err(|e| super::body_problem(e, MAX_KV_VALUE_BYTES))?;
    bucket.set(&key, body.to_vec(), KvExpect::Anything).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/kv/{bucket}/{key}`.
pub(crate) async fn delete(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path((name, key)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let bucket = bucket(&host, &caller, name)?;
    if bucket.delete(&key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!(
            "bucket {} has no key {key:?}",
            bucket.bucket
        )))
    }
}
