//! Tenancy: each tenant's quotas (as the store has them, remembered), the usage counted
//! against them (requests per second, instances at once, fuel per minute) and the API
//! keys requests carry. Quota changes go through here, one conditional write each.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::clock::now_ms;
use crate::keys::KeyCache;
use crate::quota::{QuotaChange, Quotas, TenantUsage, Usage};
use crate::runtime::Account;
use crate::store::{AuditEntry, AuditFilter, Store, StoreError, StoredKey, Tenant};

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

/// Tenants' quotas, usage and keys (one per host).
pub(crate) struct Tenancy {
    store: Arc<dyn Store>,
    /// Each tenant's quotas, as stored (tenants without an entry have the defaults).
    quotas: RwLock<HashMap<String, Quotas>>,
    /// What each tenant uses now of its instance and request quotas.
    usage: Usage,
    /// Live API keys, remembered for a moment (see [`crate::keys`]).
    keys: KeyCache,
}

impl Tenancy {
    pub(crate) fn new(store: Arc<dyn Store>) -> Tenancy {
        Tenancy {
            store,
            quotas: RwLock::default(),
            usage: Usage::default(),
            keys: KeyCache::default(),
        }
    }

    /// `tenant`'s quotas.
    pub(crate) fn quotas(&self, tenant: &str) -> Quotas {
        self.quotas
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }

    /// Keep `quotas` as `tenant`'s (after the store has them).
    pub(crate) fn remember_quotas(&self, tenant: &str, quotas: Quotas) {
        self.quotas
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant.to_string(), quotas);
    }

    /// What `tenant` uses now, counted against `quotas` (its current ones).
    pub(crate) fn usage(&self, tenant: &str, quotas: &Quotas) -> Arc<TenantUsage> {
        self.usage.of(tenant, quotas)
    }

    /// The account of a workflow run of `tenant`'s: it draws its fuel from the tenant's
    /// budget, but is not counted among the tenant's calls computing. A run spends most of
    /// its life waiting for its steps (which are counted, as calls); counted, it would make
    /// the tenant's computing calls give up turns for runs that do not compute.
    pub(crate) fn workflow_account(&self, tenant: &str) -> Account {
        let usage = self.usage.of(tenant, &self.quotas(tenant));
        Account {
            computing: Arc::default(),
            meter: Box::new(move |used| usage.draw_fuel(used)),
        }
    }

    /// Whether `tenant` may make one more request now (its requests per second).
    pub(crate) fn admit_request(&self, tenant: &str) -> bool {
        self.usage.request(tenant, &self.quotas(tenant))
    }

    /// Every tenant, by name.
    pub(crate) async fn list(&self) -> Result<Vec<Tenant>, StoreError> {
        self.store.list_tenants().await
    }

    /// Tenant `name`, if there is one.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        self.store.get_tenant(name).await
    }

    /// Create tenant `name` with `quotas` changed from the defaults (checked: see
    /// [`QuotaChange::check`]); `None` when it exists.
    pub(crate) async fn create(
        &self,
        name: &str,
        quotas: Option<&QuotaChange>,
    ) -> Result<Option<Tenant>, StoreError> {
        if !self.store.create_tenant(name, now_ms()).await? {
            return Ok(None);
        }
        match quotas {
            Some(change) => self.change_quotas(name, change).await,
            None => self.store.get_tenant(name).await,
        }
    }

    /// Keep a new API key.
    pub(crate) async fn create_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.store.create_key(key).await
    }

    /// The keys of `tenant`, oldest first, revoked ones included.
    pub(crate) async fn keys(&self, tenant: &str) -> Result<Vec<StoredKey>, StoreError> {
        self.store.list_keys(Some(tenant)).await
    }

    /// Append `entry` to the audit log.
    pub(crate) async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.store.append_audit(entry).await
    }

    /// Audit entries, newest first.
    pub(crate) async fn audit_entries(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.list_audit(filter).await
    }

    /// Change `tenant`'s quotas by `change` (checked: [`QuotaChange::check`]) in one
    /// conditional write; the tenant after, or `None` when there is no such tenant. Takes
    /// effect here at once, on other nodes at their next sync.
    pub(crate) async fn change_quotas(
        &self,
        tenant: &str,
        change: &QuotaChange,
    ) -> Result<Option<Tenant>, StoreError> {
        let changed = self.store.change_quotas(tenant, change).await?;
        if let Some(tenant) = &changed {
            self.remember_quotas(&tenant.name, tenant.quotas);
        }
        Ok(changed)
    }

    /// Forget what is remembered of `tenant` (deleted): its quotas, its usage, and every
    /// remembered key.
    pub(crate) fn forget_tenant(&self, tenant: &str) {
        self.keys.forget_all();
        self.quotas
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
        self.usage.forget(tenant);
    }

    /// Forget `tenant`'s usage (it has nothing deployed here any more).
    pub(crate) fn forget_usage(&self, tenant: &str) {
        self.usage.forget(tenant);
    }

    /// The API key whose hash is `hash`, if one is stored (live or not); see
    /// [`crate::keys`] for how long an answer is reused.
    pub(crate) async fn key_by_hash(&self, hash: &str) -> Result<Option<StoredKey>, StoreError> {
        self.keys.key_by_hash(self.store.as_ref(), hash).await
    }

    /// Revoke the key `id` of `tenant` (`None`: an admin key); false when there was no
    /// live one. Takes effect for the next request, here and (by a notice) on every node.
    pub(crate) async fn revoke_key(
        &self,
        tenant: Option<&str>,
        id: &str,
    ) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_key(tenant, id, now_ms()).await?;
        self.keys.forget_all();
        Ok(revoked)
    }

    /// Forget every remembered API key (one was revoked or deleted on another node).
    pub(crate) fn forget_keys(&self) {
        self.keys.forget_all();
    }
}
