//! Key-value data of guests (`wasi:keyvalue`) and operators (`/v1/kv`): entries per tenant
//! and bucket, each with a version that changes on every write, so that increments and
//! compare-and-swap are built on one conditional write ([`KvExpect`]). The bytes each
//! tenant holds (keys and values) are kept by triggers and checked against its `kv_bytes`
//! quota inside the write that would pass it.

use sqlx::Row;

use super::sql::SqlStore;
use super::{StoreError, db};

/// An entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    /// The value's bytes.
    pub value: Vec<u8>,
    /// Changes (to a random number) on every write of the key.
    pub version: i64,
}

/// What a write expects to find, or it writes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvExpect {
    /// Whatever is there (a plain set).
    Anything,
    /// No entry (the first write of a compare-and-swap or an increment).
    Absent,
    /// The entry at this version.
    Version(i64),
}

/// How a write went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvWrite {
    /// Written; the entry's new version.
    Written(i64),
    /// Not what was expected: nothing written.
    Conflict,
    /// It would take the tenant past its `kv_bytes` quota: nothing written.
    OverQuota {
        /// The bytes the tenant would hold with the write.
        would_hold: u64,
    },
}

/// A write of one entry.
#[derive(Clone, Debug)]
pub struct KvSet {
    /// Whose entry.
    pub tenant: String,
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The value to write.
    pub value: Vec<u8>,
    /// What must be there for the write to be made.
    pub expect: KvExpect,
    /// The tenant's `kv_bytes` quota.
    pub max_bytes: u64,
    /// ms since the Unix epoch.
    pub now: i64,
}

/// One page of keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvKeys {
    /// Keys in order.
    pub keys: Vec<String>,
    /// More keys follow the last of these.
    pub more: bool,
}

/// Key-value entries of tenants.
#[async_trait::async_trait]
pub trait KeyValueStore: Send + Sync {
    /// The entry at `key`, if there is one.
    async fn kv_get(
        &self,
        tenant: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<KvEntry>, StoreError>;

    /// Make `write` if its expectation holds and the tenant stays within its quota (or the
    /// write does not grow what it holds).
    async fn kv_set(&self, write: KvSet) -> Result<KvWrite, StoreError>;

    /// Delete the entry at `key`; false when there was none.
    async fn kv_delete(&self, tenant: &str, bucket: &str, key: &str) -> Result<bool, StoreError>;

    /// Up to `limit` keys of `bucket` starting with `prefix`, after key `after` when given,
    /// in order.
    async fn kv_list(
        &self,
        tenant: &str,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvKeys, StoreError>;

    /// Bytes of keys and values `tenant` holds.
    async fn kv_bytes(&self, tenant: &str) -> Result<u64, StoreError>;
}

/// A version no write has given the entry before (as far as 64 random bits go).
fn fresh_version() -> i64 {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    high as i64
}

const USAGE: &str = "SELECT bytes FROM kv_usage WHERE tenant = $1";

async fn usage_on(conn: &mut sqlx::AnyConnection, tenant: &str) -> Result<u64, StoreError> {
    let bytes: Option<i64> = sqlx::query_scalar(USAGE)
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("reading key-value usage"))?;
    Ok(bytes.unwrap_or(0).max(0) as u64)
}

#[async_trait::async_trait]
impl KeyValueStore for SqlStore {
    async fn kv_get(
        &self,
        tenant: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<KvEntry>, StoreError> {
        let row = sqlx::query(
            "SELECT value, version FROM kv_entries WHERE tenant = $1 AND bucket = $2 AND key = $3",
        )
        .bind(tenant)
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading a key-value entry"))?;
        row.map(|row| {
            Ok(KvEntry {
                value: row
                    .try_get("value")
                    .map_err(db("reading a key-value entry"))?,
                version: row
                    .try_get("version")
                    .map_err(db("reading a key-value entry"))?,
            })
        })
        .transpose()
    }

    async fn kv_set(&self, write: KvSet) -> Result<KvWrite, StoreError> {
        let KvSet {
            tenant,
            bucket,
            key,
            value,
            expect,
            max_bytes,
            now,
        } = write;
        let version = fresh_version();
        let outcome = self
            .writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    let before = usage_on(conn, &tenant).await?;
                    let statement = match expect {
                        KvExpect::Anything => {
                            "INSERT INTO kv_entries (tenant, bucket, key, value, version, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) \
                             ON CONFLICT (tenant, bucket, key) DO UPDATE SET value = excluded.value, \
                             version = excluded.version, updated_at = excluded.updated_at"
                        }
                        KvExpect::Absent => {
                            "INSERT INTO kv_entries (tenant, bucket, key, value, version, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) \
                             ON CONFLICT (tenant, bucket, key) DO NOTHING"
                        }
                        KvExpect::Version(_) => {
                            "UPDATE kv_entries SET value = $4, version = $5, updated_at = $6 \
                             WHERE tenant = $1 AND bucket = $2 AND key = $3 AND version = $7"
                        }
                    };
                    let mut query = sqlx::query(statement)
                        .bind(&tenant)
                        .bind(&bucket)
                        .bind(&key)
                        .bind(value)
                        .bind(version)
                        .bind(now);
                    if let KvExpect::Version(expected) = expect {
                        query = query.bind(expected);
                    }
                    let written = query
                        .execute(&mut *conn)
                        .await
                        .map_err(db("writing a key-value entry"))?
                        .rows_affected();
                    if written == 0 {
                        return Ok(KvWrite::Conflict);
                    }
                    // After the write the tenant's usage row is locked (PostgreSQL) or the
                    // writer is alone (SQLite): this figure is exact.
                    let after = usage_on(conn, &tenant).await?;
                    if after > max_bytes && after > before {
                        // An error, so that the write is undone.
                        return Err(StoreError::KvPastQuota(after));
                    }
                    Ok(KvWrite::Written(version))
                })
            })
            .await;
        match outcome {
            Err(StoreError::KvPastQuota(would_hold)) => Ok(KvWrite::OverQuota { would_hold }),
            other => other,
        }
    }

    async fn kv_delete(&self, tenant: &str, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let (tenant, bucket, key) = (tenant.to_string(), bucket.to_string(), key.to_string());
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let deleted = sqlx::query(
                        "DELETE FROM kv_entries WHERE tenant = $1 AND bucket = $2 AND key = $3",
                    )
                    .bind(&tenant)
                    .bind(&bucket)
                    .bind(&key)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("deleting a key-value entry"))?
                    .rows_affected();
                    Ok(deleted > 0)
                })
            })
            .await
    }

    async fn kv_list(
        &self,
        tenant: &str,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KvKeys, StoreError> {
        // One more than asked for tells whether more follow.
        let rows = sqlx::query(
            "SELECT key FROM kv_entries WHERE tenant = $1 AND bucket = $2 \
             AND substr(key, 1, length($3)) = $3 AND key > $4 ORDER BY key LIMIT $5",
        )
        .bind(tenant)
        .bind(bucket)
        .bind(prefix)
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing key-value entries"))?;
        let mut keys = rows
            .iter()
            .map(|row| row.try_get::<String, _>("key"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(db("listing key-value entries"))?;
        let more = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        Ok(KvKeys { keys, more })
    }

    async fn kv_bytes(&self, tenant: &str) -> Result<u64, StoreError> {
        let bytes: Option<i64> = sqlx::query_scalar(USAGE)
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading key-value usage"))?;
        Ok(bytes.unwrap_or(0).max(0) as u64)
    }
}
