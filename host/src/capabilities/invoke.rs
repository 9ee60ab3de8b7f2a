//! `tsdev:host/invoke`: a procedure calls another procedure of its tenant by name, with
//! JSON arguments, and gets its JSON result or an error value. The callee runs in a fresh
//! instance under its own limits, within what is left of the caller's deadline; calls nest
//! at most [`MAX_INVOKE_DEPTH`] deep, which stops cycles. Only the procedures the
//! manifest names (`[grants] invoke`) may be called.

use std::time::Instant;

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::StoreState;
use crate::runtime::output::printable;

use crate::limits::MAX_INVOKE_DEPTH;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/host",
        world: "tsdev:host/capabilities",
        // A call awaits the callee.
        imports: { default: async | trappable },
    });
}

use self::bindings::tsdev::host::invoke::{Failure, Host, InvokeError};

/// Add `tsdev:host/invoke` to `linker` (a [`crate::runtime::ImportsHook`]).
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    bindings::Capabilities::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

/// A call one procedure makes of another.
pub(crate) struct Invocation {
    pub(crate) tenant: String,
    pub(crate) procedure: String,
    pub(crate) args_json: String,
    pub(crate) request_id: String,
    /// The callee's depth: the caller's plus one.
    pub(crate) depth: u32,
    /// The caller's deadline: the callee ends by then.
    pub(crate) deadline: Instant,
}

/// Why an invocation answered no result.
#[derive(Debug)]
pub(crate) enum InvokeFailure {
    NotFound,
    InvalidArgs(String),
    /// The callee's own error value, as JSON.
    ProcedureError(String),
    /// Another failure: its kind (as over HTTP) and detail.
    Failed {
        kind: String,
        detail: String,
    },
}

/// What runs invocations: the host.
#[async_trait::async_trait]
pub(crate) trait Invoker: Send + Sync {
    /// Call `invocation.procedure` as the tenant's: its JSON result.
    async fn invoke(&self, invocation: Invocation) -> Result<String, InvokeFailure>;
}

impl Host for StoreState {
    async fn call(
        &mut self,
        procedure: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, InvokeError>> {
        let request_id = self.label().request_id.clone();
        let Some(caps) = super::of(self) else {
            return Ok(Err(InvokeError::Failed(Failure {
                kind: "workflow-only".into(),
                detail: "a workflow calls procedures with durable.call, which journals them".into(),
            })));
        };
        if !caps.grants.allows_invoke(&procedure) {
            tracing::warn!(
                target: "tsdev::capabilities",
                tenant = %caps.tenant,
                %request_id,
                procedure = %printable(&procedure),
                "a component called a procedure its manifest does not grant"
            );
            return Ok(Err(InvokeError::NotGranted));
        }
        if caps.depth >= MAX_INVOKE_DEPTH {
            return Ok(Err(InvokeError::TooDeep));
        }
        let Some(invoker) = caps.invoker.clone() else {
            return Ok(Err(InvokeError::Failed(Failure {
                kind: "unavailable".into(),
                detail: "the host is shutting down".into(),
            })));
        };
        let invocation = Invocation {
            tenant: caps.tenant.clone(),
            procedure,
            args_json,
            request_id,
            depth: caps.depth + 1,
            deadline: caps.deadline,
        };
        Ok(invoker
            .invoke(invocation)
            .await
            .map_err(|failure| match failure {
                InvokeFailure::NotFound => InvokeError::NotFound,
                InvokeFailure::InvalidArgs(why) => InvokeError::InvalidArgs(why),
                InvokeFailure::ProcedureError(value) => InvokeError::ProcedureError(value),
                InvokeFailure::Failed { kind, detail } => {
                    InvokeError::Failed(Failure { kind, detail })
                }
            }))
    }
}
