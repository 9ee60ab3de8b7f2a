//! What guests reach beyond computing, through standard WASI interfaces, each scoped to
//! the calling component's tenant and allowed only by a grant in its manifest
//! (`[grants]`, docs/capabilities.md). Nothing here is ambient: a component that imports a
//! capability it was not granted is refused at upload (`registry`), and a call reaches only
//! what its component's grants name.
//!
//! - [`keyvalue`]: `wasi:keyvalue@0.2.0-draft2` over the host's own store.
//! - [`outbound_http`]: `wasi:http/outgoing-handler`, to granted origins only.
//! - [`invoke`]: `tsdev:host/invoke`, calls of the tenant's other procedures.
//!
//! A procedure call carries its [`Capabilities`] as the call's extension; a workflow's own
//! code has none (it would not replay): it reaches capabilities through its steps.

pub(crate) mod invoke;
pub(crate) mod keyvalue;
pub(crate) mod outbound_http;

use std::sync::Arc;
use std::time::Instant;

use crate::grants::Grants;
use crate::runtime::{CallContext, CallExtension, ImportsHook, StoreState};
use crate::store::Store;

/// The imports every component is linked with for capabilities.
pub(crate) const IMPORTS: &[ImportsHook] = &[keyvalue::add_to_linker, invoke::add_to_linker];

/// What one call of a component may reach, and where.
pub(crate) struct Capabilities {
    /// The tenant whose data the call sees.
    pub(crate) tenant: String,
    /// What the component's manifest grants.
    pub(crate) grants: Arc<Grants>,
    pub(crate) store: Arc<dyn Store>,
    /// The tenant's `kv_bytes` quota when the call started.
    pub(crate) kv_bytes: u64,
    /// Sends the call's outbound HTTP requests.
    outbound: outbound_http::OutboundHttp,
    /// Runs the call's invocations (none while the host shuts down).
    pub(crate) invoker: Option<Arc<dyn invoke::Invoker>>,
    /// How deep the call is nested in invocations.
    pub(crate) depth: u32,
    /// When the call must end: its invocations end by then too.
    pub(crate) deadline: Instant,
}

impl Capabilities {
    /// The capabilities of a call of a component of `tenant` granted `grants`.
    pub(crate) fn new(
        tenant: &str,
        context: &CallContext,
        deadline: Instant,
        grants: Arc<Grants>,
        store: Arc<dyn Store>,
        kv_bytes: u64,
        invoker: Option<Arc<dyn invoke::Invoker>>,
    ) -> Capabilities {
        Capabilities {
            tenant: tenant.to_string(),
            outbound: outbound_http::OutboundHttp::new(
                grants.clone(),
                tenant.to_string(),
                context.request_id.clone(),
            ),
            grants,
            store,
            kv_bytes,
            invoker,
            depth: context.depth,
            deadline,
        }
    }
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
