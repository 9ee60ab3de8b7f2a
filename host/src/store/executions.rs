//! What the store keeps of workflow executions ([`ExecutionStore`]): their rows, the
//! unfinished-executions quota, and the leases (owner, expiry, epoch) that fence which
//! node runs each.

use std::sync::atomic::Ordering;

use super::notices::{EXECUTIONS_CHANNEL, notify};
use super::sql::{
    EXECUTION_COLUMNS, SqlStore, execution_from_row, to_u64, unfinished_of_tenant,
    unfinished_use_of_tenant,
};
use super::workflow::{
    Created, Execution, ExecutionFilter, ExecutionStatus, ExecutionUpdate, FIRST_EPOCH, Holder,
    NewExecution, UNFINISHED, UnfinishedQuota,
};
use super::{StoreError, db};

/// Workflow executions and the leases that say which node runs each.
#[async_trait::async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Record a new execution (pending, or running under its [`Lease`] at [`FIRST_EPOCH`]
    /// when it has one), or find the one started before with the same idempotency key.
    /// Recorded only while the version it is pinned to is stored ([`Created::VersionGone`]).
    async fn create_execution(&self, execution: &NewExecution) -> Result<Created, StoreError>;

    /// An execution of `tenant`.
    async fn get_execution(&self, tenant: &str, id: &str) -> Result<Option<Execution>, StoreError>;

    /// How many executions of `tenant` have not finished.
    async fn count_unfinished(&self, tenant: &str) -> Result<u64, StoreError>;

    /// Executions newest first, filtered and paged by [`ExecutionFilter`].
    async fn list_executions(&self, filter: &ExecutionFilter)
    -> Result<Vec<Execution>, StoreError>;

    /// Claim up to `limit` executions that are due (pending or running with no live lease,
    /// sleeping or waiting whose wake time has come) for `owner` until `lease_until`; each
    /// claim takes the execution's next lease epoch.
    async fn claim_due(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Execution>, StoreError>;

    /// Extend every lease `owner` holds to `until`; how many there were.
    async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64, StoreError>;

    /// Change an execution `holder` holds ([`StoreError::LeaseLost`] when it does not).
    /// Sleeping, waiting and finished executions give their lease up, so any host can pick
    /// them up when they are due.
    async fn update_execution(
        &self,
        id: &str,
        holder: &Holder,
        update: &ExecutionUpdate,
    ) -> Result<(), StoreError>;

    /// Cancel an unfinished execution, whoever holds it; false when it is finished or absent.
    /// A run in progress finds its lease gone and stops at its next journal write.
    async fn cancel_execution(&self, tenant: &str, id: &str, now: i64) -> Result<bool, StoreError>;
}

#[async_trait::async_trait]
impl ExecutionStore for SqlStore {
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
                    WHERE tenant = $2 AND status IN {UNFINISHED}) \
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
               WHERE status IN {UNFINISHED} \
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
}
