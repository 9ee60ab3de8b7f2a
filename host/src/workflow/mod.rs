//! Durable workflows: functions of components that import `tsdev:workflow/durable`, run by
//! replay. See docs/design/workflows.md.
//!
//! - [`replay`]: one run's journal and the durable host imports.
//! - [`engine`]: starting executions, the scheduler that claims due ones, one run.

pub mod engine;
pub mod replay;

pub use replay::Replay;
