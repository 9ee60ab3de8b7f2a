//! Where the store's writes run. Every write is an operation on one connection, atomic:
//!
//! - **SQLite (group commit).** SQLite admits one writer at a time. One writer task owns
//!   the only writing connection; it takes every write waiting at the moment (up to
//!   [`MAX_BATCH`]), runs them in one transaction, commits once and only then answers each
//!   caller: a write is never reported done before it is committed. Queueing here instead
//!   of in SQLite's busy handler (which sleeps in steps of milliseconds), and committing the
//!   journal writes of concurrent workflow runs together, is what makes durable steps cheap.
//!   A write of one statement is atomic as it is (SQLite undoes a failed statement alone);
//!   a write of several runs in a savepoint, so that one failing write leaves the rest of
//!   its batch alone. Every statement is a round trip to sqlx's SQLite thread, so savepoints
//!   are kept to the writes that need them.
//!
//!   Checkpoints (copying the WAL back into the database file, with its fsync) run beside
//!   the writer on a reading connection every [`CHECKPOINT_INTERVAL`], not inside a commit
//!   now and then; the writer copies the rest itself when the WAL grows long
//!   ([`WAL_MAX_PAGES`]).
//! - **PostgreSQL.** Each write runs on a pooled connection, in a transaction of its own
//!   when it has several statements: several hosts write at once, and the server orders
//!   them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, db};

/// Most writes committed in one SQLite transaction. Bounds how long the first of them waits.
pub const MAX_BATCH: usize = 256;
/// Writes that may wait for the SQLite writer at once. Past this, callers wait to queue:
/// overload becomes backpressure on the requests that write, not unbounded memory.
pub const MAX_QUEUED_WRITES: usize = 4 * MAX_BATCH;
/// How often the WAL is checkpointed, without holding up writes.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// WAL pages past which the writer finishes a checkpoint itself between two batches. Under
/// writes that never pause, checkpoints beside them never quite catch up, and the WAL is
/// only started afresh once all of it has been copied back: without this it would grow
/// without end. About 40 MB of 4 KiB pages.
pub const WAL_MAX_PAGES: i64 = 10_000;

/// One write: statements on a connection, its answer ready once they have run.
type Operation<T> =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send>;

/// A queued SQLite write: runs it, and gives the answer to hand over once the batch has
/// committed.
pub(super) struct Queued {
    run: QueuedRun,
    /// Whether it may change the database with several statements.
    several: bool,
}
type QueuedRun = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Answer> + Send>;
/// Hands a write's result to its caller, given how the batch's commit went.
type Answer = Box<dyn FnOnce(Result<(), Arc<sqlx::Error>>) + Send>;

/// Runs the store's writes (see the module docs).
pub(super) enum Writes {
    GroupCommit(mpsc::Sender<Queued>),
    Pooled(AnyPool),
}

impl Writes {
    /// Group commit over the one connection of `writer` (SQLite), with checkpoints on a
    /// connection of `readers`. Needs a Tokio runtime.
    pub(super) fn group_commit(writer: AnyPool, readers: AnyPool) -> Writes {
        let (queue, waiting) = mpsc::channel(MAX_QUEUED_WRITES);
        let wal_too_long = Arc::new(AtomicBool::new(false));
        let checkpoints = checkpoint_now_and_then(readers, wal_too_long.clone());
        tokio::spawn(async move {
            let checkpoints = tokio::spawn(checkpoints);
            commit_batches(writer, waiting, wal_too_long).await;
            checkpoints.abort();
        });
        Writes::GroupCommit(queue)
    }

    /// Writes on connections of `pool` (PostgreSQL).
    pub(super) fn pooled(pool: AnyPool) -> Writes {
        Writes::Pooled(pool)
    }

    /// Run `operation`, which changes the database with at most one statement, and answer
    /// once it is committed. `operation` gets the connection to run it on.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        operation: impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        self.queue(Box::new(operation), false).await
    }

    /// [`Writes::run`] for an operation that may change the database with several
    /// statements: run atomically.
    pub(super) async fn run_atomic<T: Send + 'static>(
        &self,
        operation: impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        self.queue(Box::new(operation), true).await
    }

    async fn queue<T: Send + 'static>(
        &self,
        operation: Operation<T>,
        several: bool,
    ) -> Result<T, StoreError> {
        match self {
            Writes::Pooled(pool) if !several => {
                let mut conn = pool.acquire().await.map_err(db("connecting"))?;
                operation(&mut conn).await
            }
            Writes::Pooled(pool) => {
                let mut tx = pool.begin().await.map_err(db("starting a transaction"))?;
                let value = operation(&mut tx).await?;
                tx.commit().await.map_err(db("committing"))?;
                Ok(value)
            }
            Writes::GroupCommit(queue) => {
                let (answer, answered) = oneshot::channel();
                let run: QueuedRun = Box::new(move |conn| {
                    Box::pin(async move {
                        let result = if several {
                            in_savepoint(conn, operation).await
                        } else {
                            operation(conn).await
                        };
                        Box::new(move |committed: Result<(), Arc<sqlx::Error>>| {
                            let _ = answer.send(match committed {
                                Ok(()) => result,
                                Err(e) => Err(StoreError::Commit(e.to_string())),
                            });
                        }) as Answer
                    })
                });
                queue
                    .send(Queued { run, several })
                    .await
                    .map_err(|_| StoreError::Commit("the writer has stopped".into()))?;
                // Dropped unanswered: its batch could not start (logged by the writer).
                answered
                    .await
                    .map_err(|_| StoreError::Commit("the write was not run".into()))?
            }
        }
    }
}

/// Run `operation` in a savepoint: kept when it succeeds, undone when it fails.
async fn in_savepoint<T>(
    conn: &mut AnyConnection,
    operation: Operation<T>,
) -> Result<T, StoreError> {
    let mut savepoint = conn.begin().await.map_err(db("opening a savepoint"))?;
    let value = operation(&mut savepoint).await;
    match value {
        Ok(value) => {
            savepoint
                .commit()
                .await
                .map_err(db("releasing a savepoint"))?;
            Ok(value)
        }
        Err(e) => {
            savepoint
                .rollback()
                .await
                .map_err(db("rolling back a savepoint"))?;
            Err(e)
        }
    }
}

/// The SQLite writer task: commit what is waiting, answer, repeat until the store is gone.
/// It keeps its connection (sqlx tests a connection each time it goes back to its pool)
/// until the connection fails.
async fn commit_batches(
    pool: AnyPool,
    mut waiting: mpsc::Receiver<Queued>,
    wal_too_long: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut kept: Option<PoolConnection<Any>> = None;
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut answers = Vec::with_capacity(batch.len());
        let started = std::time::Instant::now();
        let metrics = crate::metrics::metrics();
        metrics.commit_batch.observe(batch.len() as f64);
        let committed = async {
            let conn = match &mut kept {
                Some(conn) => conn,
                None => kept.insert(pool.acquire().await?),
            };
            if wal_too_long.swap(false, Ordering::Relaxed) {
                // Copy back what the checkpoints beside us have not: with nothing left in
                // the WAL, the next commit starts it afresh. Between batches, no writer waits
                // on a lock (a RESTART checkpoint from elsewhere would make it sleep).
                sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut **conn)
                    .await?;
            }
            // A lone statement commits by itself: two round trips fewer than a transaction.
            if batch.len() == 1 && !batch[0].several {
                if let Some(write) = batch.pop() {
                    answers.push((write.run)(conn).await);
                }
                return Ok(());
            }
            let mut tx = conn.begin().await?;
            for write in batch.drain(..) {
                answers.push((write.run)(&mut tx).await);
            }
            tx.commit().await
        }
        .await
        .map_err(Arc::new);
        metrics
            .commit_duration
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &committed {
            tracing::error!("committing a batch of {} writes: {e}", answers.len());
            // Take a fresh connection for the next batch.
            kept = None;
        }
        // Writes never started (the connection failed first) are dropped: their callers
        // see the writer's answer channel closed.
        batch.clear();
        for answer in answers {
            answer(committed.clone());
        }
    }
}

/// Checkpoint the WAL every [`CHECKPOINT_INTERVAL`], beside the writer; past
/// [`WAL_MAX_PAGES`], ask the writer to finish the job between two batches.
async fn checkpoint_now_and_then(readers: AnyPool, wal_too_long: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(CHECKPOINT_INTERVAL).await;
        // One row: busy (0/1), pages in the WAL, pages copied back.
        let done = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&readers)
            .await
            .and_then(|row| row.try_get::<i64, _>(1));
        match done {
            Ok(pages) => wal_too_long.store(pages > WAL_MAX_PAGES, Ordering::Relaxed),
            Err(e) => tracing::warn!("checkpointing the SQLite WAL: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Executor;
    use sqlx::any::{AnyPoolOptions, install_default_drivers};

    async fn pool(url: &str, connections: u32) -> AnyPool {
        install_default_drivers();
        AnyPoolOptions::new()
            .max_connections(connections)
            .connect(url)
            .await
            .expect("a SQLite pool")
    }

    /// While the writer is held up, at most [`MAX_QUEUED_WRITES`] writes wait for it and a
    /// further one cannot even be queued; once it goes on, every queued write commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_writer_turns_more_writes_into_backpressure() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let writer = pool(&url, 1).await;
        writer
            .execute("CREATE TABLE t (n INTEGER NOT NULL)")
            .await
            .expect("a table");
        let readers = pool(&url, 1).await;
        let writes = Arc::new(Writes::group_commit(writer, readers.clone()));

        // The first write holds the writer until the gate opens.
        let (started, has_started) = oneshot::channel::<()>();
        let (open_gate, gate) = oneshot::channel::<()>();
        let held = tokio::spawn({
            let writes = writes.clone();
            async move {
                writes
                    .run(move |conn| {
                        Box::pin(async move {
                            let _ = started.send(());
                            let _ = gate.await;
                            sqlx::query("INSERT INTO t (n) VALUES (0)")
                                .execute(conn)
                                .await
                                .map_err(db("inserting"))?;
                            Ok(())
                        })
                    })
                    .await
            }
        });
        has_started.await.expect("the writer takes the first write");

        let extra = 50;
        let waiting: Vec<_> = (1..=(MAX_QUEUED_WRITES + extra) as i64)
            .map(|n| {
                let writes = writes.clone();
                tokio::spawn(async move {
                    writes
                        .run(move |conn| {
                            Box::pin(async move {
                                sqlx::query("INSERT INTO t (n) VALUES ($1)")
                                    .bind(n)
                                    .execute(conn)
                                    .await
                                    .map_err(db("inserting"))?;
                                Ok(())
                            })
                        })
                        .await
                })
            })
            .collect();
        let Writes::GroupCommit(queue) = writes.as_ref() else {
            panic!("SQLite writes go through the group-commit queue");
        };
        // Wait until the queue has filled (every task has had its turn to queue).
        for _ in 0..500 {
            if queue.capacity() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(queue.max_capacity(), MAX_QUEUED_WRITES);
        assert_eq!(queue.capacity(), 0, "the queue fills up to its bound");
        assert!(
            queue.try_reserve().is_err(),
            "a write past the bound waits to be queued"
        );

        open_gate.send(()).expect("the held write is waiting");
        held.await
            .expect("the held write's task")
            .expect("it commits");
        for task in waiting {
            task.await.expect("a write's task").expect("it commits");
        }
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(&readers)
            .await
            .expect("counting");
        assert_eq!(rows, (MAX_QUEUED_WRITES + extra + 1) as i64);
    }
}
