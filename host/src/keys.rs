//! API keys as requests see them: looked up in the store, and remembered for at most
//! [`KEY_CACHE_TTL`] so that a busy tenant's requests do not each cost a database read.
//!
//! A revocation still works at once: the node that revokes a key (or deletes its tenant)
//! forgets every remembered key; on a shared PostgreSQL database the others hear of it by
//! a notice (`Notice::KeysChanged`) and forget theirs, and a notice lost with a dropped
//! connection is covered by the TTL. Unknown keys are not remembered (nothing to save:
//! they are refused), so a flood of made-up keys cannot crowd out real ones.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{StoreError, StoredKey, TenantStore};

/// How long a key looked up in the store is used without looking again.
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
/// Keys remembered at most; past it the cache starts afresh.
pub(crate) const KEY_CACHE_CAPACITY: usize = 10_000;

/// Live keys by hash, each with when it was read.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<String, (StoredKey, Instant)>>,
}

impl KeyCache {
    /// The key whose hash is `hash`: remembered if read within [`KEY_CACHE_TTL`], else
    /// from `store`.
    pub(crate) async fn key_by_hash(
        &self,
        store: &dyn TenantStore,
        hash: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        if let Some((key, read_at)) = self.lock().get(hash)
            && read_at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(Some(key.clone()));
        }
        let key = store.key_by_hash(hash).await?;
        if let Some(key) = &key {
            let mut entries = self.lock();
            if entries.len() >= KEY_CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(hash.to_string(), (key.clone(), Instant::now()));
        }
        Ok(key)
    }

    /// Forget every key: one was revoked or deleted here or on another node.
    pub(crate) fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (StoredKey, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::KeyCache;
    use crate::access::Scope;
    use crate::store::{self, StoredKey};

    #[tokio::test]
    async fn keys_are_remembered_until_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store::open(None, dir.path()).await.expect("open sqlite");
        let key = StoredKey {
            id: "k1".into(),
            tenant: None,
            name: "k".into(),
            hash: "h1".into(),
            scopes: vec![Scope::Read],
            created_at: 1,
            expires_at: None,
            revoked_at: None,
        };
        store.create_key(&key).await.expect("create");
        let cache = KeyCache::default();
        assert_eq!(
            cache.key_by_hash(store.as_ref(), "h1").await.expect("read"),
            Some(key.clone())
        );
        assert_eq!(
            cache
                .key_by_hash(store.as_ref(), "nope")
                .await
                .expect("read"),
            None
        );
        // Revoked behind the cache's back: the remembered key is what it answers...
        assert!(store.revoke_key(None, "k1", 5).await.expect("revoke"));
        let remembered = cache.key_by_hash(store.as_ref(), "h1").await.expect("read");
        assert_eq!(remembered.and_then(|k| k.revoked_at), None);
        // ...until it forgets, as the host makes it on every revocation.
        cache.forget_all();
        let read = cache.key_by_hash(store.as_ref(), "h1").await.expect("read");
        assert_eq!(read.and_then(|k| k.revoked_at), Some(5));
    }
}
