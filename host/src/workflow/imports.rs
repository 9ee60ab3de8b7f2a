//! The `tsdev:workflow/durable` imports from `wit/workflow`: every component may import
//! them (so it is checked and linked the same way), and they act only in a workflow run,
//! on its [`Replay`]. A procedure that calls one fails with `workflow-only`.

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use wasmtime::component::{HasSelf, Linker};

use super::interrupt::WorkflowInterrupt;
use super::replay::Replay;
use super::retry::{RetryPolicy, StepOptions};
use crate::error_kind::ErrorKind;
use crate::runtime::StoreState;
use crate::runtime::failure::ImportRefused;
use crate::store::journal::CallOutcome;
use crate::telemetry::traces::TraceSpan;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/workflow",
        world: "tsdev:workflow/workflow-imports",
        // Durable calls await the store and other procedures, and stop a run by trapping.
        imports: { default: async | trappable },
    });
}

use self::bindings::WorkflowImports;
use self::bindings::tsdev::workflow::durable::{
    Host as DurableHost, StepError, StepOptions as WitStepOptions,
};

/// Add the durable imports to `linker` (a [`crate::runtime::ImportsHook`]).
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    WorkflowImports::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

/// Run durable import `import` (about `subject`: the procedure called, the signal awaited)
/// on the run's replay state, its time counted as durable (not against the run's own
/// deadline); refused when a procedure (not a workflow) calls it, a trap when the run must
/// stop. A step on new ground (not answered from the journal) is a span of the run's trace.
async fn durable<T>(
    state: &mut StoreState,
    import: &'static str,
    subject: &str,
    call: impl AsyncFnOnce(&mut Replay) -> Result<T, WorkflowInterrupt>,
) -> wasmtime::Result<T> {
    let Some(replay) = state.extension_mut::<Replay>() else {
        return Err(wasmtime::Error::new(ImportRefused {
            kind: ErrorKind::WorkflowOnly,
            message: format!(
                "{import} is only available to workflows started with POST /v1/workflows/{{name}}/executions"
            ),
        }));
    };
    let time = replay.durable_time.clone();
    let span = if replay.cursor >= replay.journal.len() {
        let seq = i64::try_from(replay.cursor + 1).unwrap_or(i64::MAX);
        TraceSpan::child(SpanKind::Internal, || {
            (
                format!("{import} {subject}"),
                vec![
                    KeyValue::new("tsdev.step", import),
                    KeyValue::new("tsdev.subject", subject.to_string()),
                    KeyValue::new("tsdev.seq", seq),
                ],
            )
        })
    } else {
        TraceSpan::none()
    };
    time.timed(span.around(call(replay)))
        .await
        .map_err(wasmtime::Error::new)
}

impl DurableHost for StoreState {
    async fn call(
        &mut self,
        procedure: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, StepError>> {
        let subject = procedure.clone();
        let outcome = durable(self, "durable.call", &subject, async |r| {
            r.call(procedure, args_json, StepOptions::default()).await
        })
        .await?;
        Ok(step_result(outcome))
    }

    async fn call_with(
        &mut self,
        procedure: String,
        args_json: String,
        options: WitStepOptions,
    ) -> wasmtime::Result<Result<String, StepError>> {
        let retry = options.retry.map_or_else(RetryPolicy::default, |r| {
            RetryPolicy::bounded(
                r.max_attempts,
                r.initial_interval_ms,
                r.multiplier,
                r.max_interval_ms,
            )
        });
        let options = StepOptions {
            name: options.name,
            retry,
        };
        let subject = procedure.clone();
        let outcome = durable(self, "durable.call-with", &subject, async |r| {
            r.call(procedure, args_json, options).await
        })
        .await?;
        Ok(step_result(outcome))
    }

    async fn call_all(
        &mut self,
        calls: Vec<(String, String)>,
    ) -> wasmtime::Result<Vec<Result<String, StepError>>> {
        let outcomes = durable(self, "durable.call-all", "", async |r| {
            r.call_all(calls).await
        })
        .await?;
        Ok(outcomes.into_iter().map(step_result).collect())
    }

    async fn inline_begin(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        durable(self, "durable.inline-begin", &name.clone(), async |r| {
            r.inline_begin(name)
        })
        .await
    }

    async fn inline_end(&mut self, name: String, result_json: String) -> wasmtime::Result<()> {
        let result: serde_json::Value = serde_json::from_str(&result_json).map_err(|e| {
            wasmtime::Error::msg(format!(
                "durable.inline-end: the result of step {name} is not valid JSON: {e}"
            ))
        })?;
        durable(self, "durable.inline-end", &name.clone(), async |r| {
            r.inline_end(name, result).await
        })
        .await
    }

    async fn sleep(&mut self, ms: u64) -> wasmtime::Result<()> {
        durable(self, "durable.sleep", &format!("{ms} ms"), async |r| {
            r.sleep(ms).await
        })
        .await
    }

    async fn wait_signal(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<Option<String>> {
        durable(self, "durable.wait-signal", &name.clone(), async |r| {
            r.wait_signal(name, timeout_ms).await
        })
        .await
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        durable(self, "durable.now", "", async |r| r.now().await).await
    }
}

/// A step's outcome as the WIT result.
fn step_result(outcome: CallOutcome) -> Result<String, StepError> {
    match outcome {
        CallOutcome::Ok { ok } => Ok(ok.to_string()),
        CallOutcome::Failed { err, .. } => Err(StepError {
            kind: err.kind.as_str().to_string(),
            message: err.message,
            error_json: err.error.filter(|e| !e.is_null()).map(|e| e.to_string()),
        }),
    }
}
