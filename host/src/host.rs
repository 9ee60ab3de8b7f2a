//! The host as a service: deploy, undeploy and call (and serve a request it is handed to a
//! wasi:http component: [`serve_http`]), over the runtime, the registry and the store. It
//! knows nothing of the HTTP API, nor of workflows (the workflow engine sits above it
//! and adds its imports through [`crate::runtime::ImportsHook`]s).
//!
//! Components are cluster state: what the store holds is what every node serves.
//! [`Host::sync_from_store`] brings this node's registries to it (see `cluster` for when).

mod serve_http;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use serde_json::Value;

use crate::api::{ConfigChange, ConfigInfo};
use crate::capabilities::invoke::{Invocation, InvokeFailure, Invoker};
use crate::capabilities::{CallScope, Capabilities};
use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::keys::KeyCache;
use crate::limits;
use crate::limits::CallLimits;
use crate::quota::{Quotas, TenantUsage, Usage};
use crate::registry::json::{self, ArgError};
use crate::registry::{DeployError, Deployment, ProcedureRef, Registry};
use crate::runtime::invoke::result_body;
use crate::runtime::{
    Account, CallContext, CallExtension, CallFailure, ImportsHook, Runtime, Target,
};
use crate::store::{
    self, ComponentHead, ConfigEntry, Store, StoreError, StoredComponent, StoredKey, VersionRecord,
};
use crate::telemetry::traces::TraceSpan;

pub(crate) use serve_http::ServeError;

/// Where the host keeps its state.
#[derive(Clone)]
pub struct HostConfig {
    /// Data directory: the embedded database and the compiled-component cache.
    pub data_dir: PathBuf,
    /// A database URL instead of the embedded SQLite database.
    pub database_url: Option<String>,
    /// The secrets key's file; none: `DATA/secrets.key`, made at the first start.
    pub secrets_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .finish()
    }
}

/// `url` without its password (`postgres://user:***@host/db`), for logs and errors.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
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
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The tenant is at one of its quotas (the name), or the deployment asks for more than
    /// a ceiling allows.
    #[error("{0}")]
    Quota(QuotaRefusal),
    /// A rollback named a component that is not deployed.
    #[error("no component named {0}")]
    NoComponent(String),
    /// A rollback found no kept version to go to.
    #[error("{0}")]
    NoVersion(String),
    /// A rollback's version prefix matches more than one kept version.
    #[error("{prefix:?} matches {count} versions of {name}; give more of the hash")]
    AmbiguousVersion {
        name: String,
        prefix: String,
        count: usize,
    },
}

/// A quota that refused something.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct QuotaRefusal {
    /// The quota's name, as in `Quotas`.
    pub quota: &'static str,
    /// What happened, for people.
    pub detail: String,
    /// A ceiling on per-call limits (the request itself asks too much), not a count.
    pub ceiling: bool,
    /// For a count: in how many seconds asking again may succeed (at least 1).
    pub retry_after_secs: u64,
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
    /// The tenant is at a quota (its instances running at once).
    #[error("{0}")]
    Quota(QuotaRefusal),
    #[error(transparent)]
    Failure(#[from] CallFailure),
}

/// A successful call: the JSON result, already serialised and size-checked.
pub struct CallOutput {
    pub body: Vec<u8>,
}

/// Runtime, registries and store of one host process.
pub struct Host {
    runtime: Runtime,
    /// What each tenant has deployed. A tenant with nothing deployed has no entry.
    registries: RwLock<HashMap<String, Arc<Registry>>>,
    /// Each tenant's quotas, as stored (tenants without an entry have the defaults).
    quotas: RwLock<HashMap<String, Quotas>>,
    /// What each tenant uses now of its instance and request quotas.
    usage: Arc<Usage>,
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
    /// Live API keys, remembered for a moment (see [`crate::keys`]).
    keys: KeyCache,
    /// The host itself, for the invocations of the calls it makes.
    me: std::sync::Weak<Host>,
    /// Seals and opens component secrets.
    secrets: Arc<crate::secrets::SecretsKey>,
}

/// The kept version a rollback of `name` goes to: the one whose hash is `to` or starts
/// with it, else the newest one that is not current (`versions` are newest first).
fn rollback_target<'v>(
    name: &str,
    versions: &'v [VersionRecord],
    to: Option<&str>,
) -> Result<&'v VersionRecord, DeployFailure> {
    let Some(wanted) = to else {
        return versions.iter().find(|v| !v.current).ok_or_else(|| {
            DeployFailure::NoVersion(format!("no earlier version of {name} is kept"))
        });
    };
    if let Some(exact) = versions.iter().find(|v| v.version == wanted) {
        return Ok(exact);
    }
    let matching: Vec<&VersionRecord> = versions
        .iter()
        .filter(|v| !wanted.is_empty() && v.version.starts_with(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(DeployFailure::NoVersion(format!(
            "no kept version of {name} is {wanted:?} (see its versions)"
        ))),
        several => Err(DeployFailure::AmbiguousVersion {
            name: name.to_string(),
            prefix: wanted.to_string(),
            count: several.len(),
        }),
    }
}

/// A registry as a sync saw it: its generation and its deployments.
type Served = (u64, Vec<Arc<Deployment>>);

/// How long a write check answers `/ready` before the next one is made.
pub(crate) const READY_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl Host {
    /// Open the store, then compile and register every stored component, with `imports`
    /// added to what every component may import. A component that no longer loads is
    /// logged and skipped, so one bad component cannot keep a host down.
    pub async fn open(config: &HostConfig, imports: &[ImportsHook]) -> anyhow::Result<Arc<Host>> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "creating the data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
        let store = store::open(config.database_url.as_deref(), &config.data_dir).await?;
        // Capabilities are the host's own: every component is linked with them.
        let imports = [imports, crate::capabilities::IMPORTS].concat();
        let runtime = Runtime::new(Some(config.data_dir.join("compiled")), &imports)?;
        let secrets =
            crate::secrets::SecretsKey::load(config.secrets_key_file.as_deref(), &config.data_dir)?;
        let host = Arc::new_cyclic(|me| Host {
            me: me.clone(),
            secrets: Arc::new(secrets),
            runtime,
            registries: RwLock::default(),
            quotas: RwLock::default(),
            usage: Arc::default(),
            store,
            deploy_lock: tokio::sync::Mutex::new(()),
            compile_slots: tokio::sync::Semaphore::new(limits::MAX_CONCURRENT_COMPILES),
            ready: tokio::sync::Mutex::new(None),
            stopping: std::sync::atomic::AtomicBool::new(false),
            sync_lock: tokio::sync::Mutex::new(()),
            unloadable: std::sync::Mutex::default(),
            keys: KeyCache::default(),
        });
        let mut loaded = 0;
        for tenant in host.store.list_tenants().await? {
            host.remember_quotas(&tenant.name, tenant.quotas);
            for stored in host.store.load_components(&tenant.name).await? {
                let name = stored.name.clone();
                match host
                    .prepare(stored.name, stored.wasm, stored.limits, stored.deployed_at)
                    .await
                {
                    Ok((deployment, _)) => {
                        let deployment = Arc::new(deployment);
                        match host
                            .registry_or_new(&tenant.name)
                            .install(deployment.clone())
                        {
                            Ok(_) => {
                                host.keep_compiled(&deployment).await;
                                loaded += 1;
                            }
                            Err(e) => {
                                tracing::error!(tenant = %tenant.name, component = %name, "not loaded: {e}")
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(tenant = %tenant.name, component = %name, "not loaded: {e}")
                    }
                }
            }
        }
        host.collect_compiled().await;
        tracing::info!(components = loaded, "registry loaded");
        Ok(host)
    }

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

    /// `tenant`'s quotas.
    pub fn quotas(&self, tenant: &str) -> Quotas {
        self.quotas
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }

    /// Keep `quotas` as `tenant`'s (after the store has them).
    pub fn remember_quotas(&self, tenant: &str, quotas: Quotas) {
        self.quotas
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant.to_string(), quotas);
    }

    /// The account of a workflow run of `tenant`'s: it draws its fuel from the tenant's
    /// budget, but is not counted among the tenant's calls computing. A run spends most of
    /// its life waiting for its steps (which are counted, as calls); counted, it would make
    /// the tenant's computing calls give up turns for runs that do not compute.
    pub fn workflow_account(&self, tenant: &str) -> Account {
        let usage = self.usage.of(tenant, &self.quotas(tenant));
        Account {
            computing: Arc::default(),
            meter: Box::new(move |used| usage.draw_fuel(used)),
        }
    }

    /// Whether `tenant` may make one more request now (its requests per second).
    pub fn admit_request(&self, tenant: &str) -> bool {
        self.usage.request(tenant, &self.quotas(tenant))
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

    /// The API key whose hash is `hash`, if one is stored (live or not); see
    /// [`crate::keys`] for how long an answer is reused.
    pub(crate) async fn key_by_hash(&self, hash: &str) -> Result<Option<StoredKey>, StoreError> {
        self.keys.key_by_hash(self.store.as_ref(), hash).await
    }

    /// Revoke the key `id` of `tenant` (`None`: an admin key); false when there was no
    /// live one. Takes effect for the next request, here and (by a notice) on every node.
    pub async fn revoke_key(&self, tenant: Option<&str>, id: &str) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_key(tenant, id, now_ms()).await?;
        self.keys.forget_all();
        Ok(revoked)
    }

    /// Forget every remembered API key (one was revoked or deleted on another node).
    pub(crate) fn forget_keys(&self) {
        self.keys.forget_all();
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

    /// Compile on a blocking thread, one of at most [`limits::MAX_CONCURRENT_COMPILES`];
    /// hands the bytes back for storing.
    pub async fn prepare(
        &self,
        name: String,
        wasm: Vec<u8>,
        limits: CallLimits,
        deployed_at: i64,
    ) -> Result<(Deployment, Vec<u8>), DeployFailure> {
        let _slot = self
            .compile_slots
            .acquire()
            .await
            .map_err(|_| DeployFailure::ShuttingDown)?;
        let runtime = self.runtime.clone();
        let started = std::time::Instant::now();
        let span = TraceSpan::child(SpanKind::Internal, || {
            (
                format!("compile {name}"),
                vec![
                    KeyValue::new("tsdev.component", name.clone()),
                    KeyValue::new("tsdev.bytes", i64::try_from(wasm.len()).unwrap_or(i64::MAX)),
                ],
            )
        });
        let (deployment, wasm) = span
            .around(tokio::task::spawn_blocking(move || {
                let deployment = Deployment::prepare(&runtime, &name, &wasm, limits, deployed_at);
                (deployment, wasm)
            }))
            .await?;
        crate::metrics::metrics()
            .compile_duration
            .observe(started.elapsed().as_secs_f64());
        Ok((deployment?, wasm))
    }

    /// Cache the compiled form of a deployment that was accepted.
    async fn keep_compiled(&self, deployment: &Arc<Deployment>) {
        let (runtime, deployment) = (self.runtime.clone(), deployment.clone());
        let kept = tokio::task::spawn_blocking(move || {
            runtime.keep_compiled(deployment.pre.component(), &deployment.version);
        })
        .await;
        if let Err(e) = kept {
            tracing::warn!("caching a compiled component: {e}");
        }
    }

    /// Remove compiled artifacts of versions the store no longer holds.
    async fn collect_compiled(&self) {
        let versions = match self.store.stored_versions().await {
            Ok(versions) => versions.into_iter().collect(),
            Err(e) => {
                tracing::warn!("listing stored versions to clean the compiled cache: {e}");
                return;
            }
        };
        let runtime = self.runtime.clone();
        match tokio::task::spawn_blocking(move || runtime.collect_compiled(&versions)).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed unused compiled components"),
            Err(e) => tracing::warn!("cleaning the compiled cache: {e}"),
        }
    }

    /// Deploy `wasm` as the component `name` of `tenant`, replacing its previous version
    /// (kept for rollback, see [`limits::KEPT_VERSIONS`]). `deployed_by`: the key's id.
    pub async fn deploy(
        &self,
        tenant: &str,
        name: &str,
        wasm: Vec<u8>,
        limits: CallLimits,
        deployed_by: Option<&str>,
    ) -> Result<Arc<Deployment>, DeployFailure> {
        let span = TraceSpan::child(SpanKind::Internal, || {
            (
                format!("deploy {name}"),
                vec![
                    KeyValue::new("tsdev.tenant", tenant.to_string()),
                    KeyValue::new("tsdev.component", name.to_string()),
                ],
            )
        });
        let deployed = span
            .around(self.deploy_traced(tenant, name, wasm, limits, deployed_by))
            .await;
        match &deployed {
            Ok(deployment) => span.set("tsdev.version", deployment.version.clone()),
            Err(_) => span.fail(),
        }
        deployed
    }

    async fn deploy_traced(
        &self,
        tenant: &str,
        name: &str,
        wasm: Vec<u8>,
        limits: CallLimits,
        deployed_by: Option<&str>,
    ) -> Result<Arc<Deployment>, DeployFailure> {
        crate::registry::check_name(name)?;
        crate::registry::check_component_bytes(&wasm)?;
        let quotas = self.quotas(tenant);
        let limits = within_ceilings(name, limits, &quotas)?;
        let deployed_at = now_ms();
        // Compile before taking the lock: a big component takes seconds.
        let (deployment, wasm) = self
            .prepare(name.to_string(), wasm, limits, deployed_at)
            .await?;
        let deployment = Arc::new(deployment);
        check_ceilings(&deployment, &quotas)?;
        let guard = self.deploy_lock.lock().await;
        let registry = self.registry_or_new(tenant);
        check_room(&registry, &deployment, &quotas)?;
        registry.check_conflicts(&deployment)?;
        self.store
            .save_component(&StoredComponent {
                tenant: tenant.to_string(),
                name: name.to_string(),
                version: deployment.version.clone(),
                wasm,
                limits,
                deployed_at,
                deployed_by: deployed_by.map(str::to_string),
            })
            .await?;
        registry.install(deployment.clone())?;
        self.save_schedules(tenant, &deployment).await?;
        drop(guard);
        tracing::info!(tenant, component = name, version = %deployment.version, procedures = deployment.procedures.len(), "deployed");
        self.keep_compiled(&deployment).await;
        self.collect_compiled().await;
        Ok(deployment)
    }

    /// Make the schedules `deployment`'s manifest declares the component's stored ones (a
    /// schedule whose expression is unchanged keeps its next tick and its history).
    async fn save_schedules(
        &self,
        tenant: &str,
        deployment: &Deployment,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut schedules = Vec::new();
        for spec in &deployment.schedules {
            match spec.stored(tenant, Some(&deployment.name), now) {
                Ok(schedule) => schedules.push(schedule),
                // Checked at prepare; only an expression that stopped firing since ends here.
                Err(e) => {
                    tracing::warn!(tenant, component = %deployment.name, "schedule not saved: {e}")
                }
            }
        }
        self.store
            .replace_component_schedules(tenant, &deployment.name, schedules)
            .await
    }

    /// The kept versions of the component `name` of `tenant`, newest first; `None` when
    /// there is no such component.
    pub async fn versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<Vec<VersionRecord>>, StoreError> {
        self.store.list_versions(tenant, name).await
    }

    /// Make a kept version of the component `name` current again, with the limits it was
    /// deployed with: the one whose hash is or starts with `to`, else the newest one
    /// before the current. Procedures and routes swap atomically, as in a deploy (it is
    /// one: the same checks, the same store transaction, the same notice to other nodes).
    pub async fn rollback(
        &self,
        tenant: &str,
        name: &str,
        to: Option<&str>,
        deployed_by: Option<&str>,
    ) -> Result<Arc<Deployment>, DeployFailure> {
        let versions = self
            .store
            .list_versions(tenant, name)
            .await?
            .ok_or_else(|| DeployFailure::NoComponent(name.to_string()))?;
        let target = rollback_target(name, &versions, to)?;
        let (wasm, limits) = self
            .store
            .load_component_version(tenant, name, &target.version)
            .await?
            .ok_or_else(|| {
                DeployFailure::NoVersion(format!(
                    "version {} of {name} is no longer kept",
                    target.version
                ))
            })?;
        let deployment = self.deploy(tenant, name, wasm, limits, deployed_by).await?;
        tracing::info!(tenant, component = name, version = %deployment.version, "rolled back");
        Ok(deployment)
    }

    /// Remove the component `name` of `tenant`; false when there was none. Versions that
    /// unfinished workflow executions are pinned to stay stored until those executions end.
    pub async fn undeploy(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let guard = self.deploy_lock.lock().await;
        let deleted = self.store.delete_component(tenant, name).await?;
        let removed = self.registry(tenant).remove(name).is_some();
        drop(guard);
        self.collect_compiled().await;
        Ok(deleted || removed)
    }

    /// Delete `tenant` and everything it owns (see `TenantStore::delete_tenant`); false
    /// when there was none.
    pub async fn delete_tenant(&self, tenant: &str) -> Result<bool, StoreError> {
        let guard = self.deploy_lock.lock().await;
        let deleted = self.store.delete_tenant(tenant, now_ms()).await?;
        self.keys.forget_all();
        self.registries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
        self.quotas
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
        self.usage.forget(tenant);
        crate::metrics::metrics().forget_tenant(tenant);
        drop(guard);
        self.collect_compiled().await;
        Ok(deleted)
    }

    /// Make this node's registries what the store holds: components deployed, replaced or
    /// deleted by any node sharing the database, tenants created or deleted, their quotas.
    /// `only`: just that tenant's components. Deployments this node has are kept; other
    /// versions are compiled from the stored bytes (the compiled cache on disk makes that
    /// cheap after the first time). How many tenants' registries changed.
    pub async fn sync_from_store(&self, only: Option<&str>) -> Result<usize, StoreError> {
        let _one_at_a_time = self.sync_lock.lock().await;
        // What this node serves, seen whole (a deploy here saves, then installs, under the
        // deploy lock) and before the store is read: the store is then at least as new, and
        // a deploy here after this shows as a changed generation.
        let seen: HashMap<String, Served> = {
            let _guard = self.deploy_lock.lock().await;
            self.registries()
                .into_iter()
                .filter(|(tenant, _)| only.is_none_or(|t| t == tenant))
                .map(|(tenant, registry)| (tenant, (registry.generation(), registry.list())))
                .collect()
        };
        let mut wanted: BTreeMap<String, Vec<ComponentHead>> = BTreeMap::new();
        for head in self.store.component_heads().await? {
            if only.is_none_or(|t| t == head.tenant) {
                wanted.entry(head.tenant.clone()).or_default().push(head);
            }
        }
        let mut gone_tenants = Vec::new();
        if only.is_none() {
            let tenants = self.store.list_tenants().await?;
            for tenant in &tenants {
                self.remember_quotas(&tenant.name, tenant.quotas);
            }
            for tenant in seen.keys() {
                if tenants.iter().any(|t| &t.name == tenant) {
                    wanted.entry(tenant.clone()).or_default();
                } else {
                    gone_tenants.push(tenant.clone());
                }
            }
        } else if let Some(tenant) = only {
            wanted.entry(tenant.to_string()).or_default();
        }
        let mut changed = 0;
        for (tenant, heads) in wanted {
            let served = seen.get(&tenant).cloned().unwrap_or_default();
            if self.follow_tenant(&tenant, heads, served).await? {
                changed += 1;
            }
        }
        if !gone_tenants.is_empty() {
            let _guard = self.deploy_lock.lock().await;
            let mut registries = self
                .registries
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for tenant in gone_tenants {
                let unchanged = registries
                    .get(&tenant)
                    .is_some_and(|r| Some(r.generation()) == seen.get(&tenant).map(|s| s.0));
                if unchanged {
                    registries.remove(&tenant);
                    self.usage.forget(&tenant);
                }
            }
        }
        Ok(changed)
    }

    /// Make `tenant`'s registry hold the stored components `heads`, given what it held
    /// (`served`) before they were read; whether it changed.
    async fn follow_tenant(
        &self,
        tenant: &str,
        heads: Vec<ComponentHead>,
        served: Served,
    ) -> Result<bool, StoreError> {
        let (generation, current) = served;
        // The deployment this node already has for `head`, if it is that very one.
        let served = |head: &ComponentHead| {
            current
                .iter()
                .find(|d| {
                    d.name == head.name
                        && d.version == head.version
                        && d.deployed_at == head.deployed_at
                })
                .cloned()
        };
        let same = current.len() == heads.len() && heads.iter().all(|head| served(head).is_some());
        if same {
            return Ok(false);
        }
        let mut deployments = Vec::new();
        let mut loaded = Vec::new();
        for head in heads {
            if let Some(kept) = served(&head) {
                deployments.push(kept);
                continue;
            }
            if self.is_unloadable(&head) {
                continue;
            }
            let Some((wasm, limits)) = self
                .store
                .load_component_version(tenant, &head.name, &head.version)
                .await?
            else {
                // Replaced again since the heads were read: the next sync follows.
                return Ok(false);
            };
            match self
                .prepare(head.name.clone(), wasm, limits, head.deployed_at)
                .await
            {
                Ok((deployment, _)) => {
                    let deployment = Arc::new(deployment);
                    loaded.push(deployment.clone());
                    deployments.push(deployment);
                }
                Err(e) => {
                    tracing::error!(tenant, component = %head.name, version = %head.version, "not loaded: {e}");
                    self.unloadable
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(head);
                }
            }
        }
        let guard = self.deploy_lock.lock().await;
        let registry = self.registry_or_new(tenant);
        if registry.generation() != generation {
            // Deployed here meanwhile: the next sync compares again.
            return Ok(false);
        }
        if let Err(e) = registry.replace_all(deployments) {
            tracing::error!(tenant, "the stored components conflict: {e}");
            return Ok(false);
        }
        drop(guard);
        for deployment in &loaded {
            tracing::info!(tenant, component = %deployment.name, version = %deployment.version, "following a deploy by another node");
            self.keep_compiled(deployment).await;
        }
        Ok(true)
    }

    fn is_unloadable(&self, head: &ComponentHead) -> bool {
        self.unloadable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(head)
    }

    /// [`Host::call`], but a procedure this node does not know is looked for in the store
    /// first (another node may have just deployed it): what workflow steps call.
    pub async fn call_current(
        &self,
        tenant: &str,
        procedure: &str,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        if self.registry(tenant).procedure(procedure).is_none()
            && let Err(e) = self.sync_from_store(Some(tenant)).await
        {
            tracing::warn!(tenant, "looking for newly deployed components: {e}");
        }
        self.call(tenant, procedure, args, context).await
    }

    /// Call `procedure` of `tenant` with a JSON arguments object.
    pub async fn call(
        &self,
        tenant: &str,
        procedure: &str,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let found = self
            .registry(tenant)
            .procedure(procedure)
            .ok_or_else(|| CallError::NotFound(procedure.to_string()))?;
        self.call_found(tenant, &found, args, context).await
    }

    /// Call a procedure already looked up in `tenant`'s registry, in one of the tenant's
    /// instance slots (none free: [`CallError::Quota`]).
    pub async fn call_found(
        &self,
        tenant: &str,
        found: &ProcedureRef,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let started = std::time::Instant::now();
        let proc = found.procedure();
        let span = TraceSpan::child(SpanKind::Internal, || {
            (
                format!("call {}", proc.name),
                vec![
                    KeyValue::new("tsdev.tenant", tenant.to_string()),
                    KeyValue::new("tsdev.procedure", proc.name.clone()),
                    KeyValue::new("tsdev.component", found.deployment.name.clone()),
                    KeyValue::new("tsdev.version", found.deployment.version.clone()),
                ],
            )
        });
        let answer = span
            .around(self.call_found_unmeasured(tenant, found, args, context))
            .await;
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(CallError::NotFound(_)) => ErrorKind::NotFound.as_str(),
            Err(CallError::InvalidArgs(_)) => ErrorKind::InvalidArgs.as_str(),
            Err(CallError::ProcedureError(_)) => ErrorKind::ProcedureError.as_str(),
            Err(CallError::Quota(_)) => ErrorKind::QuotaExceeded.as_str(),
            Err(CallError::Failure(failure)) => failure.kind().as_str(),
        };
        span.set("tsdev.outcome", outcome);
        if outcome != "ok" {
            span.fail();
        }
        crate::metrics::metrics().call(tenant, &proc.name, outcome, started.elapsed());
        answer
    }

    async fn call_found_unmeasured(
        &self,
        tenant: &str,
        found: &ProcedureRef,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let proc = found.procedure();
        let params = json::args_from_json(&proc.params, args)?;
        let quotas = self.quotas(tenant);
        let usage = self.usage.of(tenant, &quotas);
        let _slot = admit_call(tenant, &quotas, &usage)?;
        // An invoked call ends before its caller's deadline.
        let mut limits = proc.limits();
        if let Some(deadline) = context.deadline {
            let left = deadline
                .saturating_duration_since(std::time::Instant::now())
                .saturating_sub(limits::INVOKE_DEADLINE_MARGIN);
            let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            limits.timeout_ms = limits.timeout_ms.min(left_ms).max(1);
        }
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
                limits,
                context,
                self.capabilities(tenant, &found.deployment, &quotas, context, limits),
                Some(account(usage)),
            )
            .await?;
        let value = json::returned(results).map_err(CallError::ProcedureError)?;
        Ok(CallOutput {
            body: result_body(&value)?,
        })
    }
}

/// A config change that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key config keys cannot be, or a value too large.
    #[error("{0}")]
    Invalid(String),
    /// The component would have more keys than the limit.
    #[error("a component has at most {} config keys", limits::MAX_CONFIG_KEYS)]
    TooManyKeys,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Host {
    /// What a call of `deployment` may use (its grants, scoped to `tenant`), until the
    /// call's deadline under `limits`; None for a component that imports no capability
    /// (most calls: they skip making it).
    fn capabilities(
        &self,
        tenant: &str,
        deployment: &Deployment,
        quotas: &Quotas,
        context: &CallContext,
        limits: CallLimits,
    ) -> Option<Box<dyn CallExtension>> {
        if !deployment.uses_capabilities {
            return None;
        }
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(limits.timeout_ms);
        let invoker = self.me.upgrade().map(|host| host as Arc<dyn Invoker>);
        Some(Box::new(Capabilities::new(
            CallScope {
                tenant: tenant.to_string(),
                component: deployment.name.clone(),
                grants: deployment.grants.clone(),
                store: self.store.clone(),
                secrets: self.secrets.clone(),
                kv_bytes: quotas.kv_bytes,
            },
            context,
            deadline,
            invoker,
        )))
    }

    /// Component `name`'s config values and the names of its secrets; None when the
    /// tenant has no such component.
    pub async fn component_config(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<ConfigInfo>, StoreError> {
        if self.registry(tenant).get(name).is_none() {
            return Ok(None);
        }
        let mut info = ConfigInfo::default();
        for entry in self.store.load_config(tenant, name).await? {
            if entry.secret {
                info.secrets.push(entry.key);
            } else {
                info.values.insert(entry.key, entry.value);
            }
        }
        Ok(Some(info))
    }

    /// Make `change` to component `name`'s config (secrets sealed); what it is then. The
    /// component sees it from its next call, with no redeploy.
    pub async fn change_config(
        &self,
        tenant: &str,
        name: &str,
        change: ConfigChange,
    ) -> Result<Option<ConfigInfo>, ConfigError> {
        if self.registry(tenant).get(name).is_none() {
            return Ok(None);
        }
        if change.values.len() > limits::MAX_CONFIG_KEYS_PER_CHANGE
            || change.secrets.len() > limits::MAX_CONFIG_KEYS_PER_CHANGE
        {
            return Err(ConfigError::Invalid(format!(
                "one change sets at most {} values and {} secrets",
                limits::MAX_CONFIG_KEYS_PER_CHANGE,
                limits::MAX_CONFIG_KEYS_PER_CHANGE
            )));
        }
        let mut entries = Vec::new();
        let mut deleted = Vec::new();
        let both = change
            .values
            .into_iter()
            .map(|(k, v)| (k, v, false))
            .chain(change.secrets.into_iter().map(|(k, v)| (k, v, true)));
        for (key, value, secret) in both {
            crate::grants::check_config_key(&key)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
            match value {
                None => deleted.push(key),
                Some(value) if value.chars().count() > limits::MAX_CONFIG_VALUE_CHARS => {
                    return Err(ConfigError::Invalid(format!(
                        "the value of {key:?} has {} characters, more than the limit of {}",
                        value.chars().count(),
                        limits::MAX_CONFIG_VALUE_CHARS
                    )));
                }
                Some(value) => {
                    let value = if secret {
                        let place = crate::capabilities::secret_place(tenant, name, &key);
                        self.secrets
                            .seal(&place, &value)
                            .map_err(|e| ConfigError::Invalid(e.to_string()))?
                    } else {
                        value
                    };
                    entries.push(ConfigEntry { key, value, secret });
                }
            }
        }
        let existing = self.store.load_config(tenant, name).await?;
        let mut keys: HashSet<&str> = existing.iter().map(|e| e.key.as_str()).collect();
        keys.extend(entries.iter().map(|e| e.key.as_str()));
        for key in &deleted {
            keys.remove(key.as_str());
        }
        if keys.len() > limits::MAX_CONFIG_KEYS {
            return Err(ConfigError::TooManyKeys);
        }
        self.store
            .set_config(tenant, name, entries, deleted, crate::clock::now_ms())
            .await?;
        Ok(self.component_config(tenant, name).await?)
    }
}

#[async_trait::async_trait]
impl Invoker for Host {
    async fn invoke(&self, invocation: Invocation) -> Result<String, InvokeFailure> {
        let args: Value = serde_json::from_str(&invocation.args_json)
            .map_err(|e| InvokeFailure::InvalidArgs(format!("the arguments are not JSON: {e}")))?;
        let context = CallContext {
            request_id: invocation.request_id,
            idempotency_key: None,
            depth: invocation.depth,
            deadline: Some(invocation.deadline),
        };
        match self
            .call(&invocation.tenant, &invocation.procedure, &args, &context)
            .await
        {
            Ok(output) => String::from_utf8(output.body).map_err(|_| InvokeFailure::Failed {
                kind: ErrorKind::Internal.as_str().into(),
                detail: "the result is not UTF-8".into(),
            }),
            Err(CallError::NotFound(_)) => Err(InvokeFailure::NotFound),
            Err(CallError::InvalidArgs(e)) => Err(InvokeFailure::InvalidArgs(e.to_string())),
            Err(CallError::ProcedureError(value)) => {
                Err(InvokeFailure::ProcedureError(value.to_string()))
            }
            Err(CallError::Quota(refusal)) => Err(InvokeFailure::Failed {
                kind: ErrorKind::QuotaExceeded.as_str().into(),
                detail: refusal.detail,
            }),
            Err(CallError::Failure(failure)) => Err(InvokeFailure::Failed {
                kind: failure.kind().as_str().into(),
                detail: failure.to_string(),
            }),
        }
    }
}

/// Let one more call of `tenant` run: refused when the tenant has used its fuel for the
/// minute or runs its quota of instances. The slot is the tenant's until dropped.
fn admit_call(
    tenant: &str,
    quotas: &Quotas,
    usage: &TenantUsage,
) -> Result<crate::quota::InstanceSlot, CallError> {
    if let Some(wait) = usage.fuel_wait() {
        return Err(CallError::Quota(QuotaRefusal {
            quota: "fuel_per_minute",
            detail: format!(
                "tenant {tenant} has used its fuel for the minute ({} per minute); it refills in {} s",
                quotas.fuel_per_minute,
                wait.as_secs().max(1)
            ),
            ceiling: false,
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }));
    }
    usage.instance().ok_or_else(|| {
        CallError::Quota(QuotaRefusal {
            quota: "concurrent_instances",
            detail: format!(
                "tenant {tenant} runs {} instances at once, its quota; retry shortly",
                quotas.concurrent_instances
            ),
            ceiling: false,
            retry_after_secs: 1,
        })
    })
}

/// The account of a call that `usage`'s tenant makes.
fn account(usage: Arc<TenantUsage>) -> Account {
    Account {
        computing: usage.computing(),
        meter: Box::new(move |used| usage.draw_fuel(used)),
    }
}

/// The limits a deployment of `name` gets under the tenant's ceilings: a limit asked for
/// (other than the host default) past its ceiling is refused; a default past it is lowered
/// to it.
fn within_ceilings(
    name: &str,
    asked: CallLimits,
    quotas: &Quotas,
) -> Result<CallLimits, DeployFailure> {
    let defaults = CallLimits::default();
    let fit = |quota: &'static str, asked: u64, default: u64, ceiling: u64| {
        if asked <= ceiling {
            Ok(asked)
        } else if asked == default {
            Ok(ceiling)
        } else {
            Err(DeployFailure::Quota(QuotaRefusal {
                quota,
                detail: format!(
                    "{name} asks for {asked} ({quota}); the tenant's ceiling is {ceiling}"
                ),
                ceiling: true,
                retry_after_secs: 0,
            }))
        }
    };
    Ok(CallLimits {
        fuel: fit("max_fuel", asked.fuel, defaults.fuel, quotas.max_fuel)?,
        memory_bytes: fit(
            "max_memory_bytes",
            asked.memory_bytes,
            defaults.memory_bytes,
            quotas.max_memory_bytes,
        )?,
        timeout_ms: fit(
            "max_timeout_ms",
            asked.timeout_ms,
            defaults.timeout_ms,
            quotas.max_timeout_ms,
        )?,
    })
}

/// Refuse a deployment whose per-call limits (its own, or a procedure's from its manifest)
/// pass the tenant's ceilings.
fn check_ceilings(deployment: &Deployment, quotas: &Quotas) -> Result<(), DeployFailure> {
    let all = std::iter::once((deployment.name.as_str(), deployment.limits)).chain(
        deployment
            .procedures
            .iter()
            .map(|p| (p.name.as_str(), p.limits())),
    );
    for (what, limits) in all {
        for (quota, asked, ceiling) in [
            ("max_fuel", limits.fuel, quotas.max_fuel),
            (
                "max_memory_bytes",
                limits.memory_bytes,
                quotas.max_memory_bytes,
            ),
            ("max_timeout_ms", limits.timeout_ms, quotas.max_timeout_ms),
        ] {
            if asked > ceiling {
                return Err(DeployFailure::Quota(QuotaRefusal {
                    quota,
                    detail: format!(
                        "{what} asks for {asked} ({quota}); the tenant's ceiling is {ceiling}"
                    ),
                    ceiling: true,
                    retry_after_secs: 0,
                }));
            }
        }
    }
    Ok(())
}

/// Refuse a deployment that would take `registry`'s tenant past its component count or
/// bytes (a new version of a component replaces the old one's bytes).
fn check_room(
    registry: &Registry,
    deployment: &Deployment,
    quotas: &Quotas,
) -> Result<(), DeployFailure> {
    let others: Vec<_> = registry
        .list()
        .into_iter()
        .filter(|d| d.name != deployment.name)
        .collect();
    if others.len() as u64 >= quotas.components {
        return Err(DeployFailure::Quota(QuotaRefusal {
            quota: "components",
            detail: format!(
                "the tenant has {} components, its quota; delete one first",
                others.len()
            ),
            ceiling: false,
            retry_after_secs: 1,
        }));
    }
    let bytes: u64 =
        others.iter().map(|d| d.size_bytes as u64).sum::<u64>() + deployment.size_bytes as u64;
    if bytes > quotas.component_bytes {
        return Err(DeployFailure::Quota(QuotaRefusal {
            quota: "component_bytes",
            detail: format!(
                "the tenant's components would take {bytes} bytes; its quota is {}",
                quotas.component_bytes
            ),
            ceiling: false,
            retry_after_secs: 1,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_shown_without_their_password() {
        assert_eq!(
            redact_url("postgres://tsdev:hunter2@db.internal:5432/tsdev?sslmode=require"),
            "postgres://tsdev:***@db.internal:5432/tsdev?sslmode=require"
        );
        assert_eq!(
            redact_url("sqlite:///data/tsdev.db"),
            "sqlite:///data/tsdev.db"
        );
        let config = HostConfig {
            data_dir: "/data".into(),
            database_url: Some("postgres://u:hunter2@h/d".into()),
            secrets_key_file: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://u:***@h/d"), "{shown}");
    }
}
