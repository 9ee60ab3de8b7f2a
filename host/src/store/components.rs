//! What the store keeps of components ([`ComponentStore`]): each name's current version
//! and the versions kept for rollback and for unfinished executions pinned to them.

use sqlx::Row;

use super::notices::{COMPONENTS_CHANNEL, notify};
use super::sql::{PINNED_VERSIONS, SqlStore, to_i64, to_u64};
use super::{StoreError, StoredComponent, VersionRecord, db};
use crate::limits::{CallLimits, KEPT_VERSIONS};

/// Components and their kept versions: what every node serves.
#[async_trait::async_trait]
pub trait ComponentStore: Send + Sync {
    /// Save `component` as the current version of its name, replacing the previous one
    /// in one transaction.
    async fn save_component(&self, component: &StoredComponent) -> Result<(), StoreError>;

    /// Delete the component `name`; false when there was none. Versions that unfinished
    /// executions are pinned to stay until those end (the next deploy or delete of the
    /// name drops them).
    async fn delete_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError>;

    /// The current version of every component of `tenant`, by name.
    async fn load_components(&self, tenant: &str) -> Result<Vec<StoredComponent>, StoreError>;

    /// The bytes of one version of a component, current or kept for a pinned execution,
    /// with the limits it was deployed with.
    async fn load_component_version(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<(Vec<u8>, CallLimits)>, StoreError>;

    /// The stored versions of the component `name` of `tenant`, newest first (at most
    /// `limits::KEPT_VERSIONS`, and those unfinished executions are pinned to); `None` when
    /// there is no such component.
    async fn list_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<Vec<VersionRecord>>, StoreError>;

    /// The content hashes of every stored version of every component, of all tenants.
    async fn stored_versions(&self) -> Result<Vec<String>, StoreError>;
}

#[async_trait::async_trait]
impl ComponentStore for SqlStore {
    async fn save_component(&self, c: &StoredComponent) -> Result<(), StoreError> {
        let c = c.clone();
        let fuel = to_i64(c.limits.fuel, "fuel")?;
        let memory_bytes = to_i64(c.limits.memory_bytes, "memory bytes")?;
        let timeout_ms = to_i64(c.limits.timeout_ms, "timeout ms")?;
        let sqlite = self.sqlite;
        self.writes.run_atomic(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO component_versions (tenant, name, version, wasm, created_at, fuel, memory_bytes, timeout_ms, deployed_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant, name, version) DO UPDATE SET \
                     fuel = excluded.fuel, memory_bytes = excluded.memory_bytes, timeout_ms = excluded.timeout_ms, \
                     created_at = excluded.created_at, deployed_by = excluded.deployed_by",
                )
                .bind(&c.tenant)
                .bind(&c.name)
                .bind(&c.version)
                .bind(&c.wasm)
                .bind(c.deployed_at)
                .bind(fuel)
                .bind(memory_bytes)
                .bind(timeout_ms)
                .bind(&c.deployed_by)
                .execute(&mut *conn)
                .await
                .map_err(db("saving the component's bytes"))?;
                sqlx::query(
                    "INSERT INTO components (tenant, name, version, fuel, memory_bytes, timeout_ms, deployed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (tenant, name) DO UPDATE SET version = excluded.version, fuel = excluded.fuel, \
                     memory_bytes = excluded.memory_bytes, timeout_ms = excluded.timeout_ms, \
                     deployed_at = excluded.deployed_at",
                )
                .bind(&c.tenant)
                .bind(&c.name)
                .bind(&c.version)
                .bind(fuel)
                .bind(memory_bytes)
                .bind(timeout_ms)
                .bind(c.deployed_at)
                .execute(&mut *conn)
                .await
                .map_err(db("saving the component"))?;
                // Older versions go past the newest few (kept for rollback), unless an
                // unfinished execution is pinned to them.
                sqlx::query(&format!(
                    "DELETE FROM component_versions WHERE tenant = $1 AND name = $2 AND version <> $3 \
                     AND version NOT IN ({PINNED_VERSIONS}) \
                     AND version NOT IN (SELECT version FROM component_versions \
                       WHERE tenant = $1 AND name = $2 ORDER BY created_at DESC, version LIMIT $4)"
                ))
                .bind(&c.tenant)
                .bind(&c.name)
                .bind(&c.version)
                .bind(KEPT_VERSIONS as i64)
                .execute(&mut *conn)
                .await
                .map_err(db("dropping the previous version"))?;
                if !sqlite {
                    notify(conn, COMPONENTS_CHANNEL, &c.tenant).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn delete_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        let sqlite = self.sqlite;
        self.writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    let deleted =
                        sqlx::query("DELETE FROM components WHERE tenant = $1 AND name = $2")
                            .bind(&tenant)
                            .bind(&name)
                            .execute(&mut *conn)
                            .await
                            .map_err(db("deleting the component"))?
                            .rows_affected();
                    sqlx::query(&format!(
                        "DELETE FROM component_versions WHERE tenant = $1 AND name = $2 \
                         AND version NOT IN ({PINNED_VERSIONS})"
                    ))
                    .bind(&tenant)
                    .bind(&name)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("deleting the component's versions"))?;
                    // Its config (secrets too) goes with it.
                    sqlx::query(
                        "DELETE FROM component_config WHERE tenant = $1 AND component = $2",
                    )
                    .bind(&tenant)
                    .bind(&name)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("deleting the component's config"))?;
                    // And the schedules its manifest declared.
                    sqlx::query("DELETE FROM schedules WHERE tenant = $1 AND component = $2")
                        .bind(&tenant)
                        .bind(&name)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("deleting the component's schedules"))?;
                    if !sqlite {
                        notify(conn, COMPONENTS_CHANNEL, &tenant).await?;
                    }
                    Ok(deleted > 0)
                })
            })
            .await
    }

    async fn load_components(&self, tenant: &str) -> Result<Vec<StoredComponent>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.name, c.version, v.wasm, c.fuel, c.memory_bytes, c.timeout_ms, c.deployed_at, v.deployed_by \
             FROM components c JOIN component_versions v \
               ON v.tenant = c.tenant AND v.name = c.name AND v.version = c.version \
             WHERE c.tenant = $1 ORDER BY c.name",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(db("loading components"))?;
        rows.iter()
            .map(|row| {
                let get_i64 = |column: &str| -> Result<i64, StoreError> {
                    row.try_get::<i64, _>(column)
                        .map_err(db("reading a component row"))
                };
                Ok(StoredComponent {
                    tenant: tenant.to_string(),
                    name: row.try_get("name").map_err(db("reading a component row"))?,
                    version: row
                        .try_get("version")
                        .map_err(db("reading a component row"))?,
                    wasm: row.try_get("wasm").map_err(db("reading a component row"))?,
                    limits: CallLimits {
                        fuel: to_u64(get_i64("fuel")?, "fuel")?,
                        memory_bytes: to_u64(get_i64("memory_bytes")?, "memory bytes")?,
                        timeout_ms: to_u64(get_i64("timeout_ms")?, "timeout ms")?,
                    },
                    deployed_at: get_i64("deployed_at")?,
                    deployed_by: row
                        .try_get("deployed_by")
                        .map_err(db("reading a component row"))?,
                })
            })
            .collect()
    }

    async fn load_component_version(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<(Vec<u8>, CallLimits)>, StoreError> {
        let row = sqlx::query(
            "SELECT wasm, fuel, memory_bytes, timeout_ms FROM component_versions \
             WHERE tenant = $1 AND name = $2 AND version = $3",
        )
        .bind(tenant)
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("loading a component version"))?;
        let Some(row) = row else { return Ok(None) };
        let read = db("reading a component version");
        let wasm: Vec<u8> = row.try_get("wasm").map_err(read)?;
        let get = |column: &str| {
            row.try_get::<Option<i64>, _>(column)
                .map_err(db("reading a component version"))
        };
        // Versions saved before their limits were kept ran with the defaults.
        let defaults = CallLimits::default();
        let limits = CallLimits {
            fuel: get("fuel")?.map_or(Ok(defaults.fuel), |v| to_u64(v, "fuel"))?,
            memory_bytes: get("memory_bytes")?
                .map_or(Ok(defaults.memory_bytes), |v| to_u64(v, "memory bytes"))?,
            timeout_ms: get("timeout_ms")?
                .map_or(Ok(defaults.timeout_ms), |v| to_u64(v, "timeout ms"))?,
        };
        Ok(Some((wasm, limits)))
    }

    async fn list_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<Vec<VersionRecord>>, StoreError> {
        let read = || db("reading a component version");
        let current: Option<String> =
            sqlx::query("SELECT version FROM components WHERE tenant = $1 AND name = $2")
                .bind(tenant)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("loading a component"))?
                .map(|row| row.try_get("version"))
                .transpose()
                .map_err(read())?;
        let Some(current) = current else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT version, created_at, deployed_by, CAST(length(wasm) AS BIGINT) AS size_bytes \
             FROM component_versions WHERE tenant = $1 AND name = $2 \
             ORDER BY created_at DESC, version",
        )
        .bind(tenant)
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing a component's versions"))?;
        let versions = rows
            .iter()
            .map(|row| {
                let version: String = row.try_get("version").map_err(read())?;
                let size: i64 = row.try_get("size_bytes").map_err(read())?;
                Ok(VersionRecord {
                    current: version == current,
                    deployed_at: row.try_get("created_at").map_err(read())?,
                    deployed_by: row.try_get("deployed_by").map_err(read())?,
                    size_bytes: to_u64(size, "size")?,
                    version,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(versions))
    }

    async fn stored_versions(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT version FROM component_versions")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing component versions"))?;
        rows.iter()
            .map(|row| {
                row.try_get::<String, _>("version")
                    .map_err(db("reading a component version"))
            })
            .collect()
    }
}
