//! What the store keeps of tenants, their API keys and the audit log ([`TenantStore`]),
//! and its implementation on [`SqlStore`].

use sqlx::Row;
use sqlx::any::AnyRow;

use super::notices::{COMPONENTS_CHANNEL, KEYS_CHANNEL, notify};
use super::sql::SqlStore;
use super::{StoreError, db};
use crate::access::Scope;
use crate::quota::{QuotaChange, Quotas};

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Its name (checked by `access::check_tenant_name`).
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Its quotas.
    pub quotas: Quotas,
}

/// An API key as stored: never the key itself, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// Public id, safe to log and show.
    pub id: String,
    /// The tenant it acts in; `None` for a host admin key.
    pub tenant: Option<String>,
    /// A name for people.
    pub name: String,
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it stops working, if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl StoredKey {
    /// Whether the key works at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// One audit log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log (assigned by the store; 0 when appending).
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The tenant the action concerned.
    pub tenant: String,
    /// The key that asked, if one did (never the key itself).
    pub key_id: Option<String>,
    /// What was asked: `component.deploy`, `key.create`, …
    pub action: String,
    /// What it was asked of: a component, key or execution id, a tenant.
    pub target: String,
    /// The request's id.
    pub request_id: String,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok`, or the problem kind answered.
    pub outcome: String,
    /// How many requests the entry stands for (1, but for refusals of callers without a
    /// key, counted: see `http::audit`).
    pub repeats: u64,
}

/// Which audit entries to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this tenant's entries (`None`: every tenant's).
    pub tenant: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only entries at or after this time (ms).
    pub since: Option<i64>,
    /// Only entries before this time (ms).
    pub until: Option<i64>,
    /// Only entries before this sequence (paging: the last `seq` of the previous page).
    pub before_seq: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// Tenants, keys and the audit log.
#[async_trait::async_trait]
pub trait TenantStore: Send + Sync {
    /// Create tenant `name`; false when it exists.
    async fn create_tenant(&self, name: &str, now: i64) -> Result<bool, StoreError>;

    /// Every tenant, by name.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// The tenant `name`, if it exists.
    async fn get_tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError>;

    /// Change tenant `name`'s quotas by `change` in one conditional write (read and
    /// written in one transaction, so two admins changing different quotas at once both
    /// count): the tenant after, or `None` when there is no such tenant. `change` must be
    /// valid ([`QuotaChange::check`]); an invalid one is `Corrupt`.
    async fn change_quotas(
        &self,
        name: &str,
        change: &QuotaChange,
    ) -> Result<Option<Tenant>, StoreError>;

    /// Delete tenant `name` at once: its unfinished executions are cancelled, its
    /// components and their versions and its keys deleted. Its executions' history and its
    /// audit entries stay. False when there was no such tenant.
    async fn delete_tenant(&self, name: &str, now: i64) -> Result<bool, StoreError>;

    /// Keep a new key.
    async fn create_key(&self, key: &StoredKey) -> Result<(), StoreError>;

    /// The key whose hash is `hash`, live or not.
    async fn key_by_hash(&self, hash: &str) -> Result<Option<StoredKey>, StoreError>;

    /// The keys of `tenant` (`None`: the admin keys), oldest first, revoked ones included.
    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<StoredKey>, StoreError>;

    /// Revoke key `id` of `tenant` (`None`: an admin key); false when there is no such
    /// live key.
    async fn revoke_key(
        &self,
        tenant: Option<&str>,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Append to the audit log.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Audit entries, newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
}

fn tenant_from_row(row: &AnyRow) -> Result<Tenant, StoreError> {
    let read = || db("reading a tenant row");
    let quotas: Option<String> = row.try_get("quotas").map_err(read())?;
    let quotas = match quotas {
        None => Quotas::default(),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("quotas {text:?}: {e}")))?,
    };
    Ok(Tenant {
        name: row.try_get("name").map_err(read())?,
        created_at: row.try_get("created_at").map_err(read())?,
        quotas,
    })
}

const KEY_COLUMNS: &str = "id, tenant, name, hash, scopes, created_at, expires_at, revoked_at";

fn key_from_row(row: &AnyRow) -> Result<StoredKey, StoreError> {
    let read = || db("reading a key row");
    let scopes: String = row.try_get("scopes").map_err(read())?;
    let scopes = scopes
        .split_whitespace()
        .map(|name| {
            Scope::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown scope {name:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StoredKey {
        id: row.try_get("id").map_err(read())?,
        tenant: row.try_get("tenant").map_err(read())?,
        name: row.try_get("name").map_err(read())?,
        hash: row.try_get("hash").map_err(read())?,
        scopes,
        created_at: row.try_get("created_at").map_err(read())?,
        expires_at: row.try_get("expires_at").map_err(read())?,
        revoked_at: row.try_get("revoked_at").map_err(read())?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let read = || db("reading an audit row");
    let status: i64 = row.try_get("status").map_err(read())?;
    Ok(AuditEntry {
        seq: row.try_get("seq").map_err(read())?,
        at: row.try_get("at").map_err(read())?,
        tenant: row.try_get("tenant").map_err(read())?,
        key_id: row.try_get("key_id").map_err(read())?,
        action: row.try_get("action").map_err(read())?,
        target: row.try_get("target").map_err(read())?,
        request_id: row.try_get("request_id").map_err(read())?,
        status: u16::try_from(status)
            .map_err(|_| StoreError::Corrupt(format!("audit status {status}")))?,
        outcome: row.try_get("outcome").map_err(read())?,
        repeats: u64::try_from(row.try_get::<i64, _>("repeats").map_err(read())?)
            .map_err(|_| StoreError::Corrupt("audit repeats".into()))?,
    })
}

#[async_trait::async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(&self, name: &str, now: i64) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let inserted = sqlx::query(
                        "INSERT INTO tenants (name, created_at) VALUES ($1, $2) \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(&name)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("creating a tenant"))?
                    .rows_affected();
                    Ok(inserted == 1)
                })
            })
            .await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        sqlx::query("SELECT name, created_at, quotas FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing tenants"))?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn get_tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        sqlx::query("SELECT name, created_at, quotas FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a tenant"))?
            .as_ref()
            .map(tenant_from_row)
            .transpose()
    }

    async fn change_quotas(
        &self,
        name: &str,
        change: &QuotaChange,
    ) -> Result<Option<Tenant>, StoreError> {
        let name = name.to_string();
        let change = *change;
        // PostgreSQL: the row is locked until the write commits. SQLite: the one writer
        // runs the transaction alone.
        let select = if self.sqlite {
            "SELECT name, created_at, quotas FROM tenants WHERE name = $1"
        } else {
            "SELECT name, created_at, quotas FROM tenants WHERE name = $1 FOR UPDATE"
        };
        self.writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    let Some(row) = sqlx::query(select)
                        .bind(&name)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db("reading a tenant's quotas"))?
                    else {
                        return Ok(None);
                    };
                    let mut tenant = tenant_from_row(&row)?;
                    tenant.quotas = tenant
                        .quotas
                        .changed(&change)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let text = serde_json::to_string(&tenant.quotas)
                        .map_err(|e| StoreError::Corrupt(format!("quotas: {e}")))?;
                    sqlx::query("UPDATE tenants SET quotas = $1 WHERE name = $2")
                        .bind(&text)
                        .bind(&name)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("setting quotas"))?;
                    Ok(Some(tenant))
                })
            })
            .await
    }

    async fn delete_tenant(&self, name: &str, now: i64) -> Result<bool, StoreError> {
        let name = name.to_string();
        let sqlite = self.sqlite;
        self.writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    let deleted = sqlx::query("DELETE FROM tenants WHERE name = $1")
                        .bind(&name)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("deleting a tenant"))?
                        .rows_affected();
                    if deleted == 0 {
                        return Ok(false);
                    }
                    sqlx::query(concat!(
                        "UPDATE executions SET status = 'cancelled', lease_owner = NULL, \
                             lease_expires_at = NULL, wake_at = NULL, updated_at = $1 \
                             WHERE tenant = $2 AND status IN ",
                        super::workflow::unfinished_sql!()
                    ))
                    .bind(now)
                    .bind(&name)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("cancelling a tenant's executions"))?;
                    for statement in [
                        "DELETE FROM components WHERE tenant = $1",
                        "DELETE FROM component_versions WHERE tenant = $1",
                        "DELETE FROM api_keys WHERE tenant = $1",
                        // Entries first: their trigger counts into kv_usage.
                        "DELETE FROM kv_entries WHERE tenant = $1",
                        "DELETE FROM kv_usage WHERE tenant = $1",
                        "DELETE FROM component_config WHERE tenant = $1",
                        "DELETE FROM schedules WHERE tenant = $1",
                    ] {
                        sqlx::query(statement)
                            .bind(&name)
                            .execute(&mut *conn)
                            .await
                            .map_err(db("deleting a tenant's objects"))?;
                    }
                    if !sqlite {
                        notify(conn, KEYS_CHANNEL, &name).await?;
                        notify(conn, COMPONENTS_CHANNEL, &name).await?;
                    }
                    Ok(true)
                })
            })
            .await
    }

    async fn create_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
                    sqlx::query(&format!(
                        "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(&key.id)
                    .bind(&key.tenant)
                    .bind(&key.name)
                    .bind(&key.hash)
                    .bind(scopes.join(" "))
                    .bind(key.created_at)
                    .bind(key.expires_at)
                    .bind(key.revoked_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("creating a key"))?;
                    Ok(())
                })
            })
            .await
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<StoredKey>, StoreError> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("looking a key up"))?
        .as_ref()
        .map(key_from_row)
        .transpose()
    }

    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<StoredKey>, StoreError> {
        let filter = match tenant {
            Some(_) => "tenant = $1",
            None => "tenant IS NULL",
        };
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE {filter} ORDER BY created_at, id");
        let mut query = sqlx::query(&sql);
        if let Some(tenant) = tenant {
            query = query.bind(tenant.to_string());
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing keys"))?
            .iter()
            .map(key_from_row)
            .collect()
    }

    async fn revoke_key(
        &self,
        tenant: Option<&str>,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.map(str::to_string), id.to_string());
        let sqlite = self.sqlite;
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    // `tenant IS $2` is not PostgreSQL; spell the NULL case out.
                    let revoked = sqlx::query(
                        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
                         AND ((tenant IS NULL AND $3 IS NULL) OR tenant = $3)",
                    )
                    .bind(now)
                    .bind(&id)
                    .bind(&tenant)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("revoking a key"))?
                    .rows_affected();
                    // Every node forgets the keys it remembers (see `crate::keys`).
                    if revoked == 1 && !sqlite {
                        notify(conn, KEYS_CHANNEL, tenant.as_deref().unwrap_or("")).await?;
                    }
                    Ok(revoked == 1)
                })
            })
            .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO audit_log (at, tenant, key_id, action, target, request_id, status, outcome, repeats) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(entry.at)
                    .bind(&entry.tenant)
                    .bind(&entry.key_id)
                    .bind(&entry.action)
                    .bind(&entry.target)
                    .bind(&entry.request_id)
                    .bind(i64::from(entry.status))
                    .bind(&entry.outcome)
                    .bind(i64::try_from(entry.repeats).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await
                    .map_err(db("appending to the audit log"))?;
                    Ok(())
                })
            })
            .await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        // Every filter is bound; an absent one is NULL and matches everything.
        let rows = sqlx::query(
            "SELECT seq, at, tenant, key_id, action, target, request_id, status, outcome, repeats \
             FROM audit_log \
             WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR action = $2) \
               AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) \
               AND ($5 IS NULL OR seq < $5) \
             ORDER BY seq DESC LIMIT $6",
        )
        .bind(&filter.tenant)
        .bind(&filter.action)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.before_seq)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing the audit log"))?;
        rows.iter().map(audit_from_row).collect()
    }
}
