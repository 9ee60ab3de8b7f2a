//! Durable workflows: functions of components that import `tsdev:workflow/durable`, run by
//! replay over a typed journal. The [`WorkflowEngine`] owns them on a node; the runtime
//! below knows nothing of them (a run adds its imports and clocks through
//! [`crate::runtime::CallExtension`]). See docs/design/workflows.md.
//!
//! - [`engine`]: the engine: starting executions, the scheduler that claims due ones, one
//!   run, and the operations on executions (cancel, signal, read).
//! - [`replay`]: one run's journal and what the durable imports do.
//! - [`imports`]: the `tsdev:workflow/durable` bindings.
//! - [`interrupt`]: how a durable import stops a run (sleep, wait, limits).
//! - [`retry`]: retry policies and the wait before each next attempt.
//! - [`schedules`]: firing cron schedules (`crate::schedule`), each tick once across nodes.
//! - [`determinism`]: WASI clocks and randomness that cannot make a replay diverge.
//! - [`waiters`]: callers waiting for the run of one execution to end.

pub(crate) mod determinism;
pub(crate) mod engine;
pub(crate) mod imports;
pub(crate) mod interrupt;
pub(crate) mod replay;
pub(crate) mod retry;
pub(crate) mod schedules;
pub(crate) mod waiters;

pub use engine::{IMPORTS, WorkflowEngine};
pub use schedules::spawn as fire_schedules;
pub use waiters::Finished;
