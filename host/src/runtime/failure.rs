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
            message: guest_message(&facts.stderr_tail, || {
                // Rust and C guests keep their stack at the bottom of linear memory: running
                // off it wraps to an address far out of bounds.
                format!(
                    "{} (in Rust and C guests this is often an overflow of the guest's own stack)",
                    Trap::MemoryOutOfBounds
                )
            }),
        },
        Some(trap) => CallFailure::Trap {
            message: guest_message(&facts.stderr_tail, || trap.to_string()),
        },
        None => CallFailure::Trap {
            message: guest_message(&facts.stderr_tail, || format!("{:#}", facts.error)),
        },
    }
}

/// What a trap's message says: a Rust panic's message if the guest wrote one to stderr
/// (a guest toolchain's runtime written in Rust panics too, after printing the exception
/// of its language: what came before the panic is quoted after it), else `trap` with the
/// end of the guest's stderr.
fn guest_message(stderr: &str, trap: impl FnOnce() -> String) -> String {
    match panic_message(stderr) {
        Some(panic) => {
            let at = stderr.rfind("panicked at ").unwrap_or(0);
            let line_start = stderr[..at].rfind('\n').map_or(0, |i| i + 1);
            with_guest_output(panic, &stderr[..line_start])
        }
        None => with_guest_output(trap(), stderr),
    }
}

/// The most of a guest's stderr a trap's message quotes, in characters (its end).
const GUEST_OUTPUT_IN_MESSAGE: usize = 1_000;

/// `message`, followed by the end of what the guest wrote to stderr, if anything: a
/// JavaScript or Python guest's exception and stack end up there, and the trap itself
/// (`wasm unreachable`) says nothing of them. Control characters (newlines too) are escaped.
fn with_guest_output(message: String, stderr: &str) -> String {
    let said = stderr.trim();
    if said.is_empty() {
        return message;
    }
    let count = said.chars().count();
    let tail: String = said
        .chars()
        .skip(count.saturating_sub(GUEST_OUTPUT_IN_MESSAGE))
        .collect();
    let cut = if count > GUEST_OUTPUT_IN_MESSAGE {
        "…"
    } else {
        ""
    };
    // Escaped whole, newlines too: the message is also logged, and must stay one record.
    let printable = super::output::printable(&tail);
    format!("{message}; the guest's stderr ends: {cut}{printable}")
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

    #[test]
    fn a_panic_after_another_languages_exception_quotes_the_exception() {
        let error = wasmtime::Error::from(Trap::UnreachableCodeReached);
        let stderr = "Traceback (most recent call last):\nValueError: the sky fell\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\nnote: run with `RUST_BACKTRACE=1`\n";
        let CallFailure::Trap { message } = classify(FailureFacts {
            error: &error,
            fuel: 1,
            timeout_ms: 1,
            memory_limit: 1,
            memory_refused: None,
            stderr_tail: stderr.into(),
        }) else {
            panic!("a trap");
        };
        assert!(
            message.starts_with("panicked at runtime/src/lib.rs:1280:25: Python function threw")
                && message.ends_with(r"ValueError: the sky fell"),
            "{message}"
        );
        assert!(!message.contains("RUST_BACKTRACE"), "{message}");
    }

    #[test]
    fn a_trap_quotes_the_end_of_the_guests_stderr() {
        let error = wasmtime::Error::from(Trap::UnreachableCodeReached);
        let facts = |stderr: &str| FailureFacts {
            error: &error,
            fuel: 1,
            timeout_ms: 1,
            memory_limit: 1,
            memory_refused: None,
            stderr_tail: stderr.to_string(),
        };
        let said = "Traceback (most recent call last):\n  File \"app.py\"\nValueError: no \u{1b}[31mgood\n";
        let CallFailure::Trap { message } = classify(facts(said)) else {
            panic!("a trap");
        };
        assert!(
            message.ends_with(
                r#"stderr ends: Traceback (most recent call last):\n  File "app.py"\nValueError: no \u{1b}[31mgood"#
            ),
            "{message}"
        );
        let CallFailure::Trap { message } = classify(facts(&"x".repeat(5_000))) else {
            panic!("a trap");
        };
        assert!(
            message.contains("ends: …xxx") && message.len() < 1_200,
            "{message}"
        );
        let CallFailure::Trap { message } = classify(facts("")) else {
            panic!("a trap");
        };
        assert!(!message.contains("stderr"), "{message}");
    }
}
