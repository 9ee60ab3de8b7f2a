//! A procedure called: looked up in the tenant's registry, admitted under its quotas (fuel
//! for the minute, instances at once), run in a fresh instance with the capabilities its
//! grants give it, measured and traced. The host is also the [`Invoker`] of the calls
//! guests make (`tsdev:host/invoke`).

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use serde_json::Value;

use super::{Host, QuotaRefusal};
use crate::capabilities::invoke::{Invocation, InvokeFailure, Invoker};
use crate::capabilities::{CallScope, Capabilities};
use crate::error_kind::ErrorKind;
use crate::limits;
use crate::limits::CallLimits;
use crate::quota::{Quotas, TenantUsage};
use crate::registry::json::{self, ArgError};
use crate::registry::{Deployment, ProcedureRef};
use crate::runtime::invoke::result_body;
use crate::runtime::{Account, CallContext, CallExtension, CallFailure, Target};
use crate::telemetry::traces::TraceSpan;

/// Why a call did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no procedure named {0}")]
    NotFound(String),
    #[error("invalid arguments: {0}")]
    InvalidArgs(#[from] ArgError),
    /// The procedure returned the `err` case of its top-level `result`.
    #[error("the procedure returned an error")]
    ProcedureError(Value),
    /// The tenant is at a quota (its instances running at once).
    #[error("{0}")]
    Quota(QuotaRefusal),
    #[error(transparent)]
    Failure(#[from] CallFailure),
}

/// A successful call: the JSON result, already serialised and size-checked.
pub struct CallOutput {
    pub body: Vec<u8>,
}

impl Host {
    /// [`Host::call`], but a procedure this node does not know is looked for in the store
    /// first (another node may have just deployed it): what workflow steps call.
    pub async fn call_current(
        &self,
        tenant: &str,
        procedure: &str,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        if self.registry(tenant).procedure(procedure).is_none()
            && let Err(e) = self.sync_from_store(Some(tenant)).await
        {
            tracing::warn!(tenant, "looking for newly deployed components: {e}");
        }
        self.call(tenant, procedure, args, context).await
    }

    /// Call `procedure` of `tenant` with a JSON arguments object.
    pub async fn call(
        &self,
        tenant: &str,
        procedure: &str,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let found = self
            .registry(tenant)
            .procedure(procedure)
            .ok_or_else(|| CallError::NotFound(procedure.to_string()))?;
        self.call_found(tenant, &found, args, context).await
    }

    /// Call a procedure already looked up in `tenant`'s registry, in one of the tenant's
    /// instance slots (none free: [`CallError::Quota`]).
    pub async fn call_found(
        &self,
        tenant: &str,
        found: &ProcedureRef,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let started = std::time::Instant::now();
        let proc = found.procedure();
        let span = TraceSpan::child(SpanKind::Internal, || {
            (
                format!("call {}", proc.name),
                vec![
                    KeyValue::new("tsdev.tenant", tenant.to_string()),
                    KeyValue::new("tsdev.procedure", proc.name.clone()),
                    KeyValue::new("tsdev.component", found.deployment.name.clone()),
                    KeyValue::new("tsdev.version", found.deployment.version.clone()),
                ],
            )
        });
        let answer = span
            .around(self.call_found_unmeasured(tenant, found, args, context))
            .await;
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(CallError::NotFound(_)) => ErrorKind::NotFound.as_str(),
            Err(CallError::InvalidArgs(_)) => ErrorKind::InvalidArgs.as_str(),
            Err(CallError::ProcedureError(_)) => ErrorKind::ProcedureError.as_str(),
            Err(CallError::Quota(_)) => ErrorKind::QuotaExceeded.as_str(),
            Err(CallError::Failure(failure)) => failure.kind().as_str(),
        };
        span.set("tsdev.outcome", outcome);
        if outcome != "ok" {
            span.fail();
        }
        crate::metrics::metrics().call(tenant, &proc.name, outcome, started.elapsed());
        answer
    }

    async fn call_found_unmeasured(
        &self,
        tenant: &str,
        found: &ProcedureRef,
        args: &Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let proc = found.procedure();
        let params = json::args_from_json(&proc.params, args)?;
        let quotas = self.tenancy.quotas(tenant);
        let usage = self.tenancy.usage(tenant, &quotas);
        let _slot = admit_call(tenant, &quotas, &usage)?;
        // An invoked call ends before its caller's deadline.
        let mut limits = proc.limits();
        if let Some(deadline) = context.deadline {
            let left = deadline
                .saturating_duration_since(std::time::Instant::now())
                .saturating_sub(limits::INVOKE_DEADLINE_MARGIN);
            let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            limits.timeout_ms = limits.timeout_ms.min(left_ms).max(1);
        }
        let results = self
            .runtime
            .invoke(
                Target {
                    pre: &found.deployment.pre,
                    export: &proc.export,
                    procedure: &proc.name,
                    result_count: usize::from(proc.result.is_some()),
                },
                &params,
                limits,
                context,
                self.capabilities(tenant, &found.deployment, &quotas, context, limits),
                Some(account(usage)),
            )
            .await?;
        let value = json::returned(results).map_err(CallError::ProcedureError)?;
        Ok(CallOutput {
            body: result_body(&value)?,
        })
    }

    /// What a call of `deployment` may use (its grants, scoped to `tenant`), until the
    /// call's deadline under `limits`; None for a component that imports no capability
    /// (most calls: they skip making it).
    pub(super) fn capabilities(
        &self,
        tenant: &str,
        deployment: &Deployment,
        quotas: &Quotas,
        context: &CallContext,
        limits: CallLimits,
    ) -> Option<Box<dyn CallExtension>> {
        if !deployment.uses_capabilities {
            return None;
        }
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(limits.timeout_ms);
        let invoker = self.me.upgrade().map(|host| host as Arc<dyn Invoker>);
        Some(Box::new(Capabilities::new(
            CallScope {
                tenant: tenant.to_string(),
                component: deployment.name.clone(),
                grants: deployment.grants.clone(),
                store: self.store.clone(),
                secrets: self.secrets.clone(),
                kv_bytes: quotas.kv_bytes,
            },
            context,
            deadline,
            invoker,
        )))
    }
}

#[async_trait::async_trait]
impl Invoker for Host {
    async fn invoke(&self, invocation: Invocation) -> Result<String, InvokeFailure> {
        let args: Value = serde_json::from_str(&invocation.args_json)
            .map_err(|e| InvokeFailure::InvalidArgs(format!("the arguments are not JSON: {e}")))?;
        let context = CallContext {
            request_id: invocation.request_id,
            idempotency_key: None,
            depth: invocation.depth,
            deadline: Some(invocation.deadline),
        };
        match self
            .call(&invocation.tenant, &invocation.procedure, &args, &context)
            .await
        {
            Ok(output) => String::from_utf8(output.body).map_err(|_| InvokeFailure::Failed {
                kind: ErrorKind::Internal.as_str().into(),
                detail: "the result is not UTF-8".into(),
            }),
            Err(CallError::NotFound(_)) => Err(InvokeFailure::NotFound),
            Err(CallError::InvalidArgs(e)) => Err(InvokeFailure::InvalidArgs(e.to_string())),
            Err(CallError::ProcedureError(value)) => {
                Err(InvokeFailure::ProcedureError(value.to_string()))
            }
            Err(CallError::Quota(refusal)) => Err(InvokeFailure::Failed {
                kind: ErrorKind::QuotaExceeded.as_str().into(),
                detail: refusal.detail,
            }),
            Err(CallError::Failure(failure)) => Err(InvokeFailure::Failed {
                kind: failure.kind().as_str().into(),
                detail: failure.to_string(),
            }),
        }
    }
}

/// Let one more call of `tenant` run: refused when the tenant has used its fuel for the
/// minute or runs its quota of instances. The slot is the tenant's until dropped.
pub(super) fn admit_call(
    tenant: &str,
    quotas: &Quotas,
    usage: &TenantUsage,
) -> Result<crate::quota::InstanceSlot, CallError> {
    if let Some(wait) = usage.fuel_wait() {
        return Err(CallError::Quota(QuotaRefusal {
            quota: "fuel_per_minute",
            detail: format!(
                "tenant {tenant} has used its fuel for the minute ({} per minute); it refills in {} s",
                quotas.fuel_per_minute,
                wait.as_secs().max(1)
            ),
            ceiling: false,
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }));
    }
    usage.instance().ok_or_else(|| {
        CallError::Quota(QuotaRefusal {
            quota: "concurrent_instances",
            detail: format!(
                "tenant {tenant} runs {} instances at once, its quota; retry shortly",
                quotas.concurrent_instances
            ),
            ceiling: false,
            retry_after_secs: 1,
        })
    })
}

/// The account of a call that `usage`'s tenant makes.
pub(super) fn account(usage: Arc<TenantUsage>) -> Account {
    Account {
        computing: usage.computing(),
        meter: Box::new(move |used| usage.draw_fuel(used)),
    }
}
