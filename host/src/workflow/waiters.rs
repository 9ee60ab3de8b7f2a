//! Callers waiting for a run of one particular execution to end on this host: a caller of
//! `POST /rpc/{workflow}` for its result, an event stream for its next look. Each is told
//! about its own execution only, so a host ending thousands of runs a second does not wake
//! every waiter for each of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::store::{Execution, ExecutionStatus};

/// Where a finished execution ended, as a caller waiting for it gets it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    /// Completed, failed or cancelled.
    pub status: ExecutionStatus,
    /// JSON text: the result of a completed execution.
    pub result: Option<String>,
    /// JSON text: the error of a failed execution.
    pub error: Option<String>,
}

impl From<Execution> for Finished {
    fn from(execution: Execution) -> Finished {
        Finished {
            status: execution.status,
            result: execution.result,
            error: execution.error,
        }
    }
}

type Senders = HashMap<String, Vec<oneshot::Sender<Option<Finished>>>>;

/// The waiters of a host, by execution id.
#[derive(Default)]
pub(crate) struct RunWaiters {
    waiting: Arc<Mutex<Senders>>,
}

impl RunWaiters {
    /// Wait for the next end of a run of `execution_id`. Register before looking at the
    /// store, so that an end between the look and the wait is not missed.
    pub(crate) fn wait(&self, execution_id: &str) -> RunWaiter {
        let (sender, receiver) = oneshot::channel();
        self.lock()
            .entry(execution_id.to_string())
            .or_default()
            .push(sender);
        RunWaiter {
            receiver,
            execution_id: execution_id.to_string(),
            waiting: self.waiting.clone(),
        }
    }

    /// A run of `execution_id` ended; `finished` when it ended the execution (committed).
    pub(crate) fn ended(&self, execution_id: &str, finished: Option<Finished>) {
        let senders = self.lock().remove(execution_id).unwrap_or_default();
        for sender in senders {
            // A waiter that gave up is fine.
            let _ = sender.send(finished.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Senders> {
        // The map stays consistent whatever a panicking holder did: plain inserts/removes.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One registered wait; dropping it unregisters it.
pub struct RunWaiter {
    receiver: oneshot::Receiver<Option<Finished>>,
    execution_id: String,
    waiting: Arc<Mutex<Senders>>,
}

impl RunWaiter {
    /// How the run ended: `Some(finished)` when it ended the execution, `None` when it only
    /// paused or stopped.
    pub async fn ended(mut self) -> Option<Finished> {
        (&mut self.receiver).await.ok().flatten()
    }
}

impl Drop for RunWaiter {
    fn drop(&mut self) {
        // Closed now, so that the retain below drops this wait's sender too.
        self.receiver.close();
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(senders) = waiting.get_mut(&self.execution_id) {
            senders.retain(|s| !s.is_closed());
            if senders.is_empty() {
                waiting.remove(&self.execution_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed() -> Finished {
        Finished {
            status: ExecutionStatus::Completed,
            result: Some("1".into()),
            error: None,
        }
    }

    #[tokio::test]
    async fn each_waiter_hears_its_own_execution_only() {
        let waiters = RunWaiters::default();
        let a1 = waiters.wait("a");
        let a2 = waiters.wait("a");
        let b = waiters.wait("b");
        waiters.ended("a", Some(completed()));
        assert_eq!(a1.ended().await, Some(completed()));
        assert_eq!(a2.ended().await, Some(completed()));
        // b's run has not ended: its waiter is still registered and unanswered.
        assert_eq!(waiters.lock().get("b").map(Vec::len), Some(1));
        waiters.ended("b", None);
        assert_eq!(b.ended().await, None);
        assert!(waiters.lock().is_empty());
    }

    #[test]
    fn a_waiter_that_gives_up_leaves_nothing_behind() {
        let waiters = RunWaiters::default();
        let kept = waiters.wait("a");
        drop(waiters.wait("a"));
        assert_eq!(waiters.lock().get("a").map(Vec::len), Some(1));
        drop(kept);
        assert!(waiters.lock().is_empty());
    }
}
