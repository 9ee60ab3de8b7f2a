//! The imports the host gives every guest: WASI 0.2 (with nothing granted, see
//! [`super::state`]) and `tsdev:host` from `wit/host`.

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::limits;
use crate::runtime::failure::WorkflowInterrupt;
use crate::workflow::Replay;

use super::state::StoreState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/host",
        world: "tsdev:host/imports",
    });
}

mod workflow_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/workflow",
        world: "tsdev:workflow/workflow-imports",
        // Durable calls await the store and other procedures, and stop a run by trapping.
        imports: { default: async | trappable },
    });
}

use self::bindings::Imports;
use self::bindings::tsdev::host::context::Host as ContextHost;
use self::bindings::tsdev::host::log::{Host as LogHost, Level};
use self::workflow_bindings::WorkflowImports;
use self::workflow_bindings::tsdev::workflow::durable::{
    Host as DurableHost, StepError, StepOptions as WitStepOptions,
};
use crate::workflow::retry::{RetryPolicy, StepOptions};

/// The linker every uploaded component is checked against and instantiated with.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Imports::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)?;
    WorkflowImports::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)?;
    Ok(linker)
}

impl LogHost for StoreState {
    fn log(&mut self, level: Level, mut message: String) {
        if message.len() > limits::MAX_LOG_MESSAGE_BYTES {
            let mut end = limits::MAX_LOG_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("… (truncated)");
        }
        let request_id = &self.label.request_id;
        let procedure = &self.label.procedure;
        match level {
            Level::Trace => {
                tracing::trace!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "tsdev::guest", %request_id, %procedure, "{message}")
            }
        }
    }
}

impl ContextHost for StoreState {
    fn request_id(&mut self) -> String {
        self.label.request_id.clone()
    }

    fn idempotency_key(&mut self) -> Option<String> {
        self.label.idempotency_key.clone()
    }
}

impl StoreState {
    /// Run durable import `import` on the run's replay state, its time counted as durable
    /// (not against the run's own deadline); a trap when a procedure (not a workflow)
    /// calls it, or when the run must stop.
    async fn durable<T>(
        &mut self,
        import: &'static str,
        call: impl AsyncFnOnce(&mut Replay) -> Result<T, WorkflowInterrupt>,
    ) -> wasmtime::Result<T> {
        let replay = self
            .workflow
            .as_mut()
            .ok_or_else(|| wasmtime::Error::new(WorkflowInterrupt::NotAWorkflow(import)))?;
        let time = replay.durable_time.clone();
        time.timed(call(replay)).await.map_err(wasmtime::Error::new)
    }
}

impl DurableHost for StoreState {
    async fn call(
        &mut self,
        procedure: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, StepError>> {
        let outcome = self
            .durable("durable.call", async |r| {
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
        let outcome = self
            .durable("durable.call-with", async |r| {
                r.call(procedure, args_json, options).await
            })
            .await?;
        Ok(step_result(outcome))
    }

    async fn call_all(
        &mut self,
        calls: Vec<(String, String)>,
    ) -> wasmtime::Result<Vec<Result<String, StepError>>> {
        let outcomes = self
            .durable("durable.call-all", async |r| r.call_all(calls).await)
            .await?;
        Ok(outcomes.into_iter().map(step_result).collect())
    }

    async fn inline_begin(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        self.durable("durable.inline-begin", async |r| r.inline_begin(name))
            .await
    }

    async fn inline_end(&mut self, name: String, result_json: String) -> wasmtime::Result<()> {
        let result: serde_json::Value = serde_json::from_str(&result_json).map_err(|e| {
            wasmtime::Error::msg(format!(
                "durable.inline-end: the result of step {name} is not valid JSON: {e}"
            ))
        })?;
        self.durable("durable.inline-end", async |r| {
            r.inline_end(name, result).await
        })
        .await
    }

    async fn sleep(&mut self, ms: u64) -> wasmtime::Result<()> {
        self.durable("durable.sleep", async |r| r.sleep(ms).await)
            .await
    }

    async fn wait_signal(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<Option<String>> {
        self.durable("durable.wait-signal", async |r| {
            r.wait_signal(name, timeout_ms).await
        })
        .await
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        self.durable("durable.now", async |r| r.now().await).await
    }
}

/// A step outcome (`{"ok": …}` or `{"err": …}`) as the WIT result.
fn step_result(outcome: serde_json::Value) -> Result<String, StepError> {
    match outcome.get("ok") {
        Some(result) => Ok(result.to_string()),
        None => {
            let err = &outcome["err"];
            Err(StepError {
                kind: err["kind"].as_str().unwrap_or("internal").to_string(),
                message: err["message"].as_str().unwrap_or_default().to_string(),
                error_json: err
                    .get("error")
                    .filter(|e| !e.is_null())
                    .map(|e| e.to_string()),
            })
        }
    }
}
