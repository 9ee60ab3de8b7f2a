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
    Pending,
    Running,
    Sleeping,
    Waiting,
    Completed,
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Pending,
        ExecutionStatus::Running,
        ExecutionStatus::Sleeping,
        ExecutionStatus::Waiting,
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Cancelled,
    ];

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
    pub id: String,
    pub tenant: String,
    /// The workflow's procedure name.
    pub workflow: String,
    pub component: String,
    /// The component version the execution is pinned to.
    pub component_version: String,
    pub args: String,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    /// Held from the start by a host that runs what it starts in place; none: the execution
    /// waits, pending, for any host's scheduler.
    pub lease: Option<Lease>,
}

/// A host's claim on an execution: nobody else runs it until `until` (renewed while it runs).
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
}

/// An execution as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    pub id: String,
    pub tenant: String,
    pub workflow: String,
    pub component: String,
    pub component_version: String,
    pub args: String,
    pub idempotency_key: Option<String>,
    pub status: ExecutionStatus,
    pub result: Option<String>,
    pub error: Option<String>,
    /// When a sleeping or waiting execution is due again (none: only a signal wakes it).
    pub wake_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What [`super::Store::create_execution`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Created {
    New,
    /// An execution with the same idempotency key exists; here it is.
    Existing(Box<Execution>),
}

/// A change of an execution's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionUpdate {
    pub status: ExecutionStatus,
    pub result: Option<String>,
    pub error: Option<String>,
    pub wake_at: Option<i64>,
    pub now: i64,
}

/// Which executions to list; newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionFilter {
    pub tenant: String,
    pub workflow: Option<String>,
    pub status: Option<ExecutionStatus>,
    pub limit: i64,
    /// Page after this (created_at, id) — the last of the previous page.
    pub before: Option<(i64, String)>,
}
