//! The seam through which a layer above the runtime adds to a call: a workflow run gives
//! its instance deterministic clocks and randomness, answers its durable imports from its
//! own state, and stops the call's deadline while a durable call is under way. The runtime
//! knows nothing of what an extension is for.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime_wasi::WasiCtxBuilder;

/// What a caller of [`super::Runtime::invoke`] adds to one call's `Store`.
pub trait CallExtension: Any + Send {
    /// Change the call's WASI context before it is built (clocks, randomness).
    fn configure_wasi(&self, _wasi: &mut WasiCtxBuilder) {}

    /// Time the call's deadline does not count: see [`PausedTime`].
    fn paused_time(&self) -> Option<PausedTime> {
        None
    }

    /// Whether `error`, which ended the call, is this extension stopping it on purpose
    /// (rather than a failure of the guest): the caller then gets it back as
    /// [`super::CallFailure::Interrupted`].
    fn is_interrupt(&self, _error: &wasmtime::Error) -> bool {
        false
    }

    /// What sends the call's outbound HTTP requests (`wasi:http/outgoing-handler`); without
    /// it every request is denied.
    fn http_hooks(&mut self) -> Option<&mut dyn wasmtime_wasi_http::WasiHttpHooks> {
        None
    }

    /// For the imports that downcast to the extension they belong to.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Time a call spends in host work that its own deadline does not count (a workflow's
/// durable calls: steps under their own limits, retries, journal commits). The call's
/// deadline moves on by this much, and stands still while such work is under way. Shared
/// between the call's deadline checks and whoever does the work.
#[derive(Clone, Debug, Default)]
pub struct PausedTime(Arc<Mutex<PauseClock>>);

#[derive(Debug, Default)]
struct PauseClock {
    /// Paused work that has ended.
    ended: Duration,
    /// When the paused work under way began.
    since: Option<Instant>,
}

impl PausedTime {
    /// Run `work`, counting its time as paused.
    pub async fn timed<T>(&self, work: impl Future<Output = T>) -> T {
        self.clock().since = Some(Instant::now());
        let output = work.await;
        let mut clock = self.clock();
        if let Some(since) = clock.since.take() {
            clock.ended += since.elapsed();
        }
        output
    }

    /// Paused time so far, the work under way included.
    pub fn total(&self) -> Duration {
        let clock = self.clock();
        clock.ended + clock.since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, PauseClock> {
        // Two plain fields: consistent whatever a panicking holder did.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
