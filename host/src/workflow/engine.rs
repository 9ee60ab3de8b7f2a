//! The workflow engine: it owns everything about workflows on this node (the scheduler
//! and its lease renewals, run slots, the callers waiting for runs to end, the cache of
//! pinned old versions) and every workflow operation: start, run, schedule, cancel,
//! signal, read executions and their journals.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use serde_json::{Value, json};

use super::imports;
use super::interrupt::WorkflowInterrupt;
use super::replay::Replay;
use super::waiters::{Finished, RunWaiter, RunWaiters};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::registry::Deployment;
use crate::registry::json::{self, ArgError};
use crate::runtime::{CallContext, CallFailure, ImportsHook, Target};
use crate::store::{
    Created, Execution, ExecutionFilter, ExecutionStatus, ExecutionUpdate, FIRST_EPOCH, Holder,
    JournalEntry, Lease, NewExecution, Node, Notice, SignalSent, StoreError, UnfinishedQuota,
};
use crate::telemetry::traces::TraceSpan;

/// The imports workflows need, for [`Host::open`]: every component is linked with them.
pub const IMPORTS: &[ImportsHook] = &[imports::add_to_linker];

/// How long a claimed execution stays this node's without renewal, when nodes share the
/// database (PostgreSQL). A live node renews the leases of its runs three times a lease;
/// the runs of a node that died are taken up by another node once their lease runs out,
/// within a [`POLL_INTERVAL`] after: a kill -9 stalls runs for under 2 s. A node that
/// loses a lease while alive (frozen, starved) is fenced off: see [`crate::store::Holder`].
pub(crate) const SHARED_LEASE: Duration = Duration::from_millis(1_500);
/// The lease on SQLite, whose one process is the only node: only a stall of the node
/// itself could outlast a lease there, so it is long; a restarted node hands back every
/// lease of its dead predecessor at start.
pub(crate) const SOLE_LEASE: Duration = Duration::from_secs(15);
/// How often a node records that it is alive (`GET /v1/nodes`) and learns whether it was
/// told to drain.
pub(crate) const NODE_BEAT: Duration = Duration::from_secs(1);
/// On a graceful stop, how long to wait for the runs just told to end to let go of their
/// slots before their leases are handed back anyway.
pub(crate) const STOP_WAIT: Duration = Duration::from_secs(5);
/// A node that has not beaten for this long is no longer listed.
pub(crate) const NODE_LISTED_FOR: Duration = Duration::from_secs(60);
/// How often the scheduler looks for due executions (sooner when something is started).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Workflow runs at once per host. Kept well under the instance slots, since each run's
/// steps need slots of their own.
pub(crate) const MAX_CONCURRENT_RUNS: usize = 32;
/// Old component versions kept compiled for the executions pinned to them; the least
/// recently used one is dropped past this (and compiled again when needed).
pub(crate) const MAX_PINNED_VERSIONS: u64 = 16;
/// Event streams (`GET /v1/executions/{id}/events`) open at once per host; past it a new
/// stream is refused with 503 `busy`.
pub(crate) const MAX_EVENT_STREAMS: usize = 256;

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
    /// The workflow's component was replaced by another node as this one started it.
    #[error("the workflow's component was replaced meanwhile; start it again")]
    VersionGone,
    /// The tenant is at a quota of its unfinished executions (`running_executions` or
    /// `journal_bytes`).
    #[error("{detail}")]
    Quota { quota: &'static str, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A started (or, for a repeated idempotency key, the existing) execution.
pub struct Started {
    pub id: String,
    pub existing: bool,
}

/// How a run comes to an execution.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// Created by this host, already running under its lease, with an empty journal.
    StartedHere,
    /// Claimed by the scheduler: pending, resumed after a crash, or due after a wait.
    Due,
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

fn failed(kind: ErrorKind, message: impl Into<String>) -> ExecutionUpdate {
    update(
        ExecutionStatus::Failed,
        None,
        Some(json!({ "kind": kind, "message": message.into() })),
        None,
    )
}

/// The cache of old component versions kept compiled for pinned executions: at most
/// [`MAX_PINNED_VERSIONS`], keyed by tenant, component and version (the same bytes may be
/// deployed with other limits under another name or tenant).
fn pinned_versions<V: Clone + Send + Sync + 'static>()
-> moka::sync::Cache<(String, String, String), V> {
    moka::sync::Cache::new(MAX_PINNED_VERSIONS)
}

/// Workflows on one node, over its [`Host`].
pub struct WorkflowEngine {
    host: Arc<Host>,
    /// This node's name as a lease owner of workflow executions.
    node_id: String,
    /// Wakes the scheduler before its next poll.
    wake: tokio::sync::Notify,
    /// Workflow runs at once.
    slots: Arc<tokio::sync::Semaphore>,
    /// Callers waiting for runs of particular executions to end.
    waiters: RunWaiters,
    /// Old component versions that executions are pinned to, by (tenant, component,
    /// version), compiled on first use.
    pinned: moka::sync::Cache<(String, String, String), Arc<Deployment>>,
    /// Event streams open now.
    event_streams: Arc<tokio::sync::Semaphore>,
    /// Told to drain, or stopping: claims nothing, starts nothing here.
    draining: AtomicBool,
    /// Set when the node stops: its runs in progress end where they are.
    stopping: tokio::sync::watch::Sender<bool>,
    /// When this node started (database time).
    started_at: i64,
    /// How long its claims last: [`SHARED_LEASE`] or [`SOLE_LEASE`].
    lease: Duration,
}

impl WorkflowEngine {
    /// The engine of `host`, whose runtime must have been made with [`IMPORTS`]. Nothing
    /// runs until [`WorkflowEngine::spawn_scheduler`].
    pub fn new(host: Arc<Host>) -> Arc<WorkflowEngine> {
        Arc::new(WorkflowEngine {
            node_id: format!("node-{}", uuid::Uuid::new_v4().simple()),
            wake: tokio::sync::Notify::new(),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_RUNS)),
            waiters: RunWaiters::default(),
            pinned: pinned_versions(),
            event_streams: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS)),
            draining: AtomicBool::new(false),
            stopping: tokio::sync::watch::Sender::new(false),
            started_at: now_ms(),
            lease: if host.store().notices().is_some() {
                SHARED_LEASE
            } else {
                SOLE_LEASE
            },
            host,
        })
    }

    /// When a lease taken `now` lapses.
    fn lease_from(&self, now: i64) -> i64 {
        now.saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX))
    }

    /// This node's id: the lease owner of the executions it runs.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The node is stopping ([`WorkflowEngine::stop`]): it starts nothing more.
    pub(crate) fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// The host this engine runs on.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// Record a new execution of `workflow` with `args` and run it: at once when a run slot
    /// is free (created under this host's lease, no scheduler round trip), else when the
    /// scheduler claims it.
    pub async fn start_workflow(
        self: &Arc<Self>,
        tenant: &str,
        workflow: &str,
        args: &Value,
        idempotency_key: Option<String>,
    ) -> Result<Started, StartError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.start_workflow_as(id, tenant, workflow, args, idempotency_key)
            .await
    }

    /// [`WorkflowEngine::start_workflow`] with the id a new execution gets. A workflow this
    /// node does not know, or whose version another node has just replaced, is looked for
    /// again after following the store.
    async fn start_workflow_as(
        self: &Arc<Self>,
        id: String,
        tenant: &str,
        workflow: &str,
        args: &Value,
        idempotency_key: Option<String>,
    ) -> Result<Started, StartError> {
        let first = self
            .try_start(id.clone(), tenant, workflow, args, idempotency_key.clone())
            .await;
        match first {
            Err(StartError::NotFound(_)) | Err(StartError::VersionGone) => {
                self.host.sync_from_store(Some(tenant)).await?;
                self.try_start(id, tenant, workflow, args, idempotency_key)
                    .await
            }
            other => other,
        }
    }

    async fn try_start(
        self: &Arc<Self>,
        id: String,
        tenant: &str,
        workflow: &str,
        args: &Value,
        idempotency_key: Option<String>,
    ) -> Result<Started, StartError> {
        let found = self
            .host
            .registry(tenant)
            .procedure(workflow)
            .ok_or_else(|| StartError::NotFound(workflow.to_string()))?;
        if !found.deployment.workflows {
            return Err(StartError::NotAWorkflow(workflow.to_string()));
        }
        json::args_from_json(&found.procedure().params, args)?;
        // Counted by the store in the statement that records the execution.
        let quotas = self.host.tenants().quotas(tenant);
        // A draining node leaves new executions to the others.
        let slot = match self.draining.load(Ordering::SeqCst) {
            true => None,
            false => self.slots.clone().try_acquire_owned().ok(),
        };
        let created_at = now_ms();
        // The start is a span of the caller's trace (the request's); every run of the
        // execution continues it from the traceparent stored with it.
        let start = TraceSpan::child(SpanKind::Internal, || {
            (
                format!("start {workflow}"),
                vec![
                    KeyValue::new("tsdev.tenant", tenant.to_string()),
                    KeyValue::new("tsdev.workflow", workflow.to_string()),
                    KeyValue::new("tsdev.execution", id.clone()),
                ],
            )
        });
        let trace_parent = start.traceparent();
        let new = NewExecution {
            id: id.clone(),
            tenant: tenant.to_string(),
            workflow: workflow.to_string(),
            component: found.deployment.name.clone(),
            component_version: found.deployment.version.clone(),
            args: args.to_string(),
            idempotency_key,
            created_at,
            lease: slot.as_ref().map(|_| Lease {
                owner: self.node_id.clone(),
                until: self.lease_from(created_at),
            }),
            max_unfinished: quotas.running_executions,
            max_journal_bytes: quotas.journal_bytes,
            trace_parent,
        };
        let created = self.host.store().create_execution(&new).await?;
        match created {
            Created::New => {
                match slot {
                    Some(slot) => {
                        self.spawn_run(started_here(new), Claim::StartedHere, slot);
                    }
                    None => self.wake.notify_one(),
                }
                Ok(Started {
                    id,
                    existing: false,
                })
            }
            Created::VersionGone => Err(StartError::VersionGone),
            Created::AtQuota(UnfinishedQuota::Executions) => Err(StartError::Quota {
                quota: "running_executions",
                detail: format!(
                    "the tenant has {} unfinished executions, its quota; retry when some end",
                    quotas.running_executions
                ),
            }),
            Created::AtQuota(UnfinishedQuota::JournalBytes) => Err(StartError::Quota {
                quota: "journal_bytes",
                detail: format!(
                    "the journals of the tenant's unfinished executions hold {} bytes or more, its quota; retry when some end",
                    quotas.journal_bytes
                ),
            }),
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
        tenant: &str,
        workflow: &str,
        args: &Value,
        idempotency_key: Option<String>,
        wait: Duration,
    ) -> Result<(String, Option<Finished>), StartError> {
        // Wait before starting, so that the end of a quick run is not missed.
        let id = uuid::Uuid::new_v4().to_string();
        let first = self.waiters.wait(&id);
        let started = self
            .start_workflow_as(id, tenant, workflow, args, idempotency_key)
            .await?;
        let deadline = tokio::time::Instant::now() + wait;
        // A new execution cannot have finished yet; an existing one may have long ago.
        let mut waiting = (!started.existing).then_some(first);
        loop {
            let waiter = match waiting.take() {
                Some(waiter) => waiter,
                None => {
                    // Wait, then look: an end in between is not missed.
                    let waiter = self.waiters.wait(&started.id);
                    let execution = self.host.store().get_execution(tenant, &started.id).await?;
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

    /// Run the scheduler until the engine is dropped: claim due executions, run each; renew
    /// the leases of runs; beat as a node serving at `address`; hear other nodes' notices.
    pub fn spawn_scheduler(self: &Arc<Self>, address: &str) {
        self.spawn_beat(address.to_string());
        self.spawn_notice_listener();
        if self.lease == SOLE_LEASE {
            // The only node: any lease held is its dead predecessor's.
            let engine = self.clone();
            tokio::spawn(async move {
                match engine
                    .host
                    .store()
                    .release_others_leases(&engine.node_id)
                    .await
                {
                    Ok(0) => {}
                    Ok(released) => {
                        tracing::info!(released, "resuming the runs of the previous start")
                    }
                    Err(e) => tracing::warn!("handing back the previous start's leases: {e}"),
                }
                engine.wake.notify_one();
            });
        }
        let renewer = Arc::downgrade(self);
        let renewal = self.lease / 3;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(renewal).await;
                let Some(engine) = renewer.upgrade() else {
                    return;
                };
                let until = engine.lease_from(now_ms());
                if let Err(e) = engine
                    .host
                    .store()
                    .renew_leases(&engine.node_id, until)
                    .await
                {
                    tracing::warn!("renewing workflow leases: {e}");
                }
            }
        });
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(strong) = engine.upgrade() else {
                    return;
                };
                strong.claim_and_run().await;
                let wake = strong.clone();
                drop(strong);
                tokio::select! {
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = wake.wake.notified() => {}
                }
            }
        });
    }

    /// Beat every [`NODE_BEAT`], and learn whether this node was told to drain.
    fn spawn_beat(self: &Arc<Self>, address: String) {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                let beat = engine
                    .host
                    .store()
                    .beat(&engine.node_id, &address, engine.started_at, now_ms())
                    .await;
                match beat {
                    Ok(true) if !engine.draining.swap(true, Ordering::SeqCst) => {
                        tracing::info!(node = %engine.node_id, "told to drain: claiming no new executions");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("recording this node's heartbeat: {e}"),
                }
                drop(engine);
                tokio::time::sleep(NODE_BEAT).await;
            }
        });
    }

    /// Hear other nodes (PostgreSQL): a run that ended elsewhere tells the callers waiting
    /// for it here; an execution that became due wakes the scheduler.
    fn spawn_notice_listener(self: &Arc<Self>) {
        let Some(mut notices) = self.host.store().notices() else {
            return;
        };
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let notice = notices.recv().await;
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                match notice {
                    Ok(Notice::ExecutionFinished(id)) => engine.waiters.ended(&id, None),
                    Ok(Notice::Due(_) | Notice::Missed) => engine.wake.notify_one(),
                    Ok(Notice::ComponentsChanged(_) | Notice::KeysChanged) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        engine.wake.notify_one();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Stop gracefully: claim and start nothing more, end the runs in progress where they
    /// are (what they journaled stays; a step in flight runs again, as after a crash), and
    /// hand back their leases, so that other nodes resume them at once rather than after
    /// a lease. How many leases were handed back.
    pub async fn stop(&self) -> Result<u64, StoreError> {
        self.draining.store(true, Ordering::SeqCst);
        self.stopping.send_replace(true);
        let all = u32::try_from(MAX_CONCURRENT_RUNS).unwrap_or(u32::MAX);
        // Every slot free: every run has ended (each drops its slot as it ends).
        let _ = tokio::time::timeout(STOP_WAIT, self.slots.acquire_many(all)).await;
        let store = self.host.store();
        let released = store.release_leases(&self.node_id).await?;
        store.stopped(&self.node_id, now_ms()).await?;
        tracing::info!(node = %self.node_id, released, "stopped: leases handed back");
        Ok(released)
    }

    /// The nodes sharing the store (this one too) that beat within [`NODE_LISTED_FOR`].
    pub async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        let window = i64::try_from(NODE_LISTED_FOR.as_millis()).unwrap_or(i64::MAX);
        self.host
            .store()
            .list_nodes(now_ms().saturating_sub(window))
            .await
    }

    /// Tell node `id` to drain (it learns at its next beat); false when there is none.
    pub async fn drain(&self, id: &str) -> Result<bool, StoreError> {
        self.host.store().drain_node(id).await
    }

    async fn claim_and_run(self: &Arc<Self>) {
        if self.draining.load(Ordering::SeqCst) {
            return;
        }
        let free = self.slots.available_permits();
        if free == 0 {
            return;
        }
        let now = now_ms();
        let lease_until = self.lease_from(now);
        let claimed = match self
            .host
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
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            self.spawn_run(execution, Claim::Due, slot);
        }
    }

    /// Whose writes the store accepts for `execution`, claimed this way.
    fn holder(&self, execution: &Execution, claim: Claim) -> Holder {
        match claim {
            Claim::StartedHere => Holder {
                owner: self.node_id.clone(),
                epoch: FIRST_EPOCH,
            },
            Claim::Due => execution.holder().unwrap_or_else(|| Holder {
                owner: self.node_id.clone(),
                epoch: execution.lease_epoch,
            }),
        }
    }

    /// Run `execution` in a task holding `slot`, and tell waiters when the run ends.
    fn spawn_run(
        self: &Arc<Self>,
        execution: Execution,
        claim: Claim,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) {
        let engine = self.clone();
        let mut stopping = self.stopping.subscribe();
        let span = TraceSpan::continuing(
            execution.trace_parent.as_deref(),
            SpanKind::Internal,
            || {
                (
                    format!("run {}", execution.workflow),
                    vec![
                        KeyValue::new("tsdev.tenant", execution.tenant.clone()),
                        KeyValue::new("tsdev.workflow", execution.workflow.clone()),
                        KeyValue::new("tsdev.execution", execution.id.clone()),
                    ],
                )
            },
        );
        tokio::spawn(async move {
            let id = execution.id.clone();
            let run = span.around(engine.run(execution, claim));
            let finished = tokio::select! {
                ran = run => match ran {
                    Ok(finished) => finished,
                    Err(e) => {
                        tracing::warn!(execution = %id, "workflow run: {e}");
                        None
                    }
                },
                // Dropping the run stops its guest call where it is.
                _ = stopping.wait_for(|stopping| *stopping) => None,
            };
            drop(slot);
            engine.waiters.ended(&id, finished);
        });
    }

    /// The deployment an execution is pinned to: the current one, or its old version
    /// loaded from the store with the limits it was deployed with (compiled once, then
    /// kept among the last [`MAX_PINNED_VERSIONS`]).
    async fn pinned_deployment(&self, execution: &Execution) -> Result<Arc<Deployment>, String> {
        let current = || {
            self.host
                .registry(&execution.tenant)
                .get(&execution.component)
                .filter(|current| current.version == execution.component_version)
        };
        if let Some(current) = current() {
            return Ok(current);
        }
        // Perhaps deployed by another node and not followed yet: follow it now (or wait
        // for the sync compiling it), rather than compile it a second time.
        if let Err(e) = self.host.sync_from_store(Some(&execution.tenant)).await {
            tracing::warn!(tenant = %execution.tenant, "looking for newly deployed components: {e}");
        }
        if let Some(current) = current() {
            return Ok(current);
        }
        let key = (
            execution.tenant.clone(),
            execution.component.clone(),
            execution.component_version.clone(),
        );
        if let Some(old) = self.pinned.get(&key) {
            return Ok(old);
        }
        let (wasm, limits) = self
            .host
            .store()
            .load_component_version(
                &execution.tenant,
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
        let (deployment, _) = self
            .host
            .prepare(execution.component.clone(), wasm, limits, 0)
            .await
            .map_err(|e| e.to_string())?;
        let deployment = Arc::new(deployment);
        self.pinned.insert(key, deployment.clone());
        Ok(deployment)
    }

    /// Run `execution` once: replay its journal, go on from there, and record where it
    /// ended; where it finished, if it did.
    async fn run(
        self: &Arc<Self>,
        execution: Execution,
        claim: Claim,
    ) -> Result<Option<Finished>, StoreError> {
        let id = execution.id.clone();
        let holder = self.holder(&execution, claim);
        let store = self.host.store();
        let end = match self.replay_and_go_on(&execution, claim, &holder).await? {
            Some(end) => end,
            None => return Ok(None),
        };
        tracing::info!(execution = %id, workflow = %execution.workflow, status = end.status.as_str(), "workflow run ended");
        TraceSpan::current().set("tsdev.status", end.status.as_str());
        crate::metrics::metrics()
            .workflow_runs
            .get_or_create(&crate::metrics::StatusLabels {
                status: end.status.as_str().to_string(),
            })
            .inc();
        store.update_execution(&id, &holder, &end).await?;
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
        holder: &Holder,
    ) -> Result<Option<ExecutionUpdate>, StoreError> {
        let id = execution.id.clone();
        let store = self.host.store();
        let deployment = match self.pinned_deployment(execution).await {
            Ok(deployment) => deployment,
            Err(message) => {
                return Ok(Some(failed(ErrorKind::ComponentUnavailable, message)));
            }
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
            return Ok(Some(failed(ErrorKind::NotFound, message)));
        };
        let args: Value = serde_json::from_str(&execution.args).unwrap_or(Value::Null);
        let params = match json::args_from_json(&procedure.params, &args) {
            Ok(params) => params,
            Err(e) => return Ok(Some(failed(ErrorKind::InvalidArgs, e.to_string()))),
        };
        let journal = match claim {
            Claim::StartedHere => Vec::new(),
            Claim::Due => {
                let journal = store.load_journal(&id, 0).await?;
                if execution.status != ExecutionStatus::Running {
                    let running = update(ExecutionStatus::Running, None, None, None);
                    store.update_execution(&id, holder, &running).await?;
                }
                journal
            }
        };
        let replay = Replay {
            host: self.host.clone(),
            tenant: execution.tenant.clone(),
            execution_id: id.clone(),
            holder: holder.clone(),
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
        let context = CallContext::new(id.clone(), None);
        let outcome = self
            .host
            .runtime()
            .invoke(
                target,
                &params,
                procedure.limits(),
                &context,
                Some(Box::new(replay)),
                // The run's own fuel is the tenant's too (its steps draw theirs as calls).
                Some(self.host.tenants().workflow_account(&execution.tenant)),
            )
            .await;
        let end = match outcome {
            Ok(results) => match json::returned(results) {
                Ok(result) => update(ExecutionStatus::Completed, Some(result), None, None),
                Err(error) => update(
                    ExecutionStatus::Failed,
                    None,
                    Some(json!({ "kind": ErrorKind::WorkflowError, "error": error })),
                    None,
                ),
            },
            Err(CallFailure::Interrupted(error)) => {
                let Ok(interrupt) = error.downcast::<WorkflowInterrupt>() else {
                    return Ok(Some(failed(
                        ErrorKind::Internal,
                        "the run stopped unexpectedly",
                    )));
                };
                match interrupt {
                    WorkflowInterrupt::Suspend { wake_at } => {
                        update(ExecutionStatus::Sleeping, None, None, Some(wake_at))
                    }
                    WorkflowInterrupt::WaitSignal { name, wake_at } => {
                        store
                            .update_execution(
                                &id,
                                holder,
                                &update(ExecutionStatus::Waiting, None, None, wake_at),
                            )
                            .await?;
                        // A signal sent while this run was still going found it not yet
                        // waiting.
                        store.wake_if_signalled(&id, &name, now_ms()).await?;
                        return Ok(None);
                    }
                    WorkflowInterrupt::Journal(message) => {
                        // Most likely the lease went to another host; it carries on from
                        // the journal.
                        tracing::warn!(execution = %id, "stopping a run that cannot journal: {message}");
                        return Ok(None);
                    }
                    WorkflowInterrupt::Limit { kind, message } => failed(kind, message),
                    interrupt @ WorkflowInterrupt::NonDeterminism { .. } => {
                        failed(ErrorKind::NonDeterminism, interrupt.to_string())
                    }
                }
            }
            Err(failure) => failed(failure.kind(), failure.to_string()),
        };
        Ok(Some(end))
    }
}

/// What [`WorkflowEngine::cancel`] did.
#[derive(Debug)]
pub enum Cancelled {
    /// Cancelled now; the execution as it stands.
    Now(Box<Execution>),
    /// It had finished before; as it ended.
    AlreadyFinished(Box<Execution>),
    NotFound,
}

/// The operations on executions that callers (the HTTP API) use.
impl WorkflowEngine {
    /// An execution of `tenant`.
    pub async fn execution(&self, tenant: &str, id: &str) -> Result<Option<Execution>, StoreError> {
        self.host.store().get_execution(tenant, id).await
    }

    /// An execution's journal entries after sequence `after` (0: all). The caller has
    /// found the execution in its tenant first.
    pub async fn journal(&self, id: &str, after: i64) -> Result<Vec<JournalEntry>, StoreError> {
        self.host.store().load_journal(id, after).await
    }

    /// Executions of the filter's tenant, newest first.
    pub async fn list(&self, filter: &ExecutionFilter) -> Result<Vec<Execution>, StoreError> {
        self.host.store().list_executions(filter).await
    }

    /// Cancel an unfinished execution, whoever runs it: its run finds its lease gone and
    /// stops at its next durable call.
    pub async fn cancel(&self, tenant: &str, id: &str) -> Result<Cancelled, StoreError> {
        let store = self.host.store();
        let cancelled = store.cancel_execution(tenant, id, now_ms()).await?;
        Ok(match store.get_execution(tenant, id).await? {
            None => Cancelled::NotFound,
            Some(execution) if cancelled => Cancelled::Now(Box::new(execution)),
            Some(execution) => Cancelled::AlreadyFinished(Box::new(execution)),
        })
    }

    /// Send signal `name` with a JSON `payload` to an execution, and wake the scheduler.
    pub async fn signal(
        &self,
        tenant: &str,
        id: &str,
        name: &str,
        payload: &str,
    ) -> Result<SignalSent, StoreError> {
        let sent = self
            .host
            .store()
            .send_signal(tenant, id, name, payload, now_ms())
            .await?;
        if sent == SignalSent::Sent {
            self.wake.notify_one();
        }
        Ok(sent)
    }

    /// Wait for the end of a run of `id` on this node. Take the waiter before looking at
    /// the execution, so that an end in between is not missed.
    pub fn run_end(&self, id: &str) -> RunWaiter {
        self.waiters.wait(id)
    }

    /// A place for one more event stream, while it is held; None when
    /// [`MAX_EVENT_STREAMS`] are open.
    pub fn event_stream_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.event_streams.clone().try_acquire_owned().ok()
    }
}

/// The stored form of an execution this host has just created under its own lease.
fn started_here(new: NewExecution) -> Execution {
    let (lease_owner, lease_expires_at) = new.lease.map(|l| (l.owner, l.until)).unzip();
    let lease_epoch = if lease_owner.is_some() {
        FIRST_EPOCH
    } else {
        0
    };
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
        lease_epoch,
        created_at: new.created_at,
        updated_at: new.created_at,
        trace_parent: new.trace_parent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_versions_are_bounded_and_keyed_by_tenant_component_and_version() {
        let cache = pinned_versions::<u32>();
        let key = |t: &str, c: &str, v: &str| (t.to_string(), c.to_string(), v.to_string());
        cache.insert(key("t", "a", "v1"), 1);
        cache.insert(key("t", "b", "v1"), 2);
        cache.insert(key("u", "a", "v1"), 3);
        assert_eq!(cache.get(&key("t", "a", "v1")), Some(1));
        assert_eq!(cache.get(&key("t", "b", "v1")), Some(2));
        assert_eq!(cache.get(&key("u", "a", "v1")), Some(3));

        for n in 0..(4 * MAX_PINNED_VERSIONS as u32) {
            cache.insert(key("t", "c", &format!("v{n}")), n);
        }
        cache.run_pending_tasks();
        assert!(
            cache.entry_count() <= MAX_PINNED_VERSIONS,
            "{} entries kept",
            cache.entry_count()
        );
    }
}
