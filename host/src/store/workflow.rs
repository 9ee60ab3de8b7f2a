//! What the store keeps of durable workflows: executions (pinned to the component version
//! they started on), their journals, and the leases hosts claim due work with.
//!
//! Payloads (`args`, `result`, `error`) are JSON text; the workflow engine gives them
//! meaning. The journal's entries are typed: see [`super::journal`]. Times are milliseconds since the Unix epoch.

use serde::{Deserialize, Serialize};

/// Where an execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionStatus {
    /// Created, not yet run.
    Pending,
    /// A node runs it (or will, once its lease lapses).
    Running,
    /// In a durable sleep until `wake_at`.
    Sleeping,
    /// Waiting for a signal (until `wake_at`, with a timeout).
    Waiting,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl ExecutionStatus {
    /// Every status.
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Pending,
        ExecutionStatus::Running,
        ExecutionStatus::Sleeping,
        ExecutionStatus::Waiting,
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Cancelled,
    ];

    /// The status's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Pending => "pending",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Sleeping => "sleeping",
            ExecutionStatus::Waiting => "waiting",
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }

    /// The status stored as `text`.
    pub fn parse(text: &str) -> Option<ExecutionStatus> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Completed, failed and cancelled executions never run again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Completed | ExecutionStatus::Failed | ExecutionStatus::Cancelled
        )
    }

    /// Whether an execution in this status holds no lease: it waits for time or a signal.
    pub fn releases_lease(self) -> bool {
        self.is_finished() || matches!(self, ExecutionStatus::Sleeping | ExecutionStatus::Waiting)
    }
}

/// An execution about to be recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct NewExecution {
    /// Its id.
    pub id: String,
    /// The tenant that owns it.
    pub tenant: String,
    /// The workflow's procedure name.
    pub workflow: String,
    /// The component the workflow belongs to.
    pub component: String,
    /// The component version the execution is pinned to.
    pub component_version: String,
    /// Its arguments (JSON text).
    pub args: String,
    /// The caller's idempotency key, if given.
    pub idempotency_key: Option<String>,
    /// When it was created, ms since the Unix epoch.
    pub created_at: i64,
    /// Held from the start by a host that runs what it starts in place; none: the execution
    /// waits, pending, for any host's scheduler.
    pub lease: Option<Lease>,
    /// Recorded only while the tenant has fewer unfinished executions than this (its
    /// `running_executions` quota), counted in the same statement.
    pub max_unfinished: u64,
    /// Recorded only while the journals of the tenant's unfinished executions hold fewer
    /// bytes than this (its `journal_bytes` quota), summed in the same statement.
    pub max_journal_bytes: u64,
    /// The W3C `traceparent` of the span that started it, when traces are exported: every
    /// run of the execution (on any node, after any restart) continues that trace.
    pub trace_parent: Option<String>,
}

/// A host's claim on an execution: nobody else runs it until `until` (renewed while it runs).
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    /// The node holding it.
    pub owner: String,
    /// When the lease lapses, ms since the Unix epoch.
    pub until: i64,
}

/// Who holds an execution's lease: the node, and the epoch its claim took. The store
/// accepts a run's writes (journal entries, status changes) only while both are still the
/// execution's, so a node that lost its lease (frozen, partitioned, or itself claiming the
/// execution again) cannot write, whatever its clock says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The node.
    pub owner: String,
    /// The claim's epoch.
    pub epoch: i64,
}

impl Execution {
    /// The holder of this execution's lease as stored, if a node holds it.
    pub fn holder(&self) -> Option<Holder> {
        self.lease_owner.as_ref().map(|owner| Holder {
            owner: owner.clone(),
            epoch: self.lease_epoch,
        })
    }
}

/// The epoch an execution created under its starter's lease has (its first claim).
pub const FIRST_EPOCH: i64 = 1;

/// An execution as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    /// Its id.
    pub id: String,
    /// The tenant that owns it.
    pub tenant: String,
    /// The workflow it runs.
    pub workflow: String,
    /// The component the workflow belongs to.
    pub component: String,
    /// The component version it is pinned to.
    pub component_version: String,
    /// Its arguments (JSON text).
    pub args: String,
    /// The caller's idempotency key, if given.
    pub idempotency_key: Option<String>,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// Its result (JSON text), once completed.
    pub result: Option<String>,
    /// Its error (JSON text), once failed.
    pub error: Option<String>,
    /// When a sleeping or waiting execution is due again (none: only a signal wakes it).
    pub wake_at: Option<i64>,
    /// The node holding its lease, if one does.
    pub lease_owner: Option<String>,
    /// When that lease lapses.
    pub lease_expires_at: Option<i64>,
    /// The epoch of the last claim: each claim takes the next one (see [`Holder`]).
    pub lease_epoch: i64,
    /// When it was created, ms since the Unix epoch.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// The `traceparent` its runs continue (see [`NewExecution::trace_parent`]).
    pub trace_parent: Option<String>,
}

/// What [`super::Store::create_execution`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    /// A new execution was recorded.
    New,
    /// An execution with the same idempotency key exists; here it is.
    Existing(Box<Execution>),
    /// Nothing was recorded: the component version it would be pinned to is no longer
    /// stored (another node has just replaced or deleted the component).
    VersionGone,
    /// Nothing was recorded: the tenant is at a quota of its unfinished executions
    /// (checked before the idempotency key: at the quota a repeated start is refused too).
    AtQuota(UnfinishedQuota),
}

/// A quota on what a tenant's unfinished executions hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnfinishedQuota {
    /// It has `max_unfinished` of them.
    Executions,
    /// Their journals hold `max_journal_bytes`.
    JournalBytes,
}

/// A change of an execution's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionUpdate {
    /// The new status.
    pub status: ExecutionStatus,
    /// The result (JSON text), when completed.
    pub result: Option<String>,
    /// The error (JSON text), when failed.
    pub error: Option<String>,
    /// When it wakes, when sleeping or waiting.
    pub wake_at: Option<i64>,
    /// Now, ms since the Unix epoch.
    pub now: i64,
}

/// Which executions to list; newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionFilter {
    /// Only this tenant's executions.
    pub tenant: String,
    /// Only executions of this workflow.
    pub workflow: Option<String>,
    /// Only executions in this status.
    pub status: Option<ExecutionStatus>,
    /// At most this many.
    pub limit: i64,
    /// Page after this (created_at, id) — the last of the previous page.
    pub before: Option<(i64, String)>,
}
/// The statuses of unfinished executions in SQL, for queries that `concat!` it (a macro
/// because `concat!` takes literals only). [`UNFINISHED`] is the same text; a test checks it
/// against [`ExecutionStatus::is_finished`].
macro_rules! unfinished_sql {
    () => {
        "('pending', 'running', 'sleeping', 'waiting')"
    };
}
pub(crate) use unfinished_sql;

/// The statuses of unfinished executions in SQL: `('pending', 'running', …)`.
pub(crate) const UNFINISHED: &str = unfinished_sql!();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_of_unfinished_statuses_names_every_unfinished_status() {
        let unfinished: Vec<String> = ExecutionStatus::ALL
            .into_iter()
            .filter(|s| !s.is_finished())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(UNFINISHED, format!("({})", unfinished.join(", ")));
    }
}
