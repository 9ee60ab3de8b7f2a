//! Durable state behind a trait per role, all of them together [`Store`], with one
//! implementation over sqlx ([`SqlStore`]) that runs the same runtime queries on SQLite
//! (the default, embedded, WAL) and PostgreSQL (several hosts sharing one database).
//! Migrations live in `host/migrations/{sqlite,postgres}` and are kept in step.
//!
//! Every stored object belongs to a tenant; [`DEFAULT_TENANT`] always exists.
//!
//! - [`ComponentStore`]: deployed components and their versions;
//! - [`TenantStore`]: tenants, API keys (their hashes) and the audit log;
//! - [`ExecutionStore`]: durable workflow executions and their fenced leases (types in
//!   [`workflow`]);
//! - [`JournalStore`]: what runs write: the typed, versioned journal of each execution
//!   ([`journal`]) and its signals;
//! - [`RetentionStore`]: finished executions and old audit entries deleted;
//! - [`KeyValueStore`]: guests' key-value entries, per tenant and bucket;
//! - [`ConfigStore`]: config values of components (secrets sealed);
//! - [`ScheduleStore`]: cron schedules and the next tick of each;
//! - [`NodeStore`]: the nodes sharing the database, and what keeps each in step with the
//!   others (the database's clock, the current components, notices on PostgreSQL).
//!
//! Writes are answered only once committed; on SQLite the writes of concurrent callers
//! are committed together (see `writes`).

mod components;
mod config;
mod durable;
mod executions;
pub mod journal;
mod keyvalue;
mod nodes;
mod notices;
mod retention;
mod schedules;
mod sql;
mod tenants;
pub(crate) mod workflow;
mod writes;

use std::path::Path;
use std::sync::Arc;

use crate::limits::CallLimits;

pub use components::ComponentStore;
pub use config::{ConfigEntry, ConfigStore};
pub use durable::JournalStore;
pub use executions::ExecutionStore;
pub use journal::{JournalEntry, Outcome, Step, StepKind};
pub use keyvalue::{KeyValueStore, KvEntry, KvExpect, KvKeys, KvSet, KvWrite};
pub use nodes::{ComponentHead, Node, NodeStore};
pub use notices::Notice;
pub use retention::RetentionStore;
pub use schedules::{ScheduleSaved, ScheduleStore, StoredSchedule};
pub use sql::SqlStore;
pub use tenants::{AuditEntry, AuditFilter, StoredKey, Tenant, TenantStore};
pub use workflow::{
    Created, Execution, ExecutionFilter, ExecutionStatus, ExecutionUpdate, FIRST_EPOCH, Holder,
    Lease, NewExecution, UnfinishedQuota,
};
pub use writes::{CHECKPOINT_INTERVAL, MAX_BATCH, MAX_QUEUED_WRITES, WAL_MAX_PAGES};

/// The tenant that always exists: everything, when keys are off.
pub const DEFAULT_TENANT: &str = "default";

/// Failures of the store. The message names the operation; the source says why.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{operation}: {source}")]
    /// A database operation failed.
    Database {
        /// What the store was doing.
        operation: &'static str,
        /// Why it failed.
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the database: {0}")]
    /// A migration failed.
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Only the scheme is named: the rest of a URL may hold a password.
    #[error("unsupported database URL scheme {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored value out of range: {0}")]
    /// A stored value this host cannot read.
    Corrupt(String),
    #[error("journal entry {seq} of execution {execution_id}: {source}")]
    /// A journal row this host cannot read.
    JournalFormat {
        /// The execution.
        execution_id: String,
        /// The entry's sequence.
        seq: i64,
        /// What is wrong with it.
        #[source]
        source: journal::JournalFormatError,
    },
    /// Another run journaled this entry first.
    #[error("execution {execution_id} already has journal entry {seq}")]
    JournalConflict {
        /// The execution.
        execution_id: String,
        /// The entry's sequence.
        seq: i64,
    },
    /// The node no longer holds the execution's lease.
    #[error("execution {execution_id} is not leased to {owner}")]
    LeaseLost {
        /// The execution.
        execution_id: String,
        /// The node that thought it held it.
        owner: String,
    },
    /// A key-value write that would take its tenant to this many bytes, past its quota:
    /// undone ([`KeyValueStore::kv_set`] answers it as [`KvWrite::OverQuota`]).
    #[error("the write would take the tenant to {0} bytes of key-value data, past its quota")]
    KvPastQuota(u64),
    /// A write ran but its transaction did not commit (or the writer is gone): not done.
    #[error("committing writes: {0}")]
    Commit(String),
}

/// A map_err for sqlx errors: the operation that failed, and why.
fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

/// A deployed component as stored: its bytes, its version and its limits.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredComponent {
    /// The tenant that owns it.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// Its version: the SHA-256 of its bytes.
    pub version: String,
    /// The component's bytes.
    pub wasm: Vec<u8>,
    /// The limits it was deployed with.
    pub limits: CallLimits,
    /// Milliseconds since the Unix epoch.
    pub deployed_at: i64,
    /// The id of the key that deployed it, if a key was used.
    pub deployed_by: Option<String>,
}

/// One stored version of a component, as its history lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionRecord {
    /// The SHA-256 of its bytes.
    pub version: String,
    /// When it was last made current (deployed or rolled back to), ms since the Unix epoch.
    pub deployed_at: i64,
    /// The id of the key that did that, if a key was used.
    pub deployed_by: Option<String>,
    /// Its size.
    pub size_bytes: u64,
    /// It is the version the component runs now.
    pub current: bool,
}

/// What the host keeps across restarts: every role's store, on one database.
#[async_trait::async_trait]
pub trait Store:
    ComponentStore
    + ExecutionStore
    + JournalStore
    + RetentionStore
    + TenantStore
    + NodeStore
    + KeyValueStore
    + ConfigStore
    + ScheduleStore
    + Send
    + Sync
    + 'static
{
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether a write commits: one small write through the same path as every other.
    async fn check_writes(&self, now: i64) -> Result<(), StoreError>;
}

/// What became of a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalSent {
    /// Kept for the execution (and the execution woken if it waits).
    Sent,
    /// No execution of that id in the tenant.
    NoSuchExecution,
    /// The execution has finished; nothing will take the signal.
    Finished,
}

/// Open the store at `url` (`sqlite://…` or `postgres://…`), or the embedded SQLite
/// database under `data_dir` when no URL is given, and bring its schema up to date.
pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    let url = match url {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}?mode=rwc", data_dir.join("tsdev.db").display()),
    };
    Ok(Arc::new(SqlStore::connect(&url).await?))
}
