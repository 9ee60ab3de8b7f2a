//! Durable workflows: functions of components that import `tsdev:workflow/durable`, run by
//! replay. See docs/design/workflows.md.
//!
//! - [`replay`]: one run's journal and the durable host imports.
//! - [`engine`]: starting executions, the scheduler that claims due ones, one run.
//! - [`retry`]: which step failures are retried, and how long to wait in between.
//! - [`determinism`]: WASI clocks and randomness that cannot make a replay diverge.
//! - [`waiters`]: callers waiting for the run of one execution to end.

pub mod determinism;
pub mod engine;
pub mod replay;
pub mod retry;
pub mod waiters;

pub use replay::Replay;
