//! Where the host keeps its state ([`HostConfig`]), and [`Host::open`]: the store opened,
//! every stored component compiled and registered.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::{Host, Tenancy};
use crate::limits;
use crate::runtime::{ImportsHook, Runtime};
use crate::store;

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
        let imports = [imports, &crate::capabilities::imports()].concat();
        let runtime = Runtime::new(Some(config.data_dir.join("compiled")), &imports)?;
        let secrets =
            crate::secrets::SecretsKey::load(config.secrets_key_file.as_deref(), &config.data_dir)?;
        let host = Arc::new_cyclic(|me| Host {
            me: me.clone(),
            secrets: Arc::new(secrets),
            runtime,
            registries: RwLock::default(),
            tenancy: Tenancy::new(store.clone()),
            store,
            deploy_lock: tokio::sync::Mutex::new(()),
            compile_slots: tokio::sync::Semaphore::new(limits::MAX_CONCURRENT_COMPILES),
            ready: tokio::sync::Mutex::new(None),
            stopping: std::sync::atomic::AtomicBool::new(false),
            sync_lock: tokio::sync::Mutex::new(()),
            unloadable: std::sync::Mutex::default(),
        });
        let mut loaded = 0;
        for tenant in host.store.list_tenants().await? {
            host.tenancy.remember_quotas(&tenant.name, tenant.quotas);
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
