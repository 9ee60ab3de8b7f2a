//! The one wasmtime [`Engine`] of a host, its epoch ticker, compilation and the on-disk
//! cache of compiled components.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits;

use super::host_imports::{self, ImportsHook};
use super::state::StoreState;

/// Errors building the engine or compiling a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("configuring the WebAssembly engine: {0}")]
    Engine(String),
    #[error("{0}")]
    Compile(String),
    #[error("{0}")]
    Link(String),
}

/// Component instances the pool holds at once: the calls' slots and their callees', plus
/// headroom for instances being torn down while new ones start.
const POOL_COMPONENT_INSTANCES: u32 =
    (limits::MAX_CONCURRENT_INSTANCES * 2 + limits::MAX_NESTED_INSTANCES) as u32;
/// Core instances and memories one component may have. A Rust component has about three
/// core instances; toolchains that ship adapters and interpreters (componentize-py) have
/// more, so leave room.
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const POOL_MEMORIES_PER_COMPONENT: u32 = 16;
const POOL_TABLES_PER_COMPONENT: u32 = 64;
/// Bytes of linear memory kept resident in a pool slot between uses, so the next instance
/// starts without page faults. With pagemap_scan only dirty pages are reset.
const POOL_KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// The engine, the linker every component is checked against, and the call slots.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<StoreState>,
    slots: Arc<Semaphore>,
    /// The slots of calls made by calls ([`limits::MAX_NESTED_INSTANCES`]).
    nested_slots: Arc<Semaphore>,
    cache_dir: Option<PathBuf>,
    compatibility: String,
    ticker_stop: Arc<AtomicBool>,
    /// Where guest code runs (none for a checking runtime, which runs no calls).
    guests: Option<GuestThreads>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// A Tokio runtime of its own for guest code, so that guests spinning through their time
/// slices never hold the threads that accept connections and answer requests (the host's
/// own endpoints, and the I/O of every call, stay responsive under a flood of endless
/// loops). One worker thread per core.
pub(crate) struct GuestThreads(Option<tokio::runtime::Runtime>);

impl GuestThreads {
    fn start() -> std::io::Result<GuestThreads> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("tsdev-guest")
            .enable_all()
            .build()?;
        Ok(GuestThreads(Some(runtime)))
    }

    /// The handle to spawn guest calls on.
    pub(crate) fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }
}

impl Drop for GuestThreads {
    fn drop(&mut self) {
        // Dropping a runtime may happen inside another one (a host dropped in a test):
        // shut it down without waiting, which is allowed anywhere.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Runtime {
    /// A runtime for serving calls: instances from the pooling allocator, compiled
    /// components cached under `cache_dir` (none: no cache), the imports of `hooks` added
    /// to those every component gets.
    pub fn new(cache_dir: Option<PathBuf>, hooks: &[ImportsHook]) -> Result<Runtime, RuntimeError> {
        let pagemap_scan = PoolingAllocationConfig::is_pagemap_scan_available();
        let mut config = engine_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(
            pagemap_scan,
        )));
        tracing::debug!(pagemap_scan, "wasmtime engine ready (pooling allocator)");
        let guests = GuestThreads::start()
            .map_err(|e| RuntimeError::Engine(format!("starting the guest threads: {e}")))?;
        Runtime::with_config(&config, cache_dir, hooks, Some(guests))
    }

    /// A runtime for checking components (`tsdev build`): the same engine settings and
    /// imports, without the instance pool a server reserves.
    pub fn for_checking(hooks: &[ImportsHook]) -> Result<Runtime, RuntimeError> {
        Runtime::with_config(&engine_config(), None, hooks, None)
    }

    fn with_config(
        config: &Config,
        cache_dir: Option<PathBuf>,
        hooks: &[ImportsHook],
        guests: Option<GuestThreads>,
    ) -> Result<Runtime, RuntimeError> {
        let engine = Engine::new(config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let linker = host_imports::linker(&engine, hooks)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone())
            .map_err(|e| RuntimeError::Engine(format!("starting the epoch ticker thread: {e}")))?;
        let compatibility = compatibility_key(&engine);
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| RuntimeError::Engine(format!("creating {}: {e}", dir.display())))?;
        }
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                slots: Arc::new(Semaphore::new(limits::MAX_CONCURRENT_INSTANCES)),
                nested_slots: Arc::new(Semaphore::new(limits::MAX_NESTED_INSTANCES)),
                cache_dir,
                compatibility,
                ticker_stop,
                guests,
            }),
        })
    }

    /// The runtime guest calls run on; none for a checking runtime.
    pub(crate) fn guest_threads(&self) -> Option<&tokio::runtime::Handle> {
        self.inner.guests.as_ref().and_then(GuestThreads::handle)
    }

    /// The wasmtime engine (for callers that link components themselves).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The call slots ([`limits::MAX_CONCURRENT_INSTANCES`]).
    pub(crate) fn slots_owned(&self) -> Arc<Semaphore> {
        self.inner.slots.clone()
    }

    /// A slot for a call made by a call, if one is free now: of their reserve, or else of
    /// the host's. Never waits (see [`limits::MAX_NESTED_INSTANCES`]).
    pub(crate) fn free_nested_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.inner
            .nested_slots
            .clone()
            .try_acquire_owned()
            .or_else(|_| self.inner.slots.clone().try_acquire_owned())
            .ok()
    }

    /// Compile `wasm`, or load it from the cache when the same bytes were compiled by a
    /// compatible engine before. CPU-heavy: call it from a blocking thread. Nothing is
    /// written to the cache here: [`Runtime::keep_compiled`] does that for what is kept.
    pub fn compile(&self, wasm: &[u8], content_hash: &str) -> Result<Component, RuntimeError> {
        let cached = self.cache_path(content_hash);
        if let Some(path) = &cached
            && path.exists()
        {
            // SAFETY: the file was written by `Component::serialize` of an engine with the
            // same compatibility key (it is part of the name), under the host's own data
            // directory. wasmtime still checks the header and refuses a mismatch.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(&self.inner.engine, path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable compiled cache entry: {e:#}")
                }
            }
        }
        Component::new(&self.inner.engine, wasm)
            .map_err(|e| RuntimeError::Compile(format!("{e:#}")))
    }

    /// Cache the compiled form of an accepted component, so the next start loads it
    /// instead of compiling. CPU-light, but writes a file: call from a blocking thread.
    pub fn keep_compiled(&self, component: &Component, content_hash: &str) {
        if let Some(path) = self.cache_path(content_hash)
            && !path.exists()
            && let Err(e) = write_cache(&path, component)
        {
            tracing::warn!(path = %path.display(), "could not cache the compiled component: {e:#}");
        }
    }

    /// Remove every cached compiled component but those of `keep` (content hashes) for
    /// this engine; how many files went.
    pub fn collect_compiled(&self, keep: &HashSet<String>) -> usize {
        let Some(dir) = &self.inner.cache_dir else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let kept = name
                .strip_suffix(&format!("-{}.cwasm", self.inner.compatibility))
                .is_some_and(|hash| keep.contains(hash));
            if !kept && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Resolve every import of `component` against what the host provides.
    pub fn link(&self, component: &Component) -> Result<InstancePre<StoreState>, RuntimeError> {
        self.inner
            .linker
            .instantiate_pre(component)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))
    }

    fn cache_path(&self, content_hash: &str) -> Option<PathBuf> {
        let dir = self.inner.cache_dir.as_ref()?;
        Some(dir.join(format!("{content_hash}-{}.cwasm", self.inner.compatibility)))
    }
}

fn write_cache(path: &Path, component: &Component) -> anyhow::Result<()> {
    let bytes = component.serialize()?;
    // Write then rename so a crash never leaves a half-written entry behind.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// What names compiled artifacts this engine can load: SHA-256 over wasmtime's own
/// compatibility hash (its version and every setting that changes compiled code). Stable
/// across Rust releases, unlike `DefaultHasher`.
fn compatibility_key(engine: &Engine) -> String {
    struct Sha256Hasher(Sha256);
    impl Hasher for Sha256Hasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..16])
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits::MAX_WASM_STACK_BYTES);
    config
}

fn pool_config(pagemap_scan: bool) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_COMPONENT_INSTANCES)
        .total_core_instances(POOL_COMPONENT_INSTANCES * 8)
        .total_memories(POOL_COMPONENT_INSTANCES * 2)
        .total_tables(POOL_COMPONENT_INSTANCES * 8)
        .total_stacks(POOL_COMPONENT_INSTANCES)
        .max_core_instances_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(POOL_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(POOL_TABLES_PER_COMPONENT)
        .max_memory_size(limits::MAX_MEMORY_BYTES as usize)
        .table_elements(limits::MAX_TABLE_ELEMENTS)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20)
        .linear_memory_keep_resident(POOL_KEEP_RESIDENT_BYTES)
        .table_keep_resident(64 << 10);
    // pagemap_scan needs Linux >= 6.7; without it, keep-resident still helps a little.
    if pagemap_scan {
        pool.pagemap_scan(Enabled::Yes);
    }
    pool
}

/// Advance the engine's epoch every [`limits::EPOCH_TICK`] until the runtime is dropped.
fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tsdev-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(limits::EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_artifacts_are_named_by_a_stable_digest() {
        let a = Runtime::for_checking(&[]).expect("a runtime");
        let b = Runtime::for_checking(&[]).expect("another runtime");
        // SHA-256 (128 bits shown), not a `DefaultHasher` value that may change with Rust.
        assert_eq!(a.inner.compatibility.len(), 32);
        assert!(a.inner.compatibility.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.inner.compatibility, b.inner.compatibility);
        let dir = tempfile::tempdir().expect("a directory");
        let cached = Runtime::new(Some(dir.path().to_path_buf()), &[]).expect("a runtime");
        let path = cached.cache_path("abc").expect("a cache path");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(format!("abc-{}.cwasm", cached.inner.compatibility).as_str())
        );
    }

    /// A call made by a call takes its reserve first, then a free slot of the host's, and
    /// is refused (not queued) when both are used up; a freed slot serves it again.
    #[test]
    fn nested_calls_take_a_free_slot_or_none() {
        let runtime = Runtime::for_checking(&[]).expect("a runtime");
        let outer: Vec<_> = (0..limits::MAX_CONCURRENT_INSTANCES - 1)
            .map(|_| runtime.slots_owned().try_acquire_owned().expect("a slot"))
            .collect();
        let nested: Vec<_> = (0..limits::MAX_NESTED_INSTANCES + 1)
            .map(|_| runtime.free_nested_slot().expect("a nested slot"))
            .collect();
        // The reserve, then the host's last free slot.
        assert_eq!(runtime.inner.nested_slots.available_permits(), 0);
        assert_eq!(runtime.slots_owned().available_permits(), 0);
        assert!(runtime.free_nested_slot().is_none());
        drop(outer);
        assert!(runtime.free_nested_slot().is_some());
        drop(nested);
        assert_eq!(
            runtime.inner.nested_slots.available_permits(),
            limits::MAX_NESTED_INSTANCES
        );
    }
}
