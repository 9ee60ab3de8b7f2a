//! This node's registries brought to what the store holds: components deployed, replaced
//! or deleted by any node sharing the database, tenants created or deleted, their quotas.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::Host;
use crate::registry::Deployment;
use crate::store::{ComponentHead, StoreError};

/// A registry as a sync saw it: its generation and its deployments.
type Served = (u64, Vec<Arc<Deployment>>);

impl Host {
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
                self.tenancy.remember_quotas(&tenant.name, tenant.quotas);
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
                    self.tenancy.forget_usage(&tenant);
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
}
