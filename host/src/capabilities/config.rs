//! `wasi:config/store` at the two versions components import (`0.2.0-draft-2024-09-27`,
//! what the Spin SDK 7 builds; `0.2.0-rc.1`, what wasmtime-wasi-config 48 implements),
//! answered from the component's config values (`PUT /v1/components/{name}/config`), for
//! the keys its manifest grants (`[grants] config`). Secrets are opened with the host's
//! secrets key only here, when the guest asks; they are never logged.

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::StoreState;
use crate::runtime::output::printable;
use crate::store::ConfigEntry;

mod draft {
    wasmtime::component::bindgen!({
        path: "../wit/config-draft-2024-09-27",
        world: "wasi:config/imports",
        imports: { default: async | trappable },
    });
}

mod rc {
    wasmtime::component::bindgen!({
        path: "../wit/config-rc-1",
        world: "wasi:config/imports",
        imports: { default: async | trappable },
    });
}

/// Add both versions of `wasi:config/store` to `linker` (a [`crate::runtime::ImportsHook`]).
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    draft::Imports::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)?;
    rc::Imports::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

/// What a lookup failed on, as both versions' `error` can say it.
enum Failure {
    /// The manifest does not grant the key, or the call has no config (a workflow's own
    /// code), or a secret does not open.
    Upstream(String),
    /// The store failed.
    Io(String),
}

/// The granted config values of the call's component: all of them, or the one at `key`.
async fn lookup(
    state: &mut StoreState,
    key: Option<&str>,
) -> Result<Vec<(String, String)>, Failure> {
    let request_id = state.label().request_id.clone();
    let Some(caps) = super::of(state) else {
        return Err(Failure::Upstream(
            "config is not available to a workflow's own code: read it in a step".into(),
        ));
    };
    if let Some(key) = key
        && !caps.grants.allows_config(key)
    {
        tracing::warn!(
            target: "tsdev::capabilities",
            tenant = %caps.tenant,
            %request_id,
            key = %printable(key),
            "a component read a config key its manifest does not grant"
        );
        return Err(Failure::Upstream(format!(
            "config key {key:?} is not granted: add it to [grants] config in tsdev.toml"
        )));
    }
    let entries = caps
        .store
        .load_config(&caps.tenant, &caps.component)
        .await
        .map_err(|e| {
            tracing::warn!(target: "tsdev::capabilities", "config store: {e}");
            Failure::Io("the host's store failed; try again".into())
        })?;
    let mut found = Vec::new();
    for ConfigEntry {
        key: name,
        value,
        secret,
    } in entries
    {
        let wanted = match key {
            Some(key) => name == key,
            None => caps.grants.allows_config(&name),
        };
        if !wanted {
            continue;
        }
        let value = if secret {
            caps.secrets
                .open(
                    &super::secret_place(&caps.tenant, &caps.component, &name),
                    &value,
                )
                .map_err(|e| Failure::Upstream(format!("secret {name:?}: {e}")))?
        } else {
            value
        };
        found.push((name, value));
    }
    Ok(found)
}

macro_rules! store_host {
    ($version:ident) => {
        impl $version::wasi::config::store::Host for StoreState {
            async fn get(
                &mut self,
                key: String,
            ) -> wasmtime::Result<Result<Option<String>, $version::wasi::config::store::Error>> {
                use $version::wasi::config::store::Error;
                Ok(match lookup(self, Some(&key)).await {
                    Ok(found) => Ok(found.into_iter().next().map(|(_, value)| value)),
                    Err(Failure::Upstream(message)) => Err(Error::Upstream(message)),
                    Err(Failure::Io(message)) => Err(Error::Io(message)),
                })
            }

            async fn get_all(
                &mut self,
            ) -> wasmtime::Result<
                Result<Vec<(String, String)>, $version::wasi::config::store::Error>,
            > {
                use $version::wasi::config::store::Error;
                Ok(match lookup(self, None).await {
                    Ok(found) => Ok(found),
                    Err(Failure::Upstream(message)) => Err(Error::Upstream(message)),
                    Err(Failure::Io(message)) => Err(Error::Io(message)),
                })
            }
        }
    };
}

store_host!(draft);
store_host!(rc);
