//! What each call's `Store` holds: WASI with nothing granted, the memory limiter, the
//! call's identity for logs, its captured output, and what its caller added (an
//! [`CallExtension`]).

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::limits;

use super::extension::CallExtension;
use super::output::{CallLabel, GuestOutput};

/// The data of one call's `Store`.
pub struct StoreState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) no_outbound_http: DenyOutbound,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) label: CallLabel,
    pub(crate) output: GuestOutput,
    /// What the caller added to this call (a workflow run's replay state).
    pub(crate) extension: Option<Box<dyn CallExtension>>,
}

impl StoreState {
    /// The state of one call, with what `extension` adds to it.
    pub fn new(
        label: CallLabel,
        memory_bytes: u64,
        extension: Option<Box<dyn CallExtension>>,
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
        if let Some(extension) = &extension {
            extension.configure_wasi(&mut builder);
        }
        StoreState {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            no_outbound_http: DenyOutbound,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_bytes),
            label,
            output,
            extension,
        }
    }

    /// Who is calling what.
    pub fn label(&self) -> &CallLabel {
        &self.label
    }

    /// The call's extension, when it is a `T`.
    pub fn extension_mut<T: CallExtension>(&mut self) -> Option<&mut T> {
        self.extension
            .as_mut()
            .and_then(|e| e.as_any_mut().downcast_mut::<T>())
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

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let hooks = self.extension.as_mut().and_then(|e| e.http_hooks());
        WasiHttpCtxView {
            hooks: hooks.unwrap_or(&mut self.no_outbound_http),
            ctx: &mut self.http,
            table: &mut self.table,
        }
    }
}

/// The hooks of a call whose caller gave none (a workflow's own code): every outbound
/// request is denied.
pub(crate) struct DenyOutbound;

impl WasiHttpHooks for DenyOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Caps the linear memory of all memories of one instance together, and remembers that it
/// refused a grow: a guest whose allocator sees a failed grow usually aborts, which would
/// otherwise look like any other trap.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
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
