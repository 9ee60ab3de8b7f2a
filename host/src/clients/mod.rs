//! Typed clients generated from a host's procedure catalogue (`GET /procedures`: names,
//! WIT signatures, and the JSON Schemas derived from the WIT types).
//!
//! - [`typescript`]: a fetch client with a type per procedure's arguments and result.

pub(crate) mod typescript;
