//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) over the host's own store, and
//! the operations `/v1/kv` shares with it. Entries belong to a tenant and a bucket; a
//! component opens only the buckets its manifest grants (`[grants] key-value`), and sees
//! only its own tenant's entries under those names.
//!
//! A counter (`increment`) is kept as the decimal text of a signed 64-bit integer, as
//! Redis keeps one, so that it reads plainly over `/v1/kv`. Increments and
//! compare-and-swap are conditional writes on the entry's version: correct under any
//! concurrency, on one node or many.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::limits::{MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES};
use crate::runtime::StoreState;
use crate::store::{KvEntry, KvExpect, KvSet, KvWrite, Store, StoreError};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/keyvalue",
        world: "wasi:keyvalue/imports",
        // Every operation awaits the store.
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
            "wasi:keyvalue/atomics.cas": super::Cas,
        },
    });
}

use self::bindings::wasi::keyvalue::atomics::{self, CasError};
use self::bindings::wasi::keyvalue::batch;
use self::bindings::wasi::keyvalue::store::{self, Error, KeyResponse};

/// How often an increment reads and writes again when another write came between.
/// Each attempt that fails does so because another write succeeded.
const INCREMENT_ATTEMPTS: usize = 1000;

/// An open bucket: its name (granted when it was opened).
// `pub`: the bindings re-export the resource types with `pub use`.
#[allow(unreachable_pub)]
pub struct Bucket {
    name: String,
}

/// A compare-and-swap under way: the entry as it was read.
#[allow(unreachable_pub)]
pub struct Cas {
    bucket: String,
    key: String,
    read: Option<KvEntry>,
}

/// Add the `wasi:keyvalue` imports to `linker` (a [`crate::runtime::ImportsHook`]).
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    bindings::Imports::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

/// A key-value operation that cannot be done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KvError {
    /// The key is empty, too long or holds a NUL.
    #[error("key {0}")]
    InvalidKey(String),
    /// The value is larger than the limit.
    #[error("value of {0} bytes is larger than the limit of {MAX_KV_VALUE_BYTES} bytes")]
    ValueTooLarge(usize),
    /// The write would take the tenant past its `kv_bytes` quota.
    #[error(
        "the write would take the tenant to {would_hold} bytes of key-value data, past its kv_bytes quota of {quota}"
    )]
    OverQuota {
        /// Bytes the tenant would hold.
        would_hold: u64,
        /// The quota.
        quota: u64,
    },
    /// An increment of a value that is not a decimal integer.
    #[error("the value of {0:?} is not a decimal 64-bit integer, so it cannot be incremented")]
    NotAnInteger(String),
    /// An increment past the range of a 64-bit integer.
    #[error("incrementing {0:?} would overflow a 64-bit integer")]
    Overflow(String),
    /// Other writes kept coming between an increment's read and write.
    #[error("key {0:?} is written too often to increment now; try again")]
    Contended(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuse keys the store cannot hold or that are past the limit.
pub(crate) fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::InvalidKey("is empty".into()));
    }
    if key.len() > MAX_KV_KEY_BYTES {
        return Err(KvError::InvalidKey(format!(
            "of {} bytes is longer than the limit of {MAX_KV_KEY_BYTES} bytes",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(KvError::InvalidKey("holds a NUL character".into()));
    }
    Ok(())
}

/// A tenant's bucket, as the store sees it.
pub(crate) struct Scope {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tenant: String,
    pub(crate) bucket: String,
    /// The tenant's `kv_bytes` quota.
    pub(crate) kv_bytes: u64,
}

impl Scope {
    pub(crate) async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
        check_key(key)?;
        Ok(self.store.kv_get(&self.tenant, &self.bucket, key).await?)
    }

    /// Write `value` at `key` if `expect` holds; false when it did not.
    pub(crate) async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        expect: KvExpect,
    ) -> Result<bool, KvError> {
        check_key(key)?;
        if value.len() > MAX_KV_VALUE_BYTES {
            return Err(KvError::ValueTooLarge(value.len()));
        }
        let written = self
            .store
            .kv_set(KvSet {
                tenant: self.tenant.clone(),
                bucket: self.bucket.clone(),
                key: key.to_string(),
                value,
                expect,
                max_bytes: self.kv_bytes,
                now: crate::clock::now_ms(),
            })
            .await?;
        match written {
            KvWrite::Written(_) => Ok(true),
            KvWrite::Conflict => Ok(false),
            KvWrite::OverQuota { would_hold } => Err(KvError::OverQuota {
                would_hold,
                quota: self.kv_bytes,
            }),
        }
    }

    /// Keys of the bucket that start with `prefix`, in order, after `after`: a page of at
    /// most `limit`.
    pub(crate) async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<crate::store::KvKeys, KvError> {
        Ok(self
            .store
            .kv_list(&self.tenant, &self.bucket, prefix, after, limit)
            .await?)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<bool, KvError> {
        check_key(key)?;
        Ok(self
            .store
            .kv_delete(&self.tenant, &self.bucket, key)
            .await?)
    }

    /// Add `delta` to the counter at `key` (absent: 0); its new value.
    pub(crate) async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        for _ in 0..INCREMENT_ATTEMPTS {
            let read = self.get(key).await?;
            let (current, expect) = match &read {
                None => (0, KvExpect::Absent),
                Some(entry) => {
                    let number = std::str::from_utf8(&entry.value)
                        .ok()
                        .and_then(|text| text.trim().parse::<i64>().ok())
                        .ok_or_else(|| KvError::NotAnInteger(key.to_string()))?;
                    (number, KvExpect::Version(entry.version))
                }
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| KvError::Overflow(key.to_string()))?;
            if self.set(key, next.to_string().into_bytes(), expect).await? {
                return Ok(next);
            }
            // Another write came between: read again, after letting others run.
            tokio::task::yield_now().await;
        }
        Err(KvError::Contended(key.to_string()))
    }
}

/// What a workflow's own code is told: its effects would not be journaled.
const NOT_IN_WORKFLOW: &str = "key-value is not available to a workflow's own code (it would not replay): call a procedure that uses it as a step";

/// The guest's view of a failure: the cause of a store failure stays in the host log.
fn guest_error(error: KvError) -> Error {
    match error {
        KvError::Store(e) => {
            tracing::warn!(target: "tsdev::capabilities", "key-value store: {e}");
            Error::Other("the host's store failed; try again".into())
        }
        other => Error::Other(other.to_string()),
    }
}

/// The scope of an open bucket.
fn scope(state: &mut StoreState, bucket: &Resource<Bucket>) -> wasmtime::Result<Option<Scope>> {
    let name = state.table.get(bucket)?.name.clone();
    Ok(super::of(state).map(|caps| Scope {
        store: caps.store.clone(),
        tenant: caps.tenant.clone(),
        bucket: name,
        kv_bytes: caps.kv_bytes,
    }))
}

/// Run `op` in the bucket's scope, with its failures as the guest sees them.
async fn in_scope<T>(
    state: &mut StoreState,
    bucket: &Resource<Bucket>,
    op: impl AsyncFnOnce(Scope) -> Result<T, KvError>,
) -> wasmtime::Result<Result<T, Error>> {
    let Some(scope) = scope(state, bucket)? else {
        return Ok(Err(Error::Other(NOT_IN_WORKFLOW.into())));
    };
    Ok(op(scope).await.map_err(guest_error))
}

impl store::Host for StoreState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, Error>> {
        let request_id = self.label().request_id.clone();
        let Some(caps) = super::of(self) else {
            return Ok(Err(Error::Other(NOT_IN_WORKFLOW.into())));
        };
        if !caps.grants.allows_bucket(&identifier) {
            tracing::warn!(
                target: "tsdev::capabilities",
                tenant = %caps.tenant,
                %request_id,
                bucket = %crate::runtime::output::printable(&identifier),
                "a component opened a key-value bucket its manifest does not grant"
            );
            return Ok(Err(Error::AccessDenied));
        }
        Ok(Ok(self.table.push(Bucket { name: identifier })?))
    }
}

impl store::HostBucket for StoreState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        in_scope(self, &bucket, async |s| {
            Ok(s.get(&key).await?.map(|entry| entry.value))
        })
        .await
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        in_scope(self, &bucket, async |s| {
            s.set(&key, value, KvExpect::Anything).await.map(drop)
        })
        .await
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        in_scope(self, &bucket, async |s| s.delete(&key).await.map(drop)).await
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        in_scope(self, &bucket, async |s| Ok(s.get(&key).await?.is_some())).await
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        in_scope(self, &bucket, async |s| {
            let page = s
                .store
                .kv_list(
                    &s.tenant,
                    &s.bucket,
                    "",
                    cursor.as_deref(),
                    crate::limits::KV_KEYS_PER_PAGE,
                )
                .await?;
            // The cursor is the last key answered: the next page starts after it.
            let cursor = if page.more {
                page.keys.last().cloned()
            } else {
                None
            };
            Ok(KeyResponse {
                keys: page.keys,
                cursor,
            })
        })
        .await
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for StoreState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        in_scope(self, &bucket, async |s| s.increment(&key, delta).await).await
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let Cas { bucket, key, read } = self.table.delete(cas)?;
        let Some(caps) = super::of(self) else {
            return Ok(Err(CasError::StoreError(Error::Other(
                NOT_IN_WORKFLOW.into(),
            ))));
        };
        let scope = Scope {
            store: caps.store.clone(),
            tenant: caps.tenant.clone(),
            bucket,
            kv_bytes: caps.kv_bytes,
        };
        let expect = match &read {
            None => KvExpect::Absent,
            Some(entry) => KvExpect::Version(entry.version),
        };
        match scope.set(&key, value, expect).await {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Changed since it was read: a new handle on what is there now.
                let read = match scope.get(&key).await {
                    Ok(read) => read,
                    Err(e) => return Ok(Err(CasError::StoreError(guest_error(e)))),
                };
                let fresh = self.table.push(Cas {
                    bucket: scope.bucket,
                    key,
                    read,
                })?;
                Ok(Err(CasError::CasFailed(fresh)))
            }
            Err(e) => Ok(Err(CasError::StoreError(guest_error(e)))),
        }
    }
}

impl atomics::HostCas for StoreState {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, Error>> {
        let read = in_scope(self, &bucket, async |s| s.get(&key).await).await?;
        let read = match read {
            Ok(read) => read,
            Err(e) => return Ok(Err(e)),
        };
        let bucket = self.table.get(&bucket)?.name.clone();
        Ok(Ok(self.table.push(Cas { bucket, key, read })?))
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let cas = self.table.get(&cas)?;
        Ok(Ok(cas.read.as_ref().map(|entry| entry.value.clone())))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for StoreState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<(String, Vec<u8>)>>, Error>> {
        in_scope(self, &bucket, async |s| {
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                let entry = s.get(&key).await?;
                found.push(entry.map(|entry| (key, entry.value)));
            }
            Ok(found)
        })
        .await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        in_scope(self, &bucket, async |s| {
            for (key, value) in key_values {
                s.set(&key, value, KvExpect::Anything).await?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        in_scope(self, &bucket, async |s| {
            for key in keys {
                s.delete(&key).await?;
            }
            Ok(())
        })
        .await
    }
}
