//! The host as a service: deploy, undeploy and call, over the runtime, the registry and
//! the store. HTTP handlers and tests use this; it knows nothing of HTTP.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use wasmtime::component::Val;

use crate::clock::now_ms;
use crate::limits::CallLimits;
use crate::registry::json::{self, ArgError};
use crate::registry::{DeployError, Deployment, ProcedureRef, Registry};
use crate::runtime::invoke::result_body;
use crate::runtime::{CallContext, CallFailure, Runtime, Target};
use crate::store::{self, DEFAULT_TENANT, Store, StoreError, StoredComponent};

/// Where the host keeps its state.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Data directory: the embedded database and the compiled-component cache.
    pub data_dir: PathBuf,
    /// A database URL instead of the embedded SQLite database.
    pub database_url: Option<String>,
}

/// Why a deploy failed: the component, or the host's store.
#[derive(Debug, thiserror::Error)]
pub enum DeployFailure {
    #[error(transparent)]
    Component(#[from] DeployError),
    #[error("the component could not be saved: {0}")]
    Store(#[from] StoreError),
    #[error("compilation stopped unexpectedly: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Why a call did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no procedure named {0}")]
    NotFound(String),
    #[error("invalid arguments: {0}")]
    InvalidArgs(#[from] ArgError),
    /// The procedure returned the `err` case of its top-level `result`.
    #[error("the procedure returned an error")]
    ProcedureError(Value),
    #[error(transparent)]
    Failure(#[from] CallFailure),
}

/// A successful call: the JSON result, already serialised and size-checked.
pub struct CallOutput {
    pub body: Vec<u8>,
}

/// Runtime, registry and store of one host process.
pub struct Host {
    runtime: Runtime,
    registry: Registry,
    store: Arc<dyn Store>,
    /// Deploys and removals run one at a time, so the conflict check and the swap agree.
    deploy_lock: tokio::sync::Mutex<()>,
    /// This host's name as a lease owner of workflow executions.
    pub(crate) node_id: String,
    /// Wakes the workflow scheduler before its next poll.
    pub(crate) workflow_wake: tokio::sync::Notify,
    /// Workflow runs at once.
    pub(crate) workflow_slots: Arc<tokio::sync::Semaphore>,
    /// Callers waiting for runs of particular executions to end.
    pub(crate) run_waiters: crate::workflow::waiters::RunWaiters,
    /// Old component versions that executions are pinned to, compiled on first use.
    pinned: std::sync::Mutex<std::collections::HashMap<String, Arc<Deployment>>>,
}

/// The pinned-version cache, locked.
pub(crate) struct PinnedVersions<'a>(
    std::sync::MutexGuard<'a, std::collections::HashMap<String, Arc<Deployment>>>,
);

impl PinnedVersions<'_> {
    pub(crate) fn get(&self, version: &str) -> Option<Arc<Deployment>> {
        self.0.get(version).cloned()
    }

    pub(crate) fn insert(&mut self, version: String, deployment: Arc<Deployment>) {
        self.0.insert(version, deployment);
    }
}

impl Host {
    /// Open the store, then compile and register every stored component. A component that
    /// no longer loads is logged and skipped, so one bad component cannot keep a host down.
    pub async fn open(config: &HostConfig) -> anyhow::Result<Arc<Host>> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "creating the data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
        let store = store::open(config.database_url.as_deref(), &config.data_dir).await?;
        let runtime = Runtime::new(Some(config.data_dir.join("compiled")))?;
        let host = Arc::new(Host {
            runtime,
            registry: Registry::default(),
            store,
            deploy_lock: tokio::sync::Mutex::new(()),
            node_id: format!("host-{}", uuid::Uuid::new_v4()),
            workflow_wake: tokio::sync::Notify::new(),
            workflow_slots: Arc::new(tokio::sync::Semaphore::new(
                crate::workflow::engine::MAX_CONCURRENT_RUNS,
            )),
            pinned: std::sync::Mutex::new(std::collections::HashMap::new()),
            run_waiters: Default::default(),
        });
        for stored in host.store.load_components(DEFAULT_TENANT).await? {
            let name = stored.name.clone();
            match host
                .prepare(stored.name, stored.wasm, stored.limits, stored.deployed_at)
                .await
            {
                Ok((deployment, _)) => {
                    if let Err(e) = host.registry.install(Arc::new(deployment)) {
                        tracing::error!(component = %name, "not loaded: {e}");
                    }
                }
                Err(e) => tracing::error!(component = %name, "not loaded: {e}"),
            }
        }
        tracing::info!(components = host.registry.list().len(), "registry loaded");
        Ok(host)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn store_arc(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    pub(crate) fn pinned_versions(&self) -> PinnedVersions<'_> {
        PinnedVersions(
            self.pinned
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Compile on a blocking thread; hands the bytes back for storing.
    async fn prepare(
        &self,
        name: String,
        wasm: Vec<u8>,
        limits: CallLimits,
        deployed_at: i64,
    ) -> Result<(Deployment, Vec<u8>), DeployFailure> {
        let runtime = self.runtime.clone();
        let (deployment, wasm) = tokio::task::spawn_blocking(move || {
            let deployment = Deployment::prepare(&runtime, &name, &wasm, limits, deployed_at);
            (deployment, wasm)
        })
        .await?;
        Ok((deployment?, wasm))
    }

    /// Deploy `wasm` as the component `name`, replacing its previous version.
    pub async fn deploy(
        &self,
        name: &str,
        wasm: Vec<u8>,
        limits: CallLimits,
    ) -> Result<Arc<Deployment>, DeployFailure> {
        crate::registry::check_name(name)?;
        crate::registry::check_component_bytes(&wasm)?;
        let deployed_at = now_ms();
        // Compile before taking the lock: a big component takes seconds.
        let (deployment, wasm) = self
            .prepare(name.to_string(), wasm, limits, deployed_at)
            .await?;
        let deployment = Arc::new(deployment);
        let _guard = self.deploy_lock.lock().await;
        self.registry.check_conflicts(&deployment)?;
        self.store
            .save_component(&StoredComponent {
                tenant: DEFAULT_TENANT.to_string(),
                name: name.to_string(),
                version: deployment.version.clone(),
                wasm,
                limits,
                deployed_at,
            })
            .await?;
        self.registry.install(deployment.clone())?;
        tracing::info!(component = name, version = %deployment.version, procedures = deployment.procedures.len(), "deployed");
        Ok(deployment)
    }

    /// Remove the component `name`; false when there was none.
    pub async fn undeploy(&self, name: &str) -> Result<bool, StoreError> {
        let _guard = self.deploy_lock.lock().await;
        let deleted = self.store.delete_component(DEFAULT_TENANT, name).await?;
        let removed = self.registry.remove(name).is_some();
        Ok(deleted || removed)
    }

    /// Call `procedure` with a JSON arguments object.
    pub async fn call(
        &self,
        procedure: &str,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let found = self
            .registry
            .procedure(procedure)
            .ok_or_else(|| CallError::NotFound(procedure.to_string()))?;
        self.call_found(&found, args, context).await
    }

    /// Call a procedure already looked up in the registry.
    pub async fn call_found(
        &self,
        found: &ProcedureRef,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let proc = found.procedure();
        let params = json::args_from_json(&proc.params, args)?;
        let results = self
            .runtime
            .invoke(
                Target {
                    pre: &found.deployment.pre,
                    export: &proc.export,
                    procedure: &proc.name,
                    result_count: usize::from(proc.result.is_some()),
                },
                &params,
                proc.limits(),
                context,
                None,
            )
            .await?;
        let value = match results.into_iter().next() {
            None => Value::Null,
            // A top-level result: ok is the answer, err is the procedure's own error.
            Some(Val::Result(Ok(payload))) => payload.as_deref().map_or(Value::Null, json::to_json),
            Some(Val::Result(Err(payload))) => {
                return Err(CallError::ProcedureError(
                    payload.as_deref().map_or(Value::Null, json::to_json),
                ));
            }
            Some(other) => json::to_json(&other),
        };
        Ok(CallOutput {
            body: result_body(&value)?,
        })
    }
}
