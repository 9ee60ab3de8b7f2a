//! What guests reach beyond computing, through standard WASI interfaces, each scoped to
//! the calling component's tenant and allowed only by a grant in its manifest
//! (`[grants]`, docs/capabilities.md). Nothing here is ambient: a component that imports a
//! capability it was not granted is refused at upload (`registry`), and a call reaches only
//! what its component's grants name.
//!
//! - [`catalogue`]: every interface the host provides, declared once with its versions,
//!   linker, grant and state; the linker hooks, the packages accepted at upload, the grant
//!   check and the docs table are made from it.
//! - [`keyvalue`]: `wasi:keyvalue@0.2.0-draft2` over the host's own store.
//! - [`outbound_http`]: `wasi:http/outgoing-handler`, to granted origins only.
//! - [`invoke`]: `tsdev:host/invoke`, calls of the tenant's other procedures.
//! - [`config`]: `wasi:config/store`, the component's config values and secrets.
//!
//! A procedure call carries its [`Capabilities`] as the call's extension; a workflow's own
//! code has none (it would not replay): it reaches capabilities through its steps.

pub(crate) mod catalogue;
pub(crate) mod config;
pub(crate) mod invoke;
pub(crate) mod keyvalue;
pub(crate) mod outbound_http;

use std::sync::Arc;
use std::time::Instant;

use crate::grants::Grants;
use crate::runtime::{CallContext, CallExtension, ImportsHook, StoreState};
use crate::secrets::SecretsKey;
use crate::store::Store;

/// The imports every component is linked with for capabilities (the catalogue's hooks).
pub(crate) fn imports() -> Vec<ImportsHook> {
    catalogue::imports()
}

/// Where a call's capabilities reach: its tenant's data, for its component's grants.
pub(crate) struct CallScope {
    /// The tenant whose data the call sees.
    pub(crate) tenant: String,
    /// The component called (its config).
    pub(crate) component: String,
    /// What the component's manifest grants.
    pub(crate) grants: Arc<Grants>,
    pub(crate) store: Arc<dyn Store>,
    /// Opens the component's secrets.
    pub(crate) secrets: Arc<SecretsKey>,
    /// The tenant's `kv_bytes` quota when the call started.
    pub(crate) kv_bytes: u64,
}

/// What one call of a component may reach, and where.
pub(crate) struct Capabilities {
    scope: CallScope,
    /// Sends the call's outbound HTTP requests.
    outbound: outbound_http::OutboundHttp,
    /// Runs the call's invocations (none while the host shuts down).
    pub(crate) invoker: Option<Arc<dyn invoke::Invoker>>,
    /// How deep the call is nested in invocations.
    pub(crate) depth: u32,
    /// When the call must end: its invocations end by then too.
    pub(crate) deadline: Instant,
}

impl std::ops::Deref for Capabilities {
    type Target = CallScope;

    fn deref(&self) -> &CallScope {
        &self.scope
    }
}

impl Capabilities {
    /// The capabilities of a call in `scope`, made with `context`, ending by `deadline`.
    pub(crate) fn new(
        scope: CallScope,
        context: &CallContext,
        deadline: Instant,
        invoker: Option<Arc<dyn invoke::Invoker>>,
    ) -> Capabilities {
        Capabilities {
            outbound: outbound_http::OutboundHttp::new(
                scope.grants.clone(),
                scope.tenant.clone(),
                context.request_id.clone(),
            ),
            scope,
            invoker,
            depth: context.depth,
            deadline,
        }
    }
}

/// What a secret is sealed for: its tenant, component and key.
pub(crate) fn secret_place(tenant: &str, component: &str, key: &str) -> String {
    format!("{tenant}/{component}/{key}")
}

impl CallExtension for Capabilities {
    fn http_hooks(&mut self) -> Option<&mut dyn wasmtime_wasi_http::WasiHttpHooks> {
        Some(&mut self.outbound)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The call's capabilities; none in a workflow's own code.
fn of(state: &mut StoreState) -> Option<&mut Capabilities> {
    state.extension_mut::<Capabilities>()
}
