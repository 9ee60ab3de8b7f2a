//! What each call's `Store` holds: WASI with nothing granted, the memory limiter, the
//! call's identity for logs, and its captured output.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits;

use super::output::GuestOutput;

/// Who is calling what, for log records.
#[derive(Clone, Debug)]
pub struct CallLabel {
    pub request_id: String,
    pub procedure: String,
    /// Set for workflow steps (see `CallContext::idempotency_key`).
    pub idempotency_key: Option<String>,
}

/// The data of one call's `Store`.
pub struct StoreState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) label: CallLabel,
    pub(crate) output: GuestOutput,
    /// Set when the call is a run of a durable workflow.
    pub(crate) workflow: Option<crate::workflow::Replay>,
}

impl StoreState {
    /// The state of a procedure call, or of a workflow run when `workflow` is set (its
    /// WASI clocks and randomness are then deterministic: [`crate::workflow::determinism`]).
    pub fn new(
        label: CallLabel,
        memory_bytes: u64,
        workflow: Option<crate::workflow::Replay>,
    ) -> StoreState {
        let output = GuestOutput::new(label.clone());
        // Nothing ambient: no args, no environment, no preopened directories, no network,
        // no inherited stdio. Output goes to the host log through `GuestOutput`.
        let mut builder = WasiCtx::builder();
        builder
            .stdout(output.stream(super::output::Stream::Stdout))
            .stderr(output.stream(super::output::Stream::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(replay) = &workflow {
            use crate::workflow::determinism::{FrozenMonotonicClock, FrozenWallClock, ReplayRng};
            let id = &replay.execution_id;
            let created = std::time::Duration::from_millis(
                u64::try_from(replay.created_at).unwrap_or_default(),
            );
            builder
                .secure_random(ReplayRng::new(id, "secure", replay.position.clone()))
                .insecure_random(ReplayRng::new(id, "insecure", replay.position.clone()))
                .insecure_random_seed(crate::workflow::determinism::seed_of(id))
                .wall_clock(FrozenWallClock(created))
                .monotonic_clock(FrozenMonotonicClock);
        }
        StoreState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_bytes),
            label,
            output,
            workflow,
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps the linear memory of all memories of one instance together, and remembers that it
/// refused a grow: a guest whose allocator sees a failed grow usually aborts, which would
/// otherwise look like any other trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: u64,
    /// Bytes currently held by the instance's memories.
    in_use: u64,
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    fn new(limit: u64) -> MemoryLimiter {
        MemoryLimiter {
            limit,
            in_use: 0,
            refused: None,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let total = self.in_use.saturating_add(growth);
        if total > self.limit {
            tracing::debug!(
                limit = self.limit,
                wanted = total,
                "memory limit refused a grow"
            );
            self.refused = Some(total);
            return Ok(false);
        }
        self.in_use = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= limits::MAX_TABLE_ELEMENTS)
    }
}
