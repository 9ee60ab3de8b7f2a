//! The host as a service: deploy, undeploy and call (and serve a request it is handed to a
//! wasi:http component), over the runtime, the registry and the store. It knows nothing of
//! the HTTP API, nor of workflows (the workflow engine sits above it and adds its imports
//! through [`crate::runtime::ImportsHook`]s).
//!
//! Components are cluster state: what the store holds is what every node serves.
//! [`Host::sync_from_store`] brings this node's registries to it (see `cluster` for when).
//!
//! - [`open`]: where the host keeps its state ([`HostConfig`]), and opening it: every
//!   stored component compiled and registered.
//! - [`tenancy`]: [`Tenancy`], each tenant's quotas, the usage counted against them
//!   (admission of requests and calls) and the API keys of requests.
//! - [`deploy`]: compile, deploy, roll back, undeploy, delete a tenant's all.
//! - [`sync`]: this node's registries brought to what the store holds.
//! - [`call`]: a procedure called in a fresh instance, under the tenant's quotas; the
//!   [`Invoker`] of the calls guests make.
//! - [`component_config`]: a component's config values and secrets.
//! - [`schedules`]: a tenant's cron schedules as the API changes them.
//! - [`serve_http`]: a request handed to a wasi:http component.

mod call;
mod component_config;
mod deploy;
mod open;
mod schedules;
mod serve_http;
mod sync;
mod tenancy;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::clock::now_ms;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::store::{ComponentHead, Store};

pub(crate) use call::CallError;
pub(crate) use component_config::ConfigError;
pub(crate) use deploy::DeployFailure;
pub use open::HostConfig;
pub(crate) use open::redact_url;
pub(crate) use serve_http::ServeError;
pub(crate) use tenancy::QuotaRefusal;
pub(crate) use tenancy::Tenancy;

/// Runtime, registries and store of one host process.
pub struct Host {
    runtime: Runtime,
    /// What each tenant has deployed. A tenant with nothing deployed has no entry.
    registries: RwLock<HashMap<String, Arc<Registry>>>,
    /// Each tenant's quotas and usage, and the keys of requests.
    tenancy: Tenancy,
    store: Arc<dyn Store>,
    /// Deploys and removals run one at a time, so the conflict check and the swap agree.
    deploy_lock: tokio::sync::Mutex<()>,
    /// Compilations at once: each takes a core and, for big components, much memory.
    compile_slots: tokio::sync::Semaphore,
    /// The last write check: when, and how it went (see [`Host::check_ready`]).
    ready: tokio::sync::Mutex<Option<(std::time::Instant, Result<(), String>)>>,
    /// The node is shutting down: `/ready` says so from then on.
    stopping: std::sync::atomic::AtomicBool,
    /// Syncs with the store run one at a time, so that none compiles what another is
    /// compiling.
    sync_lock: tokio::sync::Mutex<()>,
    /// Stored versions this node failed to load: not tried again at every sync.
    unloadable: std::sync::Mutex<HashSet<ComponentHead>>,
    /// The host itself, for the invocations of the calls it makes.
    me: std::sync::Weak<Host>,
    /// Seals and opens component secrets.
    secrets: Arc<crate::secrets::SecretsKey>,
}

/// How long a write check answers `/ready` before the next one is made.
pub(crate) const READY_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl Host {
    /// What `tenant` has deployed (empty for a tenant with nothing deployed, or none).
    pub fn registry(&self, tenant: &str) -> Arc<Registry> {
        let registries = self
            .registries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match registries.get(tenant) {
            Some(registry) => registry.clone(),
            None => Arc::new(Registry::default()),
        }
    }

    /// Every tenant's registry, by tenant name.
    pub fn registries(&self) -> Vec<(String, Arc<Registry>)> {
        let registries = self
            .registries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<_> = registries
            .iter()
            .map(|(t, r)| (t.clone(), r.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// How many unfinished executions there are in each unfinished status, across tenants
    /// (for `/metrics`).
    pub(crate) async fn unfinished_executions(
        &self,
    ) -> Result<Vec<(crate::store::ExecutionStatus, u64)>, crate::store::StoreError> {
        self.store.count_unfinished_by_status().await
    }

    /// The store's connections: open, and idle among them (for `/metrics`).
    pub(crate) fn store_connections(&self) -> (u32, usize) {
        self.store.pool_state()
    }

    /// `tenant`'s key-value bucket `name`, as its components see it (under its `kv_bytes`
    /// quota now).
    pub(crate) fn bucket(
        &self,
        tenant: &str,
        name: String,
    ) -> crate::capabilities::keyvalue::Scope {
        crate::capabilities::keyvalue::Scope {
            store: self.store.clone(),
            kv_bytes: self.tenancy.quotas(tenant).kv_bytes,
            tenant: tenant.to_string(),
            bucket: name,
        }
    }

    /// Tenants' quotas, usage and keys.
    pub(crate) fn tenants(&self) -> &Tenancy {
        &self.tenancy
    }

    /// `tenant`'s registry, made when it has none yet.
    fn registry_or_new(&self, tenant: &str) -> Arc<Registry> {
        let mut registries = self
            .registries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        registries.entry(tenant.to_string()).or_default().clone()
    }

    /// The node is shutting down: from now on it is not ready (load balancers should send
    /// it nothing new), while it goes on serving what reaches it.
    pub fn begin_stopping(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The WebAssembly runtime every call runs on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The durable store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The store, for a task that outlives a borrow of the host.
    pub(crate) fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Whether the host can serve: its store answers and a write commits. Checked at most
    /// once per [`READY_CHECK_INTERVAL`], so probes cannot turn into a write flood.
    pub async fn check_ready(&self) -> Result<(), String> {
        if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("this node is shutting down".into());
        }
        let mut last = self.ready.lock().await;
        if let Some((at, outcome)) = &*last
            && at.elapsed() < READY_CHECK_INTERVAL
        {
            return outcome.clone();
        }
        let outcome = match self.store.check_writes(now_ms()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!("not ready: {e}");
                Err("the store does not commit writes".to_string())
            }
        };
        *last = Some((std::time::Instant::now(), outcome.clone()));
        outcome
    }
}
