//! How a failed call is classified. Every kind maps to a stable problem `kind` over HTTP.

use wasmtime::Trap;

use crate::error_kind::ErrorKind;

/// Why a guest call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// The call used all its fuel.
    #[error("the call used all of its {fuel} units of fuel")]
    OutOfFuel {
        /// The fuel it had.
        fuel: u64,
    },
    /// The call ran past its deadline.
    #[error("the call ran past its deadline of {timeout_ms} ms")]
    Timeout {
        /// The deadline, from the call's start.
        timeout_ms: u64,
    },
    /// The guest asked for more memory than its limit.
    #[error("the guest tried to use {wanted} bytes of memory; the limit is {limit} bytes")]
    MemoryLimit {
        /// The memory it asked for.
        wanted: u64,
        /// Its limit.
        limit: u64,
    },
    /// The guest overflowed its stack.
    #[error("the guest overflowed its stack")]
    StackOverflow,
    /// The guest trapped (a panic, `unreachable`, …).
    #[error("the guest trapped: {message}")]
    Trap {
        /// The trap, with the guest's panic message when it left one.
        message: String,
    },
    /// The result is over the result size limit.
    #[error("the result is {bytes} bytes of JSON; the limit is {limit} bytes")]
    ResultTooLarge {
        /// Its size as JSON.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The host failed to run the call.
    #[error("the host could not run the call: {0}")]
    Host(String),
    /// A host import refused what the guest asked of it (see [`ImportRefused`]).
    #[error("{message}")]
    Refused {
        /// The kind the caller sees.
        kind: ErrorKind,
        /// Why, for people.
        message: String,
    },
    /// The call's [`super::CallExtension`] stopped it on purpose (a workflow run that
    /// sleeps, for one); the extension knows what the error holds.
    #[error("{0}")]
    Interrupted(wasmtime::Error),
}

impl CallFailure {
    /// The stable kind of this failure, as the HTTP API and workflow journals name it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CallFailure::OutOfFuel { .. } => ErrorKind::OutOfFuel,
            CallFailure::Timeout { .. } => ErrorKind::Timeout,
            CallFailure::MemoryLimit { .. } => ErrorKind::MemoryLimit,
            CallFailure::StackOverflow => ErrorKind::StackOverflow,
            CallFailure::Trap { .. } => ErrorKind::Trap,
            CallFailure::ResultTooLarge { .. } => ErrorKind::ResultTooLarge,
            CallFailure::Refused { kind, .. } => *kind,
            CallFailure::Interrupted(_) | CallFailure::Host(_) => ErrorKind::Internal,
        }
    }
}

/// The error a host import returns to fail the call with a kind of its own (a durable
/// import called by a procedure, for one): the caller gets [`CallFailure::Refused`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ImportRefused {
    pub kind: ErrorKind,
    pub message: String,
}

/// What the runtime knows about a call when it failed.
pub(crate) struct FailureFacts<'a> {
    pub error: &'a wasmtime::Error,
    pub fuel: u64,
    pub timeout_ms: u64,
    pub memory_limit: u64,
    pub memory_refused: Option<u64>,
    pub stderr_tail: String,
}

pub(crate) fn classify(facts: FailureFacts<'_>) -> CallFailure {
    if let Some(refused) = facts.error.downcast_ref::<ImportRefused>() {
        return CallFailure::Refused {
            kind: refused.kind,
            message: refused.message.clone(),
        };
    }
    // A refused grow explains whatever the guest did next (abort, unreachable, ...).
    if let Some(wanted) = facts.memory_refused {
        return CallFailure::MemoryLimit {
            wanted,
            limit: facts.memory_limit,
        };
    }
    match facts.error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallFailure::OutOfFuel { fuel: facts.fuel },
        Some(Trap::Interrupt) => CallFailure::Timeout {
            timeout_ms: facts.timeout_ms,
        },
        Some(Trap::StackOverflow) => CallFailure::StackOverflow,
        Some(Trap::MemoryOutOfBounds) => CallFailure::Trap {
            message: panic_message(&facts.stderr_tail).unwrap_or_else(|| {
                // Rust and C guests keep their stack at the bottom of linear memory: running
                // off it wraps to an address far out of bounds.
                format!(
                    "{} (in Rust and C guests this is often an overflow of the guest's own stack)",
                    Trap::MemoryOutOfBounds
                )
            }),
        },
        Some(trap) => CallFailure::Trap {
            message: panic_message(&facts.stderr_tail).unwrap_or_else(|| trap.to_string()),
        },
        None => CallFailure::Trap {
            message: panic_message(&facts.stderr_tail)
                .unwrap_or_else(|| format!("{:#}", facts.error)),
        },
    }
}

/// The message of a Rust panic from what the guest wrote to stderr:
/// `thread '…' panicked at src/lib.rs:3:5:\nMESSAGE\nnote: run with …`.
pub(crate) fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let after = &stderr[start..];
    let (location_line, rest) = after.split_once('\n')?;
    let location = location_line
        .trim_start_matches("panicked at ")
        .trim_end_matches(':');
    let message: Vec<&str> = rest
        .lines()
        .take_while(|line| !line.starts_with("note: run with"))
        .collect();
    let message = message.join("\n");
    let message = message.trim();
    if message.is_empty() {
        return Some(format!("panicked at {location}"));
    }
    Some(format!("panicked at {location}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_is_taken_from_rust_stderr() {
        let stderr = "noise\nthread '<unnamed>' panicked at src/lib.rs:12:9:\nboom: 42\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("panicked at src/lib.rs:12:9: boom: 42")
        );
        assert_eq!(panic_message("just an error line\n"), None);
    }
}
