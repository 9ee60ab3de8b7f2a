//! What the store keeps of the nodes sharing it ([`NodeStore`]): each beats while it runs,
//! and a node can be told to drain. Also the cluster-wide facts a node keeps itself in
//! step with: the database's clock, the current component versions, and the notices of
//! other nodes. Implemented on [`SqlStore`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::Row;
use tokio::sync::broadcast;

use super::notices::{Notice, WAKE_CHANNEL, notify};
use super::sql::SqlStore;
use super::{StoreError, db};

/// A node as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its id (also the lease owner of what it runs).
    pub id: String,
    /// Where it serves HTTP, as it says.
    pub address: String,
    /// When it started, ms since the Unix epoch (database time).
    pub started_at: i64,
    /// Its last heartbeat.
    pub beat_at: i64,
    /// Whether it was told to drain: it claims no new executions.
    pub draining: bool,
    /// When it stopped gracefully, if it did.
    pub stopped_at: Option<i64>,
    /// How many executions it holds leases on now.
    pub leases: i64,
}

/// The current version of a component, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ComponentHead {
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// Its version (content hash).
    pub version: String,
    /// When it was deployed: a redeploy of the same bytes (other limits) changes it.
    pub deployed_at: i64,
}

/// How recently another node must have beaten to count as alive for the notices of run
/// ends (several beats: a node stalled for a moment still hears them). A node that joins
/// is heard of at this node's next beat; until then its callers waiting for a run here
/// learn of its end by their own periodic look (every second).
pub(crate) const OTHERS_ALIVE_FOR: Duration = Duration::from_secs(5);

/// Nodes, and what each node follows of the others.
#[async_trait::async_trait]
pub trait NodeStore: Send + Sync {
    /// Record that node `id` (serving at `address`, started at `started_at`) is alive at
    /// `now`; whether it has been told to drain. Also learns whether other nodes are alive
    /// (within [`OTHERS_ALIVE_FOR`]): the ends of runs are notified only if so.
    async fn beat(
        &self,
        id: &str,
        address: &str,
        started_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Record that node `id` stopped gracefully at `now`.
    async fn stopped(&self, id: &str, now: i64) -> Result<(), StoreError>;

    /// Every node that beat since `since`, or stopped since then, oldest first.
    async fn list_nodes(&self, since: i64) -> Result<Vec<Node>, StoreError>;

    /// Tell node `id` to drain; false when there is no such node.
    async fn drain_node(&self, id: &str) -> Result<bool, StoreError>;

    /// Hand back every lease `owner` holds (a node stopping or draining): its executions
    /// are due at once for any node.
    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError>;

    /// Hand back every lease of every node but `owner`: a sole node starting (SQLite),
    /// whose predecessor died holding them.
    async fn release_others_leases(&self, owner: &str) -> Result<u64, StoreError>;

    /// The current version of every component of every tenant.
    async fn component_heads(&self) -> Result<Vec<ComponentHead>, StoreError>;

    /// How many executions of every tenant are in each unfinished status.
    async fn count_unfinished_by_status(
        &self,
    ) -> Result<Vec<(super::ExecutionStatus, u64)>, StoreError>;

    /// The store's connections: open, and idle among them.
    fn pool_state(&self) -> (u32, usize);

    /// The database's clock in ms since the Unix epoch; `None` when this process's clock
    /// is the database's (SQLite, embedded).
    async fn database_now(&self) -> Result<Option<i64>, StoreError>;

    /// Notices from the nodes sharing the database (this one's too); `None` where no
    /// other node can share it.
    fn notices(&self) -> Option<broadcast::Receiver<Notice>>;
}

#[async_trait::async_trait]
impl NodeStore for SqlStore {
    async fn beat(
        &self,
        id: &str,
        address: &str,
        started_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (id, address) = (id.to_string(), address.to_string());
        let draining = self
            .writes
            .run({
                let id = id.clone();
                move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "INSERT INTO nodes (id, address, started_at, beat_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at, address = excluded.address \
                         RETURNING draining",
                    )
                    .bind(&id)
                    .bind(&address)
                    .bind(started_at)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db("recording a node's heartbeat"))?;
                    let draining: i64 = row.try_get("draining").map_err(db("reading a node"))?;
                    Ok(draining != 0)
                })
            }})
            .await?;
        if !self.sqlite {
            let since = now - i64::try_from(OTHERS_ALIVE_FOR.as_millis()).unwrap_or(i64::MAX);
            let (others,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM nodes WHERE id <> $1 AND stopped_at IS NULL AND beat_at >= $2",
            )
            .bind(&id)
            .bind(since)
            .fetch_one(&self.pool)
            .await
            .map_err(db("counting the other nodes"))?;
            self.others_alive.store(others > 0, Ordering::Relaxed);
        }
        Ok(draining)
    }

    async fn stopped(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let id = id.to_string();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    sqlx::query("UPDATE nodes SET stopped_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(&id)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("recording a node's stop"))?;
                    Ok(())
                })
            })
            .await
    }

    async fn list_nodes(&self, since: i64) -> Result<Vec<Node>, StoreError> {
        let rows = sqlx::query(
            "SELECT n.id, n.address, n.started_at, n.beat_at, n.draining, n.stopped_at, \
               (SELECT COUNT(*) FROM executions e WHERE e.lease_owner = n.id \
                  AND e.status IN ('pending', 'running')) AS leases \
             FROM nodes n WHERE n.beat_at >= $1 OR n.stopped_at >= $1 ORDER BY n.started_at, n.id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing nodes"))?;
        rows.iter()
            .map(|row| {
                let read = || db("reading a node");
                Ok(Node {
                    id: row.try_get("id").map_err(read())?,
                    address: row.try_get("address").map_err(read())?,
                    started_at: row.try_get("started_at").map_err(read())?,
                    beat_at: row.try_get("beat_at").map_err(read())?,
                    draining: row.try_get::<i64, _>("draining").map_err(read())? != 0,
                    stopped_at: row.try_get("stopped_at").map_err(read())?,
                    leases: row.try_get("leases").map_err(read())?,
                })
            })
            .collect()
    }

    async fn drain_node(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query("UPDATE nodes SET draining = 1 WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("draining a node"))?
                        .rows_affected()
                        == 1)
                })
            })
            .await
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_string();
        let sqlite = self.sqlite;
        // One change; the notice after it needs no transaction.
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let released = sqlx::query(
                        "UPDATE executions SET lease_owner = NULL, lease_expires_at = NULL \
                         WHERE lease_owner = $1 AND status IN ('pending', 'running')",
                    )
                    .bind(&owner)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("handing back leases"))?
                    .rows_affected();
                    if released > 0 && !sqlite {
                        notify(conn, WAKE_CHANNEL, "").await?;
                    }
                    Ok(released)
                })
            })
            .await
    }

    async fn release_others_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_string();
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query(
                        "UPDATE executions SET lease_owner = NULL, lease_expires_at = NULL \
                         WHERE lease_owner <> $1 AND status IN ('pending', 'running')",
                    )
                    .bind(&owner)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("handing back leases"))?
                    .rows_affected())
                })
            })
            .await
    }

    async fn component_heads(&self) -> Result<Vec<ComponentHead>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, name, version, deployed_at FROM components ORDER BY tenant, name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing current component versions"))?;
        rows.iter()
            .map(|row| {
                let read = || db("reading a component");
                Ok(ComponentHead {
                    tenant: row.try_get("tenant").map_err(read())?,
                    name: row.try_get("name").map_err(read())?,
                    version: row.try_get("version").map_err(read())?,
                    deployed_at: row.try_get("deployed_at").map_err(read())?,
                })
            })
            .collect()
    }

    async fn count_unfinished_by_status(
        &self,
    ) -> Result<Vec<(super::ExecutionStatus, u64)>, StoreError> {
        // Spelled as the statuses, so that the index led by status counts only those rows.
        let rows = sqlx::query(concat!(
            "SELECT status, COUNT(*) AS n FROM executions WHERE status IN ",
            super::workflow::unfinished_sql!(),
            " GROUP BY status"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db("counting executions by status"))?;
        rows.iter()
            .filter_map(|row| {
                let status: String = match row.try_get("status") {
                    Ok(status) => status,
                    Err(e) => return Some(Err(db("reading a count")(e))),
                };
                let count: i64 = match row.try_get("n") {
                    Ok(count) => count,
                    Err(e) => return Some(Err(db("reading a count")(e))),
                };
                super::ExecutionStatus::parse(&status)
                    .map(|s| Ok((s, u64::try_from(count).unwrap_or(0))))
            })
            .collect()
    }

    fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn database_now(&self) -> Result<Option<i64>, StoreError> {
        if self.sqlite {
            return Ok(None);
        }
        let (now,): (i64,) = sqlx::query_as(
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("reading the database's clock"))?;
        Ok(Some(now))
    }

    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        self.notices.as_ref().map(|sender| sender.subscribe())
    }
}
