//! Durable state behind one trait, [`Store`], with one implementation over sqlx that runs
//! the same runtime queries on SQLite (the default, embedded, WAL) and PostgreSQL (several
//! hosts sharing one database). Migrations live in `host/migrations/{sqlite,postgres}` and
//! are kept in step.
//!
//! Every stored object belongs to a tenant; today every request uses [`DEFAULT_TENANT`].

mod sql;

use std::path::Path;
use std::sync::Arc;

use crate::limits::CallLimits;

pub use sql::SqlStore;

/// The tenant every object belongs to until tenants are configurable.
pub const DEFAULT_TENANT: &str = "default";

/// Failures of the store. The message names the operation; the source says why.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{operation}: {source}")]
    Database {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored value out of range: {0}")]
    Corrupt(String),
}

/// A deployed component as stored: its bytes, its version and its limits.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredComponent {
    pub tenant: String,
    pub name: String,
    pub version: String,
    pub wasm: Vec<u8>,
    pub limits: CallLimits,
    /// Milliseconds since the Unix epoch.
    pub deployed_at: i64,
}

/// What the host keeps across restarts.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Save `component` as the current version of its name, replacing the previous one
    /// in one transaction.
    async fn save_component(&self, component: &StoredComponent) -> Result<(), StoreError>;

    /// Delete the component `name`; false when there was none.
    async fn delete_component(&self, tenant: &str, name: &str) -> Result<bool, StoreError>;

    /// The current version of every component of `tenant`, by name.
    async fn load_components(&self, tenant: &str) -> Result<Vec<StoredComponent>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
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
