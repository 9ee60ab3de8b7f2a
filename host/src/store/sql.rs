//! [`Store`] over sqlx's `Any` driver: one set of runtime queries for SQLite and PostgreSQL
//! (both accept `$1` placeholders), migrations per backend. Reads use a pool; writes go
//! through [`Writes`] (group commit on SQLite).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::broadcast;

use super::journal::{JOURNAL_FORMAT, JournalEntry, Outcome, Step, StepKind};
use super::notices::{COMPONENTS_CHANNEL, EXECUTIONS_CHANNEL, Notice, WAKE_CHANNEL, notify};
use super::workflow::{
    Created, Execution, ExecutionFilter, ExecutionStatus, ExecutionUpdate, FIRST_EPOCH, Holder,
    NewExecution, UnfinishedQuota,
};
use super::writes::Writes;
use super::{SignalSent, Store, StoreError, StoredComponent, VersionRecord, db};
use crate::limits::{CallLimits, KEPT_VERSIONS};

/// Connections per node's pool on PostgreSQL, which is shared by nodes
/// (`TSDEV_DATABASE_POOL` overrides it).
const MAX_CONNECTIONS: u32 = 16;
/// The longest a statement may run on PostgreSQL before the server ends it.
const STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// The longest a PostgreSQL session may sit idle inside a transaction: a frozen node
/// (SIGSTOP, a stalled VM) gives its row locks back after this.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 5_000;
/// Reading connections on SQLite (WAL lets them run beside the one writer).
const SQLITE_READERS: u32 = 4;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The store on SQLite or PostgreSQL.
pub struct SqlStore {
    /// For reads (and every write on PostgreSQL).
    pub(super) pool: AnyPool,
    pub(super) writes: Writes,
    /// The few queries that differ between backends (row locking) look at this.
    pub(super) sqlite: bool,
    /// Notices from other nodes (PostgreSQL only).
    pub(super) notices: Option<Arc<broadcast::Sender<Notice>>>,
    /// Whether another node was alive at this node's last heartbeat (see
    /// `NodeStore::beat`): the end of a run is notified only then. A NOTIFY serialises
    /// the commits that send one across the whole database server; alone, a node's own
    /// waiters hear of its runs' ends in process. Until the first beat: assumed so.
    pub(super) others_alive: AtomicBool,
}

/// The versions of component `$2` of tenant `$1` that unfinished executions are pinned to:
/// kept when the component is redeployed or deleted.
const PINNED_VERSIONS: &str = "SELECT component_version FROM executions \
    WHERE tenant = $1 AND component = $2 AND status IN ('pending', 'running', 'sleeping', 'waiting')";

/// How many unfinished executions the tenant given as parameter `tenant` (`$2`) has.
/// Spelled as the unfinished statuses, so that the partial index on (tenant, status) counts
/// only those rows, however many finished ones the tenant has.
fn unfinished_of_tenant(tenant: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM executions \
         WHERE tenant = {tenant} AND status IN ('pending', 'running', 'sleeping', 'waiting')"
    )
}

/// What a tenant's unfinished executions hold: how many, and their journals' bytes.
fn unfinished_use_of_tenant(tenant: &str) -> String {
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(journal_bytes), 0) AS BIGINT) FROM executions \
         WHERE tenant = {tenant} AND status IN ('pending', 'running', 'sleeping', 'waiting')"
    )
}

const EXECUTION_COLUMNS: &str = "id, tenant, workflow, component, component_version, args, \
    idempotency_key, status, result, error, wake_at, lease_owner, lease_expires_at, lease_epoch, created_at, updated_at, trace_parent";

fn execution_from_row(row: &sqlx::any::AnyRow) -> Result<Execution, StoreError> {
    let read = db("reading an execution row");
    let status: String = row.try_get("status").map_err(read)?;
    let get = |column: &str| {
        row.try_get::<String, _>(column)
            .map_err(db("reading an execution row"))
    };
    let get_opt = |column: &str| {
        row.try_get::<Option<String>, _>(column)
            .map_err(db("reading an execution row"))
    };
    let get_i64 = |column: &str| {
        row.try_get::<i64, _>(column)
            .map_err(db("reading an execution row"))
    };
    let get_opt_i64 = |column: &str| {
        row.try_get::<Option<i64>, _>(column)
            .map_err(db("reading an execution row"))
    };
    Ok(Execution {
        id: get("id")?,
        tenant: get("tenant")?,
        workflow: get("workflow")?,
        component: get("component")?,
        component_version: get("component_version")?,
        args: get("args")?,
        idempotency_key: get_opt("idempotency_key")?,
        status: ExecutionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown execution status {status:?}")))?,
        result: get_opt("result")?,
        error: get_opt("error")?,
        wake_at: get_opt_i64("wake_at")?,
        lease_owner: get_opt("lease_owner")?,
        lease_expires_at: get_opt_i64("lease_expires_at")?,
        lease_epoch: get_i64("lease_epoch")?,
        created_at: get_i64("created_at")?,
        updated_at: get_i64("updated_at")?,
        trace_parent: get_opt("trace_parent")?,
    })
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

impl SqlStore {
    /// Connect to `url` and run the migrations of its backend.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if !sqlite && !postgres {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            let scheme: String = scheme.chars().take(32).collect();
            return Err(StoreError::UnsupportedUrl(scheme));
        }
        if postgres {
            let connections = match std::env::var("TSDEV_DATABASE_POOL") {
                Ok(n) => n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "TSDEV_DATABASE_POOL={n:?}: give a positive number of connections"
                    ))
                })?,
                Err(_) => MAX_CONNECTIONS,
            };
            let pool = AnyPoolOptions::new()
                .max_connections(connections)
                // No ping before each use (a round trip per statement): a connection that
                // died fails its statement once and is replaced.
                .test_before_acquire(false)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            format!(
                                "SET statement_timeout = {STATEMENT_TIMEOUT_MS}; \
                                 SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}"
                            )
                            .as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(url)
                .await
                .map_err(db("connecting to the database"))?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            return Ok(SqlStore {
                writes: Writes::pooled(pool.clone()),
                pool,
                sqlite,
                notices: Some(super::notices::listen(url.to_string())),
                others_alive: AtomicBool::new(true),
            });
        }
        // The writer first: it creates the file and migrates before readers open it.
        let writer = sqlite_pool(url, 1).await?;
        SQLITE_MIGRATIONS.run(&writer).await?;
        let pool = sqlite_pool(url, SQLITE_READERS).await?;
        Ok(SqlStore {
            writes: Writes::group_commit(writer, pool.clone()),
            pool,
            sqlite,
            notices: None,
            others_alive: AtomicBool::new(false),
        })
    }
}

/// A pool of `connections` to the SQLite database at `url`.
async fn sqlite_pool(url: &str, connections: u32) -> Result<AnyPool, StoreError> {
    AnyPoolOptions::new()
        .max_connections(connections)
        // A local file: nothing to test before use, and the writer takes a connection per batch.
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; NORMAL syncs at checkpoints, which
                // WAL keeps durable against process crashes. Checkpoints run beside the
                // writer, not in its commits (see `Writes`). The busy timeout covers the
                // moments a checkpoint or a second process holds the file. The WAL file is
                // cut back to 8 MiB whenever it starts afresh, so a burst of writes does
                // not leave it large on disk (it grows to `WAL_MAX_PAGES` at most).
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 8388608;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(db("connecting to the database"))
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

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db("pinging the database"))?;
        Ok(())
    }

    async fn check_writes(&self, now: i64) -> Result<(), StoreError> {
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    sqlx::query("UPDATE write_checks SET checked_at = $1 WHERE id = 1")
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("checking that writes commit"))?;
                    Ok(())
                })
            })
            .await
    }

    async fn create_execution(&self, e: &NewExecution) -> Result<Created, StoreError> {
        let e = e.clone();
        // Recorded only while its version is the component's current one (executions start
        // on the current version): another node may have just replaced or deleted it. On
        // PostgreSQL the component's row is held (FOR SHARE) by the insert: a redeploy or
        // delete on another node (which updates that row, then drops the versions no
        // unfinished execution is pinned to, in one transaction) either waits for this
        // insert and then sees it, or goes first and this insert finds the row changed.
        let lock = if self.sqlite { "" } else { "FOR SHARE" };
        let query = format!(
            "INSERT INTO executions (id, tenant, workflow, component, component_version, args, \
             idempotency_key, status, lease_owner, lease_expires_at, lease_epoch, created_at, updated_at, \
             trace_parent) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $11, $11, $15 \
             WHERE EXISTS (SELECT 1 FROM components WHERE tenant = $2 AND name = $4 AND version = $5 {lock}) \
               AND (SELECT COUNT(*) < $13 AND COALESCE(SUM(journal_bytes), 0) < $14 FROM executions \
                    WHERE tenant = $2 AND status IN ('pending', 'running', 'sleeping', 'waiting')) \
             ON CONFLICT DO NOTHING"
        );
        let max_unfinished = i64::try_from(e.max_unfinished).unwrap_or(i64::MAX);
        let max_journal_bytes = i64::try_from(e.max_journal_bytes).unwrap_or(i64::MAX);
        // One statement in the common case: no transaction needed.
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let (status, owner, until, epoch) = match &e.lease {
                        Some(lease) => (
                            ExecutionStatus::Running,
                            Some(&lease.owner),
                            Some(lease.until),
                            FIRST_EPOCH,
                        ),
                        None => (ExecutionStatus::Pending, None, None, 0),
                    };
                    // DO NOTHING rather than an error: a failed statement would abort a
                    // PostgreSQL transaction.
                    let inserted = sqlx::query(&query)
                        .bind(&e.id)
                        .bind(&e.tenant)
                        .bind(&e.workflow)
                        .bind(&e.component)
                        .bind(&e.component_version)
                        .bind(&e.args)
                        .bind(&e.idempotency_key)
                        .bind(status.as_str())
                        .bind(owner)
                        .bind(until)
                        .bind(e.created_at)
                        .bind(epoch)
                        .bind(max_unfinished)
                        .bind(max_journal_bytes)
                        .bind(&e.trace_parent)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("recording an execution"))?
                        .rows_affected();
                    if inserted == 1 {
                        return Ok(Created::New);
                    }
                    // Why not (rare: a refusal or a repeated key), one question at a time.
                    let (unfinished, journal_bytes): (i64, i64) =
                        sqlx::query_as(&unfinished_use_of_tenant("$1"))
                            .bind(&e.tenant)
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(db("counting unfinished executions"))?;
                    if unfinished >= max_unfinished {
                        return Ok(Created::AtQuota(UnfinishedQuota::Executions));
                    }
                    if journal_bytes >= max_journal_bytes {
                        return Ok(Created::AtQuota(UnfinishedQuota::JournalBytes));
                    }
                    let row = sqlx::query(&format!(
                        "SELECT {EXECUTION_COLUMNS} FROM executions \
                     WHERE tenant = $1 AND workflow = $2 AND idempotency_key = $3"
                    ))
                    .bind(&e.tenant)
                    .bind(&e.workflow)
                    .bind(&e.idempotency_key)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db("finding the execution with the same idempotency key"))?;
                    if let Some(row) = row {
                        return Ok(Created::Existing(Box::new(execution_from_row(&row)?)));
                    }
                    let taken = sqlx::query("SELECT 1 FROM executions WHERE id = $1")
                        .bind(&e.id)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db("looking for an execution id"))?;
                    match taken {
                        Some(_) => Err(StoreError::Corrupt(format!(
                            "execution id {} is taken",
                            e.id
                        ))),
                        None => Ok(Created::VersionGone),
                    }
                })
            })
            .await
    }

    async fn get_execution(&self, tenant: &str, id: &str) -> Result<Option<Execution>, StoreError> {
        // By id alone, the tenant checked here: with `tenant = $1` in the statement,
        // PostgreSQL's generic plan for it, made while the table was young (empty at a
        // first start), used an index led by tenant and read every execution of the tenant
        // for each lookup until the table was next analysed (observed: 3,000 rows, 2 ms).
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading an execution"))?;
        let execution = row.as_ref().map(execution_from_row).transpose()?;
        Ok(execution.filter(|e| e.tenant == tenant))
    }

    async fn count_unfinished(&self, tenant: &str) -> Result<u64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(&unfinished_of_tenant("$1"))
            .bind(tenant)
            .fetch_one(&self.pool)
            .await
            .map_err(db("counting unfinished executions"))?;
        to_u64(count, "count")
    }

    async fn list_executions(&self, f: &ExecutionFilter) -> Result<Vec<Execution>, StoreError> {
        // Optional filters as `$n IS NULL OR …` keep one query text for every combination.
        let (before_at, before_id) = match &f.before {
            Some((at, id)) => (Some(*at), Some(id.clone())),
            None => (None, None),
        };
        let rows = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE tenant = $1 \
             AND ($2 IS NULL OR workflow = $2) AND ($3 IS NULL OR status = $3) \
             AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5)) \
             ORDER BY created_at DESC, id DESC LIMIT $6"
        ))
        .bind(&f.tenant)
        .bind(&f.workflow)
        .bind(f.status.map(ExecutionStatus::as_str))
        .bind(before_at)
        .bind(before_id)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing executions"))?;
        rows.iter().map(execution_from_row).collect()
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Execution>, StoreError> {
        // SQLite runs one writer at a time, so the UPDATE is atomic as it is; PostgreSQL
        // hosts skip rows another host is claiming at the same moment.
        let lock = if self.sqlite {
            ""
        } else {
            "FOR UPDATE SKIP LOCKED"
        };
        // The status list first: it is the predicate of the partial index on unfinished
        // executions, so the scan reads those few rows, not the history.
        let query = format!(
            "UPDATE executions SET lease_owner = $1, lease_expires_at = $2, lease_epoch = lease_epoch + 1 WHERE id IN ( \
               SELECT id FROM executions \
               WHERE status IN ('pending', 'running', 'sleeping', 'waiting') \
                 AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
                 AND (status IN ('pending', 'running') \
                      OR (status IN ('sleeping', 'waiting') AND wake_at IS NOT NULL AND wake_at <= $3)) \
               ORDER BY COALESCE(wake_at, created_at) LIMIT $4 {lock}) \
             RETURNING {EXECUTION_COLUMNS}"
        );
        let owner = owner.to_string();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let rows = sqlx::query(&query)
                        .bind(&owner)
                        .bind(lease_until)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(db("claiming due executions"))?;
                    rows.iter().map(execution_from_row).collect()
                })
            })
            .await
    }

    async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64, StoreError> {
        let owner = owner.to_string();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query(
                        "UPDATE executions SET lease_expires_at = $1 \
                     WHERE lease_owner = $2 AND status IN ('pending', 'running')",
                    )
                    .bind(until)
                    .bind(&owner)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("renewing leases"))?
                    .rows_affected())
                })
            })
            .await
    }

    async fn update_execution(
        &self,
        id: &str,
        holder: &Holder,
        u: &ExecutionUpdate,
    ) -> Result<(), StoreError> {
        let (id, holder, u) = (id.to_string(), holder.clone(), u.clone());
        const UPDATE: &str = "UPDATE executions SET status = $1, result = $2, error = $3, wake_at = $4, updated_at = $5, \
             lease_owner = CASE WHEN $6 THEN NULL ELSE lease_owner END, \
             lease_expires_at = CASE WHEN $6 THEN NULL ELSE lease_expires_at END \
             WHERE id = $7 AND lease_owner = $8 AND lease_epoch = $9";
        // On PostgreSQL, the end of a run is told to every node in the same statement.
        let notify_too =
            !self.sqlite && u.status.is_finished() && self.others_alive.load(Ordering::Relaxed);
        let query = if notify_too {
            format!(
                "WITH updated AS ({UPDATE} RETURNING id) \
                 SELECT updated.id FROM updated, LATERAL (SELECT pg_notify('{EXECUTIONS_CHANNEL}', updated.id)) AS told"
            )
        } else {
            UPDATE.to_string()
        };
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let update = sqlx::query(&query)
                        .bind(u.status.as_str())
                        .bind(&u.result)
                        .bind(&u.error)
                        .bind(u.wake_at)
                        .bind(u.now)
                        .bind(u.status.releases_lease())
                        .bind(&id)
                        .bind(&holder.owner)
                        .bind(holder.epoch);
                    let changed = if notify_too {
                        update
                            .fetch_all(&mut *conn)
                            .await
                            .map(|rows| rows.len() as u64)
                    } else {
                        update
                            .execute(&mut *conn)
                            .await
                            .map(|done| done.rows_affected())
                    }
                    .map_err(db("updating an execution"))?;
                    if changed == 0 {
                        return Err(StoreError::LeaseLost {
                            execution_id: id,
                            owner: holder.owner,
                        });
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn cancel_execution(&self, tenant: &str, id: &str, now: i64) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        let sqlite = self.sqlite;
        // One change; the notice after it needs no transaction.
        self.writes.run(move |conn| {
            Box::pin(async move {
                let cancelled = sqlx::query(
                    "UPDATE executions SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, \
                     wake_at = NULL, updated_at = $1 \
                     WHERE tenant = $2 AND id = $3 AND status NOT IN ('completed', 'failed', 'cancelled')",
                )
                .bind(now)
                .bind(&tenant)
                .bind(&id)
                .execute(&mut *conn)
                .await
                .map_err(db("cancelling an execution"))?
                .rows_affected();
                if cancelled == 1 && !sqlite {
                    notify(conn, EXECUTIONS_CHANNEL, &id).await?;
                }
                Ok(cancelled == 1)
            })
        })
        .await
    }

    async fn delete_finished_executions(&self, before: i64, limit: u64) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Journals and signals go with their execution (ON DELETE CASCADE). One bounded
        // statement at a time, so that the writer is never held for long.
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let deleted = sqlx::query(
                        "DELETE FROM executions WHERE id IN (SELECT id FROM executions \
                         WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at < $1 \
                         ORDER BY updated_at LIMIT $2)",
                    )
                    .bind(before)
                    .bind(limit)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("deleting finished executions"))?
                    .rows_affected();
                    Ok(deleted)
                })
            })
            .await
    }

    async fn delete_audit_entries(&self, before: i64, limit: u64) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    // Entries are appended in time order: the oldest are the first by seq.
                    let deleted = sqlx::query(
                        "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log \
                         WHERE at < $1 ORDER BY seq LIMIT $2)",
                    )
                    .bind(before)
                    .bind(limit)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("deleting audit entries"))?
                    .rows_affected();
                    Ok(deleted)
                })
            })
            .await
    }

    async fn append_journal(&self, e: &JournalEntry, holder: &Holder) -> Result<(), StoreError> {
        let (e, holder) = (e.clone(), holder.clone());
        self.writes.run(move |conn| {
            Box::pin(async move {
                // Insert only while the lease is held, in one statement, so a host that lost
                // its lease cannot add to a journal another host now writes.
                let inserted = sqlx::query(
                    "INSERT INTO journal (execution_id, seq, kind, name, request, outcome, attempts, started_at, finished_at, format) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $11 FROM executions \
                     WHERE id = $1 AND lease_owner = $10 AND lease_epoch = $12",
                )
                .bind(&e.execution_id)
                .bind(e.seq)
                .bind(e.step.kind.as_str())
                .bind(&e.step.name)
                .bind(e.step.request.to_string())
                .bind(e.outcome.to_json().to_string())
                .bind(e.attempts)
                .bind(e.started_at)
                .bind(e.finished_at)
                .bind(&holder.owner)
                .bind(JOURNAL_FORMAT)
                .bind(holder.epoch)
                .execute(&mut *conn)
                .await;
                match inserted {
                    Ok(done) if done.rows_affected() == 1 => Ok(()),
                    Ok(_) => Err(StoreError::LeaseLost {
                        execution_id: e.execution_id,
                        owner: holder.owner,
                    }),
                    Err(error) if is_unique_violation(&error) => Err(StoreError::JournalConflict {
                        execution_id: e.execution_id,
                        seq: e.seq,
                    }),
                    Err(error) => Err(db("appending to a journal")(error)),
                }
            })
        })
        .await
    }

    async fn send_signal(
        &self,
        tenant: &str,
        execution_id: &str,
        name: &str,
        payload: &str,
        now: i64,
    ) -> Result<SignalSent, StoreError> {
        let (tenant, execution_id) = (tenant.to_string(), execution_id.to_string());
        let (name, payload) = (name.to_string(), payload.to_string());
        let sqlite = self.sqlite;
        self.writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    let status =
                        sqlx::query("SELECT status FROM executions WHERE tenant = $1 AND id = $2")
                            .bind(&tenant)
                            .bind(&execution_id)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db("finding the execution of a signal"))?;
                    let Some(status) = status else {
                        return Ok(SignalSent::NoSuchExecution);
                    };
                    let status: String =
                        status.try_get("status").map_err(db("reading a status"))?;
                    if ExecutionStatus::parse(&status).is_none_or(ExecutionStatus::is_finished) {
                        return Ok(SignalSent::Finished);
                    }
                    sqlx::query(
                    "INSERT INTO signals (execution_id, name, payload, created_at, consumed_seq) \
                     VALUES ($1, $2, $3, $4, NULL)",
                )
                .bind(&execution_id)
                .bind(&name)
                .bind(&payload)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(db("recording a signal"))?;
                    sqlx::query(
                        "UPDATE executions SET wake_at = $1 WHERE id = $2 AND status = 'waiting'",
                    )
                    .bind(now)
                    .bind(&execution_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("waking an execution for a signal"))?;
                    if !sqlite {
                        notify(conn, WAKE_CHANNEL, &execution_id).await?;
                    }
                    Ok(SignalSent::Sent)
                })
            })
            .await
    }

    async fn claim_signal(
        &self,
        execution_id: &str,
        name: &str,
        seq: i64,
    ) -> Result<Option<String>, StoreError> {
        let (execution_id, name) = (execution_id.to_string(), name.to_string());
        self.writes.run(move |conn| {
            Box::pin(async move {
                let claimed_before = sqlx::query(
                    "SELECT payload FROM signals WHERE execution_id = $1 AND name = $2 AND consumed_seq = $3",
                )
                .bind(&execution_id)
                .bind(&name)
                .bind(seq)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("finding a claimed signal"))?;
                if let Some(row) = claimed_before {
                    return row
                        .try_get::<String, _>("payload")
                        .map(Some)
                        .map_err(db("reading a signal"));
                }
                let claimed = sqlx::query(
                    "UPDATE signals SET consumed_seq = $1 WHERE id = ( \
                       SELECT id FROM signals WHERE execution_id = $2 AND name = $3 AND consumed_seq IS NULL \
                       ORDER BY id LIMIT 1) \
                     RETURNING payload",
                )
                .bind(seq)
                .bind(&execution_id)
                .bind(&name)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("claiming a signal"))?;
                claimed
                    .map(|row| row.try_get::<String, _>("payload"))
                    .transpose()
                    .map_err(db("reading a signal"))
            })
        })
        .await
    }

    async fn wake_if_signalled(
        &self,
        execution_id: &str,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (execution_id, name) = (execution_id.to_string(), name.to_string());
        self.writes.run(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE executions SET wake_at = $1 WHERE id = $2 AND status = 'waiting' \
                     AND EXISTS (SELECT 1 FROM signals WHERE execution_id = $2 AND name = $3 AND consumed_seq IS NULL)",
                )
                .bind(now)
                .bind(&execution_id)
                .bind(&name)
                .execute(&mut *conn)
                .await
                .map_err(db("waking a signalled execution"))?;
                Ok(())
            })
        })
        .await
    }

    async fn load_journal(
        &self,
        execution_id: &str,
        after: i64,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT execution_id, seq, kind, name, request, outcome, attempts, started_at, finished_at, format \
             FROM journal WHERE execution_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(execution_id)
        .bind(after)
        .fetch_all(&self.pool)
        .await
        .map_err(db("loading a journal"))?;
        rows.iter().map(journal_entry_from_row).collect()
    }
}

fn journal_entry_from_row(row: &sqlx::any::AnyRow) -> Result<JournalEntry, StoreError> {
    let read = |c: &str| {
        row.try_get::<String, _>(c)
            .map_err(db("reading a journal row"))
    };
    let read_i64 = |c: &str| {
        row.try_get::<i64, _>(c)
            .map_err(db("reading a journal row"))
    };
    let execution_id = read("execution_id")?;
    let seq = read_i64("seq")?;
    let format_error = |source| StoreError::JournalFormat {
        execution_id: execution_id.clone(),
        seq,
        source,
    };
    let kind_text = read("kind")?;
    let kind = StepKind::parse(&kind_text)
        .ok_or_else(|| format_error(super::journal::JournalFormatError::UnknownKind(kind_text)))?;
    let request = read("request")?;
    let request = serde_json::from_str(&request)
        .map_err(|e| StoreError::Corrupt(format!("journal request is not JSON: {e}")))?;
    let outcome =
        Outcome::decode(kind, read_i64("format")?, &read("outcome")?).map_err(format_error)?;
    Ok(JournalEntry {
        step: Step {
            kind,
            name: read("name")?,
            request,
        },
        outcome,
        attempts: read_i64("attempts")?,
        started_at: read_i64("started_at")?,
        finished_at: read_i64("finished_at")?,
        execution_id,
        seq,
    })
}
