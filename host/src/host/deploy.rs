//! Deploys: a component compiled (a few at once, off the async threads), checked against
//! the tenant's quotas and the registry's procedures and routes, saved, and swapped in
//! atomically; rollbacks to a kept version, undeploys, a tenant deleted with all it owns.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::{Host, QuotaRefusal};
use crate::clock::now_ms;
use crate::limits::CallLimits;
use crate::quota::Quotas;
use crate::registry::{DeployError, Deployment, Registry};
use crate::store::{StoreError, StoredComponent, VersionRecord};
use crate::telemetry::traces::TraceSpan;

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

impl Host {
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
    pub(super) async fn keep_compiled(&self, deployment: &Arc<Deployment>) {
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
    pub(super) async fn collect_compiled(&self) {
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
        let quotas = self.tenancy.quotas(tenant);
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
        self.tenancy.forget_tenant(tenant);
        self.registries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
        crate::metrics::metrics().forget_tenant(tenant);
        drop(guard);
        self.collect_compiled().await;
        Ok(deleted)
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
