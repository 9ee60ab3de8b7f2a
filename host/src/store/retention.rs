//! Deleting what is past its keeping ([`RetentionStore`]): finished executions with their
//! journals and signals, old audit entries. Unfinished executions are never deleted.

use super::sql::SqlStore;
use super::{StoreError, db};

/// Deleting what is past its keeping.
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// Delete up to `limit` executions that finished (completed, failed or cancelled)
    /// before `before` (ms since the Unix epoch), with their journals and signals, oldest
    /// first; how many. Unfinished executions are never deleted, however old.
    async fn delete_finished_executions(&self, before: i64, limit: u64) -> Result<u64, StoreError>;

    /// Delete up to `limit` audit entries made before `before`, oldest first; how many.
    async fn delete_audit_entries(&self, before: i64, limit: u64) -> Result<u64, StoreError>;
}

#[async_trait::async_trait]
impl RetentionStore for SqlStore {
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
}
