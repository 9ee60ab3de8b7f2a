//! One call: a fresh `Store` with its own fuel, memory limit and deadline, instantiate
//! from the pre-linked component, call, drop.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::telemetry::traces::TraceSpan;

use wasmtime::component::{ComponentExportIndex, InstancePre, Val};
use wasmtime::{Store, UpdateDeadline};

use crate::error_kind::ErrorKind;
use crate::limits::{self, CallLimits};

use super::engine::Runtime;
use super::extension::CallExtension;
use super::failure::{self, CallFailure, FailureFacts};
use super::output::CallLabel;
use super::state::StoreState;

/// How long past its deadline a call may take to notice it (the guest checks at each epoch
/// tick; a host import may take longer) before the host abandons it.
const DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// Identity of a call, for logs and for the caller's problem reports.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// The request's id, in every log record of the call.
    pub request_id: String,
    /// For a workflow step: `{execution id}:{step sequence}`, the same for every attempt of
    /// the step, so the procedure can tell a repeat (`tsdev:host/context`).
    pub idempotency_key: Option<String>,
    /// How many calls (`tsdev:host/invoke`) this one is nested in: 0 for a call from
    /// outside.
    pub depth: u32,
    /// When the call must have ended by: the deadline of the call that invoked it.
    pub deadline: Option<std::time::Instant>,
}

impl CallContext {
    /// The context of a call made from outside (an HTTP request, a workflow).
    pub fn new(request_id: String, idempotency_key: Option<String>) -> CallContext {
        CallContext {
            request_id,
            idempotency_key,
            depth: 0,
            deadline: None,
        }
    }
}

/// Told the fuel a call used when the call ends, however it ends: returned, failed, or
/// dropped because its caller went away (so that a caller cannot hang up to avoid a fuel
/// budget).
pub type FuelMeter = Box<dyn FnOnce(u64) + Send>;

/// The most turns a call on the guest threads gives up at the end of each of its time
/// slices: its account's calls computing at once, up to this many.
const MAX_TURNS_GIVEN_UP: usize = limits::MAX_CONCURRENT_INSTANCES;

/// Whose call this is (a tenant's), for the CPU and fuel it uses.
pub struct Account {
    /// How many of the account's calls are on the guest threads now. The guest threads run
    /// slices round robin; at the end of each slice a call lets as many others go first as
    /// its account has calls there, so each account, however many calls it runs, gets
    /// about an equal share of the CPU when several compete (a flood of endless loops from
    /// one tenant slows another's long call as one more call would, not as a thousand).
    pub computing: Arc<AtomicUsize>,
    /// Told the fuel the call used.
    pub meter: FuelMeter,
}

/// A call's arguments: values, or values made in the call's own store (resources, such as
/// a wasi:http request, belong to the store of the instance that receives them).
pub enum CallParams {
    /// Plain values (a procedure's arguments from JSON).
    Values(Vec<Val>),
    /// Made in the store, just before the instance is.
    MadeInStore(MakeParams),
}

/// Makes a call's arguments in its store, before the instance is made.
pub type MakeParams = Box<dyn FnOnce(&mut Store<StoreState>) -> wasmtime::Result<Vec<Val>> + Send>;

/// What to call: a function of a pre-linked component.
pub struct Target<'a> {
    /// The pre-linked component.
    pub pre: &'a InstancePre<StoreState>,
    /// The exported function.
    pub export: &'a ComponentExportIndex,
    /// The procedure's name, for logs and failures.
    pub procedure: &'a str,
    /// How many results the function has (0 or 1).
    pub result_count: usize,
}

impl Runtime {
    /// Run `target` with `params` in a fresh instance under `limits`. The call starts on the
    /// caller's thread; once the guest runs into an epoch tick (it has run for up to one
    /// tick, or waited across one), it moves to the guest threads (see
    /// `engine::GuestThreads`) and finishes there. Short
    /// calls so pay no hand-off between threads; long ones leave the threads that serve
    /// I/O. A call whose account has calls on the guest threads already starts there. Dropping the returned future stops the call. The `account` the call is made
    /// for shares the guest threads fairly with other accounts and is told the fuel the call
    /// used.
    pub async fn invoke(
        &self,
        target: Target<'_>,
        params: &[Val],
        call_limits: CallLimits,
        context: &CallContext,
        extension: Option<Box<dyn CallExtension>>,
        account: Option<Account>,
    ) -> Result<Vec<Val>, CallFailure> {
        let params = CallParams::Values(params.to_vec());
        self.invoke_with(target, params, call_limits, context, extension, account)
            .await
    }

    /// [`Runtime::invoke`] with arguments that may be made in the call's store.
    pub async fn invoke_with(
        &self,
        target: Target<'_>,
        params: CallParams,
        call_limits: CallLimits,
        context: &CallContext,
        extension: Option<Box<dyn CallExtension>>,
        account: Option<Account>,
    ) -> Result<Vec<Val>, CallFailure> {
        let metrics = crate::metrics::metrics();
        let slot = if context.depth > 0 {
            // A call made by a call: its caller holds a slot while it waits, so it must not
            // queue behind other callers (see `limits::MAX_NESTED_INSTANCES`).
            self.free_nested_slot()
                .ok_or_else(|| CallFailure::Refused {
                    kind: ErrorKind::Busy,
                    message: "every instance slot of the host is in use; a call made by another \
                          call does not wait for one"
                        .into(),
                })?
        } else {
            // Wait for a slot here, on the caller's side: the queue holds no guest task.
            let _waiting = crate::metrics::InGauge::new(&metrics.instances_waiting);
            self.slots_owned()
                .acquire_owned()
                .await
                .map_err(|_| CallFailure::Host("the runtime is shutting down".into()))?
        };
        let sliced = Arc::new(AtomicBool::new(false));
        let (computing, meter) = match account {
            Some(Account { computing, meter }) => (Some(computing), Some(meter)),
            None => (None, None),
        };
        let call = OwnedCall {
            sliced: sliced.clone(),
            computing: computing.clone(),
            engine: self.engine().clone(),
            pre: target.pre.clone(),
            export: *target.export,
            procedure: target.procedure.to_string(),
            result_count: target.result_count,
            params,
            call_limits,
            label: CallLabel {
                request_id: context.request_id.clone(),
                procedure: target.procedure.to_string(),
                idempotency_key: context.idempotency_key.clone(),
            },
            extension,
            meter,
            _slot: slot,
            _in_use: crate::metrics::InGauge::new(&metrics.instances_in_use),
        };
        // The call's span (its trace) goes with it to the guest threads.
        let mut call = Box::pin(crate::telemetry::traces::carry(call.run()));
        let Some(guests) = self.guest_threads() else {
            return call.await;
        };
        // An account with calls on the guest threads already (a tenant running long calls,
        // or a flood of them) starts its next ones there too, so that they do not take a
        // first slice on the threads that serve I/O.
        let busy = computing
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed) > 0);
        let here = if busy {
            None
        } else {
            std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
                Poll::Ready(done) => Poll::Ready(Some(done)),
                Poll::Pending if sliced.load(Ordering::Relaxed) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            })
            .await
        };
        match here {
            Some(done) => done,
            None => AbortOnDrop(guests.spawn(async move {
                let _computing = computing.map(Computing::new);
                call.await
            }))
            .await
            .unwrap_or_else(|e| Err(CallFailure::Host(format!("the call's task failed: {e}")))),
        }
    }
}

/// Counts a call among its account's calls on the guest threads while it lives.
struct Computing(Arc<AtomicUsize>);

impl Computing {
    fn new(count: Arc<AtomicUsize>) -> Computing {
        count.fetch_add(1, Ordering::Relaxed);
        Computing(count)
    }
}

impl Drop for Computing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Aborts its task when dropped: a caller that goes away (a closed connection) stops its
/// call, as when the call ran in the caller's own task.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Everything one call needs, owned, so that it can run as a task of the guest threads.
struct OwnedCall {
    /// Set when the guest yields at an epoch tick: it has used a whole time slice.
    sliced: Arc<AtomicBool>,
    /// Its account's calls on the guest threads (see [`Account`]).
    computing: Option<Arc<AtomicUsize>>,
    engine: wasmtime::Engine,
    pre: InstancePre<StoreState>,
    export: ComponentExportIndex,
    procedure: String,
    result_count: usize,
    params: CallParams,
    call_limits: CallLimits,
    label: CallLabel,
    extension: Option<Box<dyn CallExtension>>,
    meter: Option<FuelMeter>,
    /// The runtime's call slot, released when the call ends.
    _slot: tokio::sync::OwnedSemaphorePermit,
    /// Counts the call among the instances in use while it lives.
    _in_use: crate::metrics::InGauge,
}

impl OwnedCall {
    async fn run(self) -> Result<Vec<Val>, CallFailure> {
        let OwnedCall {
            sliced,
            computing,
            engine,
            pre,
            export,
            procedure,
            result_count,
            params,
            call_limits,
            label,
            extension,
            meter,
            _slot,
            _in_use,
        } = self;
        // The deadline moves on by the time the extension pauses it (a workflow run's
        // durable calls, each with limits of its own).
        let paused_time = extension.as_ref().and_then(|e| e.paused_time());
        let mut metered = MeteredStore {
            store: Store::new(
                &engine,
                StoreState::new(label, call_limits.memory_bytes, extension),
            ),
            fuel: call_limits.fuel,
            meter,
            span: TraceSpan::current(),
        };
        let span = metered.span.clone();
        let store = &mut metered.store;
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(call_limits.fuel)
            .map_err(|e| CallFailure::Host(format!("{e:#}")))?;
        let started = Instant::now();
        let deadline = move || {
            let paused = paused_time.as_ref().map_or(Duration::ZERO, |t| t.total());
            started + call_limits.timeout() + paused
        };
        store.set_epoch_deadline(1);
        // Once per tick: give the thread back to other tasks, and stop at the deadline.
        let epoch_deadline = deadline.clone();
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= epoch_deadline() {
                return Ok(UpdateDeadline::Interrupt);
            }
            sliced.store(true, Ordering::Relaxed);
            let turns = computing
                .as_ref()
                .map_or(1, |c| c.load(Ordering::Relaxed))
                .clamp(1, MAX_TURNS_GIVEN_UP);
            if turns == 1 {
                return Ok(UpdateDeadline::Yield(1));
            }
            // Go to the back of the guest threads' queue once per call of its account
            // computing now: each turn given up costs a poll, not a slice.
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    for _ in 0..turns {
                        tokio::task::yield_now().await;
                    }
                }),
            ))
        });

        let run = async {
            let params = match params {
                CallParams::Values(values) => values,
                CallParams::MadeInStore(make) => make(&mut *store)?,
            };
            let instance = pre.instantiate_async(&mut *store).await?;
            let instantiated = Instant::now();
            span.set_count("tsdev.instantiate_us", micros(instantiated - started));
            let func = instance.get_func(&mut *store, export).ok_or_else(|| {
                wasmtime::format_err!("the instance has no export for {procedure}")
            })?;
            let mut results = vec![Val::Bool(false); result_count];
            func.call_async(&mut *store, &params, &mut results).await?;
            span.set_count("tsdev.guest_us", micros(instantiated.elapsed()));
            wasmtime::Result::Ok(results)
        };
        let outcome = async {
            tokio::pin!(run);
            loop {
                let abandon_at = deadline() + DEADLINE_GRACE;
                match tokio::time::timeout_at(abandon_at.into(), &mut run).await {
                    Ok(done) => return Ok(done),
                    // The deadline moved on meanwhile (a durable call ended).
                    Err(_) if Instant::now() < deadline() + DEADLINE_GRACE => {}
                    Err(elapsed) => return Err(elapsed),
                }
            }
        }
        .await;
        store.data().output.flush();
        match outcome {
            Ok(Ok(results)) => Ok(results),
            Ok(Err(error)) => {
                let error: wasmtime::Error = error;
                let state = store.data();
                if state
                    .extension
                    .as_ref()
                    .is_some_and(|e| e.is_interrupt(&error))
                {
                    return Err(CallFailure::Interrupted(error));
                }
                Err(failure::classify(FailureFacts {
                    error: &error,
                    fuel: call_limits.fuel,
                    timeout_ms: call_limits.timeout_ms,
                    memory_limit: call_limits.memory_bytes,
                    memory_refused: state.limiter.refused,
                    stderr_tail: state.output.stderr_tail(),
                }))
            }
            Err(_elapsed) => Err(CallFailure::Timeout {
                timeout_ms: call_limits.timeout_ms,
            }),
        }
    }
}

/// A call's `Store`, which reports the fuel the call used when dropped: at the call's end,
/// or when the caller goes away and the call's future is dropped with it.
struct MeteredStore {
    store: Store<StoreState>,
    /// The fuel the call started with.
    fuel: u64,
    meter: Option<FuelMeter>,
    /// The call's span, told the fuel used.
    span: TraceSpan,
}

impl Drop for MeteredStore {
    fn drop(&mut self) {
        let Ok(left) = self.store.get_fuel() else {
            return;
        };
        let used = self.fuel.saturating_sub(left);
        self.span.set_count("tsdev.fuel_used", used);
        crate::metrics::metrics().fuel_used.observe(used as f64);
        if let Some(meter) = self.meter.take() {
            meter(used);
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Serialize a JSON result, refusing one over [`limits::MAX_RESULT_BYTES`].
pub(crate) fn result_body(value: &serde_json::Value) -> Result<Vec<u8>, CallFailure> {
    let body = serde_json::to_vec(value).map_err(|e| CallFailure::Host(e.to_string()))?;
    if body.len() > limits::MAX_RESULT_BYTES {
        return Err(CallFailure::ResultTooLarge {
            bytes: body.len(),
            limit: limits::MAX_RESULT_BYTES,
        });
    }
    Ok(body)
}
