//! Config values of components (`wasi:config`), per tenant and component name. The store
//! keeps what it is given: a secret arrives sealed (see `crate::secrets`) and is marked so.

use sqlx::Row;

use super::sql::SqlStore;
use super::{StoreError, db};

/// One config value as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Its key.
    pub key: String,
    /// The value, or for a secret the value sealed.
    pub value: String,
    /// It is a secret: `value` is sealed.
    pub secret: bool,
}

/// Config values of components.
#[async_trait::async_trait]
pub trait ConfigStore: Send + Sync {
    /// Set `entries` of component `component` (replacing those of the same keys) and
    /// delete the keys of `deleted`, in one transaction.
    async fn set_config(
        &self,
        tenant: &str,
        component: &str,
        entries: Vec<ConfigEntry>,
        deleted: Vec<String>,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Every config value of component `component`, by key.
    async fn load_config(
        &self,
        tenant: &str,
        component: &str,
    ) -> Result<Vec<ConfigEntry>, StoreError>;
}

#[async_trait::async_trait]
impl ConfigStore for SqlStore {
    async fn set_config(
        &self,
        tenant: &str,
        component: &str,
        entries: Vec<ConfigEntry>,
        deleted: Vec<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        let (tenant, component) = (tenant.to_string(), component.to_string());
        self.writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    for entry in entries {
                        sqlx::query(
                            "INSERT INTO component_config (tenant, component, key, value, secret, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) \
                             ON CONFLICT (tenant, component, key) DO UPDATE SET value = excluded.value, \
                             secret = excluded.secret, updated_at = excluded.updated_at",
                        )
                        .bind(&tenant)
                        .bind(&component)
                        .bind(&entry.key)
                        .bind(&entry.value)
                        .bind(i64::from(entry.secret))
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("setting a config value"))?;
                    }
                    for key in deleted {
                        sqlx::query(
                            "DELETE FROM component_config WHERE tenant = $1 AND component = $2 AND key = $3",
                        )
                        .bind(&tenant)
                        .bind(&component)
                        .bind(&key)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("deleting a config value"))?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn load_config(
        &self,
        tenant: &str,
        component: &str,
    ) -> Result<Vec<ConfigEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, value, secret FROM component_config \
             WHERE tenant = $1 AND component = $2 ORDER BY key",
        )
        .bind(tenant)
        .bind(component)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading config values"))?;
        rows.iter()
            .map(|row| {
                let read = || db("reading a config value");
                Ok(ConfigEntry {
                    key: row.try_get("key").map_err(read())?,
                    value: row.try_get("value").map_err(read())?,
                    secret: row.try_get::<i64, _>("secret").map_err(read())? != 0,
                })
            })
            .collect()
    }
}
