//! [`Store`] over sqlx's `Any` driver: one set of runtime queries for SQLite and PostgreSQL
//! (both accept `$1` placeholders), migrations per backend.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

use super::{Store, StoreError, StoredComponent};
use crate::limits::CallLimits;

/// Connections per pool. SQLite serialises writers anyway; PostgreSQL is shared by hosts.
const MAX_CONNECTIONS: u32 = 8;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The store on SQLite or PostgreSQL.
pub struct SqlStore {
    pool: AnyPool,
}

fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

impl SqlStore {
    /// Connect to `url` and run the migrations of its backend.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if !sqlite && !postgres {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { MAX_CONNECTIONS })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if sqlite {
                        // WAL lets readers run beside the writer; NORMAL syncs at checkpoints,
                        // which WAL keeps durable against process crashes.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(db("connecting to the database"))?;
        let migrator = if sqlite {
            &SQLITE_MIGRATIONS
        } else {
            &POSTGRES_MIGRATIONS
        };
        migrator.run(&pool).await?;
        Ok(SqlStore { pool })
    }
}

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("{what} {value} does not fit a BIGINT")))
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

#[async_trait::async_trait]
impl Store for SqlStore {
    async fn save_component(&self, c: &StoredComponent) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        sqlx::query(
            "INSERT INTO component_versions (tenant, name, version, wasm, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, name, version) DO NOTHING",
        )
        .bind(&c.tenant)
        .bind(&c.name)
        .bind(&c.version)
        .bind(&c.wasm)
        .bind(c.deployed_at)
        .execute(&mut *tx)
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
        .bind(to_i64(c.limits.fuel, "fuel")?)
        .bind(to_i64(c.limits.memory_bytes, "memory bytes")?)
        .bind(to_i64(c.limits.timeout_ms, "timeout ms")?)
        .bind(c.deployed_at)
        .execute(&mut *tx)
        .await
        .map_err(db("saving the component"))?;
        // Only the current version is kept for now. Durable workflows pin executions to
        // versions; when they land, versions still in use must be kept here.
        sqlx::query(
            "DELETE FROM component_versions WHERE tenant = $1 AND name = $2 AND version <> $3",
        )
        .bind(&c.tenant)
        .bind(&c.name)
        .bind(&c.version)
        .execute(&mut *tx)
        .await
        .map_err(db("dropping the previous version"))?;
        tx.commit().await.map_err(db("committing the component"))
    }

    async fn delete_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let deleted = sqlx::query("DELETE FROM components WHERE tenant = $1 AND name = $2")
            .bind(tenant)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting the component"))?
            .rows_affected();
        sqlx::query("DELETE FROM component_versions WHERE tenant = $1 AND name = $2")
            .bind(tenant)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting the component's versions"))?;
        tx.commit().await.map_err(db("committing the deletion"))?;
        Ok(deleted > 0)
    }

    async fn load_components(&self, tenant: &str) -> Result<Vec<StoredComponent>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.name, c.version, v.wasm, c.fuel, c.memory_bytes, c.timeout_ms, c.deployed_at \
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
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db("pinging the database"))?;
        Ok(())
    }
}
