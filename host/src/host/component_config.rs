//! A component's config: values and secrets (sealed at rest), read by its calls through
//! `wasi:config/store`, changed without a redeploy.

use std::collections::HashSet;

use super::Host;
use crate::api::{ConfigChange, ConfigInfo};
use crate::limits;
use crate::store::{ConfigEntry, StoreError};

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
