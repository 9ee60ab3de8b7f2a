//! Starting executions, the scheduler that claims due ones, and one run of an execution.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wasmtime::component::Val;

use super::Replay;
use crate::clock::now_ms;
use crate::host::Host;
use crate::registry::Deployment;
use crate::registry::json::{self, ArgError};
use crate::runtime::failure::WorkflowInterrupt;
use crate::runtime::{CallContext, CallFailure, Target};
use crate::store::{
    Created, DEFAULT_TENANT, Execution, ExecutionStatus, ExecutionUpdate, Lease, NewExecution,
    StoreError,
};

/// How long a claimed execution stays this host's without renewal. A live host renews the
/// leases of its runs every [`LEASE_RENEWAL`]; the runs of a host that died are taken up by
/// any host (itself restarted, or another on the same database) once their lease runs out.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often a host renews the leases of the executions it runs.
pub const LEASE_RENEWAL: Duration = Duration::from_secs(5);
/// How often the scheduler looks for due executions (sooner when something is started).
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Workflow runs at once per host. Kept well under the instance slots, since each run's
/// steps need slots of their own.
pub const MAX_CONCURRENT_RUNS: usize = 32;

/// Why an execution could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no workflow named {0}")]
    NotFound(String),
    #[error(
        "{0} is a procedure, not a workflow: its component does not import tsdev:workflow/durable"
    )]
    NotAWorkflow(String),
    #[error("invalid arguments: {0}")]
    InvalidArgs(#[from] ArgError),
    #[error("idempotency key already used by execution {0} with other arguments")]
    IdempotencyConflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A started (or, for a repeated idempotency key, the existing) execution.
pub struct Started {
    pub id: String,
    pub existing: bool,
}

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

/// How a run comes to an execution.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// Created by this host, already running under its lease, with an empty journal.
    StartedHere,
    /// Claimed by the scheduler: pending, resumed after a crash, or due after a wait.
    Due,
}

fn lease_from(now: i64) -> i64 {
    now + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX)
}

fn update(
    status: ExecutionStatus,
    result: Option<Value>,
    error: Option<Value>,
    wake_at: Option<i64>,
) -> ExecutionUpdate {
    ExecutionUpdate {
        status,
        result: result.map(|v| v.to_string()),
        error: error.map(|v| v.to_string()),
        wake_at,
        now: now_ms(),
    }
}

fn failed(kind: &str, message: impl Into<String>) -> ExecutionUpdate {
    update(
        ExecutionStatus::Failed,
        None,
        Some(json!({ "kind": kind, "message": message.into() })),
        None,
    )
}

impl Host {
    /// Record a new execution of `workflow` with `args` and run it: at once when a run slot
    /// is free (created under this host's lease, no scheduler round trip), else when the
    /// scheduler claims it.
    pub async fn start_workflow(
        self: &Arc<Self>,
        workflow: &str,
        args: &Value,
        idempotency_key: Option<String>,
    ) -> Result<Started, StartError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.start_workflow_as(id, workflow, args, idempotency_key)
            .await
    }

    /// [`Host::start_workflow`] with the id a new execution gets.
    async fn start_workflow_as(
        self: &Arc<Self>,
        id: String,
        workflow: &str,
        args: &Value,
        idempotency_key: Option<String>,
    ) -> Result<Started, StartError> {
        let found = self
            .registry()
            .procedure(workflow)
            .ok_or_else(|| StartError::NotFound(workflow.to_string()))?;
        if !found.deployment.workflows {
            return Err(StartError::NotAWorkflow(workflow.to_string()));
        }
        json::args_from_json(&found.procedure().params, args)?;
        let slot = self.workflow_slots.clone().try_acquire_owned().ok();
        let created_at = now_ms();
        let new = NewExecution {
            id: id.clone(),
            tenant: DEFAULT_TENANT.to_string(),
            workflow: workflow.to_string(),
            component: found.deployment.name.clone(),
            component_version: found.deployment.version.clone(),
            args: args.to_string(),
            idempotency_key,
            created_at,
            lease: slot.as_ref().map(|_| Lease {
                owner: self.node_id.clone(),
                until: lease_from(created_at),
            }),
        };
        let created = self.store().create_execution(&new).await?;
        match created {
            Created::New => {
                match slot {
                    Some(slot) => {
                        self.spawn_run(started_here(new), Claim::StartedHere, slot);
                    }
                    None => self.workflow_wake.notify_one(),
                }
                Ok(Started {
                    id,
                    existing: false,
                })
            }
            Created::Existing(existing) => {
                let same = serde_json::from_str::<Value>(&existing.args).is_ok_and(|a| &a == args);
                if same {
                    Ok(Started {
                        id: existing.id,
                        existing: true,
                    })
                } else {
                    Err(StartError::IdempotencyConflict(existing.id))
                }
            }
        }
    }

    /// Start `workflow` and wait up to `wait` for it to finish. `Ok(None)` when it is still
    /// going (it goes on; follow it at `/v1/executions/{id}`).
    pub async fn run_workflow(
        self: &Arc<Self>,
        workflow: &str,
        args: &Value,
        idempotency_key: Option<String>,
        wait: Duration,
    ) -> Result<(String, Option<Finished>), StartError> {
        // Wait before starting, so that the end of a quick run is not missed.
        let id = uuid::Uuid::new_v4().to_string();
        let first = self.run_waiters.wait(&id);
        let started = self
            .start_workflow_as(id, workflow, args, idempotency_key)
            .await?;
        let deadline = tokio::time::Instant::now() + wait;
        // A new execution cannot have finished yet; an existing one may have long ago.
        let mut waiting = (!started.existing).then_some(first);
        loop {
            let waiter = match waiting.take() {
                Some(waiter) => waiter,
                None => {
                    // Wait, then look: an end in between is not missed.
                    let waiter = self.run_waiters.wait(&started.id);
                    let execution = self
                        .store()
                        .get_execution(DEFAULT_TENANT, &started.id)
                        .await?;
                    if let Some(execution) = execution.filter(|e| e.status.is_finished()) {
                        return Ok((started.id, Some(execution.into())));
                    }
                    waiter
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Ok((started.id, None));
            }
            // Wait for a local run of this execution to end, and look again at least every
            // second: the run may end on another host sharing the database.
            let recheck = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
            if let Ok(Some(finished)) = tokio::time::timeout_at(recheck, waiter.ended()).await {
                return Ok((started.id, Some(finished)));
            }
        }
    }

    /// Run the scheduler until the host is dropped: claim due executions, run each.
    pub fn spawn_scheduler(self: &Arc<Self>) {
        let renewer = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                let Some(host) = renewer.upgrade() else {
                    return;
                };
                let until = lease_from(now_ms());
                if let Err(e) = host.store().renew_leases(&host.node_id, until).await {
                    tracing::warn!("renewing workflow leases: {e}");
                }
            }
        });
        let host = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(strong) = host.upgrade() else { return };
                strong.claim_and_run().await;
                let wake = strong.clone();
                drop(strong);
                tokio::select! {
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = wake.workflow_wake.notified() => {}
                }
            }
        });
    }

    async fn claim_and_run(self: &Arc<Self>) {
        let free = self.workflow_slots.available_permits();
        if free == 0 {
            return;
        }
        let now = now_ms();
        let lease_until = lease_from(now);
        let claimed = match self
            .store()
            .claim_due(&self.node_id, now, lease_until, free as i64)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!("claiming due workflow executions: {e}");
                return;
            }
        };
        for execution in claimed {
            let Ok(slot) = self.workflow_slots.clone().try_acquire_owned() else {
                break;
            };
            self.spawn_run(execution, Claim::Due, slot);
        }
    }

    /// Run `execution` in a task holding `slot`, and tell waiters when the run ends.
    fn spawn_run(
        self: &Arc<Self>,
        execution: Execution,
        claim: Claim,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) {
        let host = self.clone();
        tokio::spawn(async move {
            let id = execution.id.clone();
            let finished = match host.clone().run(execution, claim).await {
                Ok(finished) => finished,
                Err(e) => {
                    tracing::warn!(execution = %id, "workflow run: {e}");
                    None
                }
            };
            drop(slot);
            host.run_waiters.ended(&id, finished);
        });
    }

    /// The deployment an execution is pinned to: the current one, or its old version
    /// loaded from the store (compiled once, then kept).
    async fn pinned_deployment(&self, execution: &Execution) -> Result<Arc<Deployment>, String> {
        if let Some(current) = self.registry().get(&execution.component)
            && current.version == execution.component_version
        {
            return Ok(current);
        }
        if let Some(old) = self.pinned_versions().get(&execution.component_version) {
            return Ok(old);
        }
        let wasm = self
            .store()
            .load_component_version(
                DEFAULT_TENANT,
                &execution.component,
                &execution.component_version,
            )
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "version {} of component {} is gone",
                    execution.component_version, execution.component
                )
            })?;
        let runtime = self.runtime().clone();
        let name = execution.component.clone();
        let deployment = tokio::task::spawn_blocking(move || {
            Deployment::prepare(
                &runtime,
                &name,
                &wasm,
                crate::limits::CallLimits::default(),
                0,
            )
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let deployment = Arc::new(deployment);
        self.pinned_versions()
            .insert(execution.component_version.clone(), deployment.clone());
        Ok(deployment)
    }

    /// Run `execution` once: replay its journal, go on from there, and record where it
    /// ended; where it finished, if it did.
    async fn run(
        self: Arc<Self>,
        execution: Execution,
        claim: Claim,
    ) -> Result<Option<Finished>, StoreError> {
        let id = execution.id.clone();
        let owner = self.node_id.clone();
        let store = self.store_arc();
        let end = match self.replay_and_go_on(&execution, claim).await? {
            Some(end) => end,
            None => return Ok(None),
        };
        tracing::info!(execution = %id, workflow = %execution.workflow, status = end.status.as_str(), "workflow run ended");
        store.update_execution(&id, &owner, &end).await?;
        Ok(end.status.is_finished().then_some(Finished {
            status: end.status,
            result: end.result,
            error: end.error,
        }))
    }

    /// The part of [`Host::run`] up to its last update: the update, or none when the run
    /// has already recorded where it stands (a wait for a signal, a lost lease).
    async fn replay_and_go_on(
        self: &Arc<Self>,
        execution: &Execution,
        claim: Claim,
    ) -> Result<Option<ExecutionUpdate>, StoreError> {
        let id = execution.id.clone();
        let owner = self.node_id.clone();
        let store = self.store_arc();
        let deployment = match self.pinned_deployment(execution).await {
            Ok(deployment) => deployment,
            Err(message) => return Ok(Some(failed("component-unavailable", message))),
        };
        let Some(procedure) = deployment
            .procedures
            .iter()
            .find(|p| p.name == execution.workflow)
        else {
            let message = format!(
                "version {} of {} has no {}",
                deployment.version, deployment.name, execution.workflow
            );
            return Ok(Some(failed("not-found", message)));
        };
        let args: Value = serde_json::from_str(&execution.args).unwrap_or(Value::Null);
        let params = match json::args_from_json(&procedure.params, &args) {
            Ok(params) => params,
            Err(e) => return Ok(Some(failed("invalid-args", e.to_string()))),
        };
        let journal = match claim {
            Claim::StartedHere => Vec::new(),
            Claim::Due => {
                let journal = store.load_journal(&id).await?;
                if execution.status != ExecutionStatus::Running {
                    let running = update(ExecutionStatus::Running, None, None, None);
                    store.update_execution(&id, &owner, &running).await?;
                }
                journal
            }
        };
        let replay = Replay {
            host: self.clone(),
            execution_id: id.clone(),
            owner: owner.clone(),
            journal,
            cursor: 0,
            position: Default::default(),
            created_at: execution.created_at,
            durable_time: Default::default(),
        };
        let target = Target {
            pre: &deployment.pre,
            export: &procedure.export,
            procedure: &procedure.name,
            result_count: usize::from(procedure.result.is_some()),
        };
        let context = CallContext {
            request_id: id.clone(),
            idempotency_key: None,
        };
        let outcome = self
            .runtime()
            .invoke(target, &params, procedure.limits(), &context, Some(replay))
            .await;
        let end = match outcome {
            Ok(results) => match results.into_iter().next() {
                None => update(ExecutionStatus::Completed, Some(Value::Null), None, None),
                Some(Val::Result(Ok(payload))) => update(
                    ExecutionStatus::Completed,
                    Some(payload.as_deref().map_or(Value::Null, json::to_json)),
                    None,
                    None,
                ),
                Some(Val::Result(Err(payload))) => {
                    let error = payload.as_deref().map_or(Value::Null, json::to_json);
                    update(
                        ExecutionStatus::Failed,
                        None,
                        Some(json!({ "kind": "workflow-error", "error": error })),
                        None,
                    )
                }
                Some(value) => update(
                    ExecutionStatus::Completed,
                    Some(json::to_json(&value)),
                    None,
                    None,
                ),
            },
            Err(CallFailure::Interrupted(WorkflowInterrupt::Suspend { wake_at })) => {
                update(ExecutionStatus::Sleeping, None, None, Some(wake_at))
            }
            Err(CallFailure::Interrupted(WorkflowInterrupt::WaitSignal { name, wake_at })) => {
                store
                    .update_execution(
                        &id,
                        &owner,
                        &update(ExecutionStatus::Waiting, None, None, wake_at),
                    )
                    .await?;
                // A signal sent while this run was still going has found it not yet waiting.
                store.wake_if_signalled(&id, &name, now_ms()).await?;
                return Ok(None);
            }
            Err(CallFailure::Interrupted(WorkflowInterrupt::Journal(message))) => {
                // Most likely the lease went to another host; it carries on from the journal.
                tracing::warn!(execution = %id, "stopping a run that cannot journal: {message}");
                return Ok(None);
            }
            Err(CallFailure::Interrupted(WorkflowInterrupt::Limit { kind, message })) => {
                failed(kind, message)
            }
            Err(CallFailure::Interrupted(interrupt @ WorkflowInterrupt::NonDeterminism { .. })) => {
                failed("non-determinism", interrupt.to_string())
            }
            Err(failure) => failed(failure.kind(), failure.to_string()),
        };
        Ok(Some(end))
    }
}

/// The stored form of an execution this host has just created under its own lease.
fn started_here(new: NewExecution) -> Execution {
    let (lease_owner, lease_expires_at) = new.lease.map(|l| (l.owner, l.until)).unzip();
    Execution {
        id: new.id,
        tenant: new.tenant,
        workflow: new.workflow,
        component: new.component,
        component_version: new.component_version,
        args: new.args,
        idempotency_key: new.idempotency_key,
        status: ExecutionStatus::Running,
        result: None,
        error: None,
        wake_at: None,
        lease_owner,
        lease_expires_at,
        created_at: new.created_at,
        updated_at: new.created_at,
    }
}
