//! [`Store`] over sqlx's `Any` driver: one set of runtime queries for SQLite and PostgreSQL
//! (both accept `$1` placeholders), migrations per backend. Reads use a pool; writes go
//! through [`Writes`] (group commit on SQLite).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::broadcast;

use super::journal::{JournalEntry, Outcome, Step, StepKind};
use super::notices::Notice;
use super::workflow::{Execution, ExecutionStatus, UNFINISHED, unfinished_sql};
use super::writes::Writes;
use super::{Store, StoreError, db};

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
pub(super) const PINNED_VERSIONS: &str = concat!(
    "SELECT component_version FROM executions \
     WHERE tenant = $1 AND component = $2 AND status IN ",
    unfinished_sql!()
);

/// How many unfinished executions the tenant given as parameter `tenant` (`$2`) has.
/// Spelled as the unfinished statuses, so that the partial index on (tenant, status) counts
/// only those rows, however many finished ones the tenant has.
pub(super) fn unfinished_of_tenant(tenant: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM executions \
         WHERE tenant = {tenant} AND status IN {UNFINISHED}"
    )
}

/// What a tenant's unfinished executions hold: how many, and their journals' bytes.
pub(super) fn unfinished_use_of_tenant(tenant: &str) -> String {
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(journal_bytes), 0) AS BIGINT) FROM executions \
         WHERE tenant = {tenant} AND status IN {UNFINISHED}"
    )
}

pub(super) const EXECUTION_COLUMNS: &str = "id, tenant, workflow, component, component_version, args, \
    idempotency_key, status, result, error, wake_at, lease_owner, lease_expires_at, lease_epoch, created_at, updated_at, trace_parent";

pub(super) fn execution_from_row(row: &sqlx::any::AnyRow) -> Result<Execution, StoreError> {
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

pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
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

pub(super) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("{what} {value} does not fit a BIGINT")))
}

pub(super) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

#[async_trait::async_trait]
impl Store for SqlStore {
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
}

pub(super) fn journal_entry_from_row(row: &sqlx::any::AnyRow) -> Result<JournalEntry, StoreError> {
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
