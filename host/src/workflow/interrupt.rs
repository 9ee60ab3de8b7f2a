//! Why a durable import stops a workflow run on purpose. Raised as the error of the
//! import; the run's [`super::Replay`] claims it as an interrupt (see
//! [`crate::runtime::CallExtension::is_interrupt`]), so it is told apart from a guest's
//! failure.

use crate::error_kind::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkflowInterrupt {
    /// The workflow sleeps until `wake_at` (ms since the epoch); run it again then.
    #[error("suspended until {wake_at}")]
    Suspend { wake_at: i64 },
    /// The execution went past one of its documented limits; `kind` names which.
    #[error("{message}")]
    Limit { kind: ErrorKind, message: String },
    /// The workflow waits for signal `name`, until `wake_at` when it has a timeout.
    #[error("waiting for signal {name}")]
    WaitSignal { name: String, wake_at: Option<i64> },
    /// The replay asked for something other than what the journal holds.
    #[error(
        "non-determinism at step {seq}: the journal has {journaled}, the workflow asked for {asked}"
    )]
    NonDeterminism {
        seq: i64,
        journaled: String,
        asked: String,
    },
    /// The journal could not be written (e.g. another host took the lease).
    #[error("journal: {0}")]
    Journal(String),
}
