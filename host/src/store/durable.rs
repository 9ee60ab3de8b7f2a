//! What runs of durable executions write ([`JournalStore`]): journal entries, appended
//! under the run's lease, and signals, kept until a wait takes them.

use super::journal::{JOURNAL_FORMAT, JournalEntry};
use sqlx::Row;

use super::notices::{WAKE_CHANNEL, notify};
use super::sql::{SqlStore, is_unique_violation, journal_entry_from_row};
use super::workflow::{ExecutionStatus, Holder};
use super::{SignalSent, StoreError, db};

/// What runs of durable executions write and read: journal entries and signals.
#[async_trait::async_trait]
pub trait JournalStore: Send + Sync {
    /// Append one journal entry of an execution `holder` holds. The sequence is the
    /// execution's next; a second entry with the same sequence is a [`StoreError::JournalConflict`].
    async fn append_journal(&self, entry: &JournalEntry, holder: &Holder)
    -> Result<(), StoreError>;

    /// An execution's journal entries after sequence `after` (0: all), in sequence order.
    async fn load_journal(
        &self,
        execution_id: &str,
        after: i64,
    ) -> Result<Vec<JournalEntry>, StoreError>;

    /// Keep signal `name` (a JSON `payload`) for an unfinished execution until a wait takes
    /// it, and wake the execution if it is waiting.
    async fn send_signal(
        &self,
        tenant: &str,
        execution_id: &str,
        name: &str,
        payload: &str,
        now: i64,
    ) -> Result<SignalSent, StoreError>;

    /// The oldest signal `name` no wait has taken, now taken by journal entry `seq`; the
    /// signal entry `seq` took before, if there is one (a crash came between claiming and
    /// journaling).
    async fn claim_signal(
        &self,
        execution_id: &str,
        name: &str,
        seq: i64,
    ) -> Result<Option<String>, StoreError>;

    /// Wake a waiting execution when a signal `name` is there for it. Run after an
    /// execution starts to wait: with [`Store::send_signal`]'s own wake-up, no signal sent
    /// around that moment goes unnoticed.
    async fn wake_if_signalled(
        &self,
        execution_id: &str,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl JournalStore for SqlStore {
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
}
