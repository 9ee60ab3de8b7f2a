//! Durable state behind one trait, [`Store`], with one implementation over sqlx that runs
//! the same runtime queries on SQLite (the default, embedded, WAL) and PostgreSQL (several
//! hosts sharing one database). Migrations live in `host/migrations/{sqlite,postgres}` and
//! are kept in step.
//!
//! Every stored object belongs to a tenant; [`DEFAULT_TENANT`] always exists.
//!
//! - components: deployed components and their versions;
//! - [`TenantStore`]: tenants, API keys (their hashes) and the audit log;
//! - [`workflow`]: durable workflow executions and their fenced leases;
//! - [`journal`]: the typed, versioned journal of each execution;
//! - [`KeyValueStore`]: guests' key-value entries, per tenant and bucket;
//! - [`ConfigStore`]: config values of components (secrets sealed);
//! - [`ScheduleStore`]: cron schedules and the next tick of each;
//! - [`NodeStore`]: the nodes sharing the database, and what keeps each in step with the
//!   others (the database's clock, the current components, notices on PostgreSQL).
//!
//! Writes are answered only once committed; on SQLite the writes of concurrent callers
//! are committed together (see `writes`).

mod config;
pub mod journal;
mod keyvalue;
mod nodes;
mod notices;
mod schedules;
mod sql;
mod tenants;
pub(crate) mod workflow;
mod writes;

use std::path::Path;
use std::sync::Arc;

use crate::limits::CallLimits;

pub use config::{ConfigEntry, ConfigStore};
pub use journal::{JournalEntry, Outcome, Step, StepKind};
pub use keyvalue::{KeyValueStore, KvEntry, KvExpect, KvKeys, KvSet, KvWrite};
pub use nodes::{ComponentHead, Node, NodeStore};
pub use notices::Notice;
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

/// What the host keeps across restarts.
#[async_trait::async_trait]
pub trait Store:
    TenantStore + NodeStore + KeyValueStore + ConfigStore + ScheduleStore + Send + Sync + 'static
{
    /// Save `component` as the current version of its name, replacing the previous one
    /// in one transaction.
    async fn save_component(&self, component: &StoredComponent) -> Result<(), StoreError>;

    /// Delete the component `name`; false when there was none. Versions that unfinished
    /// executions are pinned to stay until those end (the next deploy or delete of the
    /// name drops them).
    async fn delete_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError>;

    /// The current version of every component of `tenant`, by name.
    async fn load_components(&self, tenant: &str) -> Result<Vec<StoredComponent>, StoreError>;

    /// The bytes of one version of a component, current or kept for a pinned execution,
    /// with the limits it was deployed with.
    async fn load_component_version(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<(Vec<u8>, CallLimits)>, StoreError>;

    /// The stored versions of the component `name` of `tenant`, newest first (at most
    /// `limits::KEPT_VERSIONS`, and those unfinished executions are pinned to); `None` when
    /// there is no such component.
    async fn list_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<Vec<VersionRecord>>, StoreError>;

    /// The content hashes of every stored version of every component, of all tenants.
    async fn stored_versions(&self) -> Result<Vec<String>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether a write commits: one small write through the same path as every other.
    async fn check_writes(&self, now: i64) -> Result<(), StoreError>;

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

    /// Delete up to `limit` executions that finished (completed, failed or cancelled)
    /// before `before` (ms since the Unix epoch), with their journals and signals, oldest
    /// first; how many. Unfinished executions are never deleted, however old.
    async fn delete_finished_executions(&self, before: i64, limit: u64) -> Result<u64, StoreError>;

    /// Delete up to `limit` audit entries made before `before`, oldest first; how many.
    async fn delete_audit_entries(&self, before: i64, limit: u64) -> Result<u64, StoreError>;

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
