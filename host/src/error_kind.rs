//! The stable, machine-readable kinds of every failure: the `kind` of HTTP problems, of
//! failed calls and workflow steps in journals, and what retries are decided on. One enum,
//! so a kind is spelled once and a stored one is read back as the same value; each with the
//! HTTP status its problems answer with (docs/errors-and-limits.md lists both, a test keeps
//! them equal).

use serde::{Deserialize, Serialize};

macro_rules! error_kinds {
    ($($variant:ident = $name:literal, $status:literal, $title:literal;)*) => {
        /// A stable failure kind. Its kebab-case name is part of the API and of the journal
        /// format: never rename one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum ErrorKind {
            $(#[doc = $title] #[serde(rename = $name)] $variant,)*
        }

        impl ErrorKind {
            /// Every kind, for documentation and tests.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)*];

            /// The kind's name: `out-of-fuel`, `not-found`, …
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $name,)*
                }
            }

            /// The HTTP status a problem of this kind answers with: the one map of kinds to
            /// statuses (an answer that differs says why where it is made).
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorKind::$variant => $status,)*
                }
            }

            /// A short title for people.
            pub fn title(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $title,)*
                }
            }

            /// The kind named `name`, if there is one.
            pub fn parse(name: &str) -> Option<ErrorKind> {
                match name {
                    $($name => Some(ErrorKind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_kinds! {
    // Calls: limits and guest failures.
    OutOfFuel = "out-of-fuel", 500, "Out of fuel";
    Timeout = "timeout", 504, "Deadline exceeded";
    MemoryLimit = "memory-limit", 500, "Memory limit exceeded";
    StackOverflow = "stack-overflow", 500, "Stack overflow";
    Trap = "trap", 500, "The guest trapped";
    ResultTooLarge = "result-too-large", 500, "Result too large";
    ProcedureError = "procedure-error", 422, "The procedure returned an error";
    NoResponse = "no-response", 502, "The HTTP handler sent no response";
    Unavailable = "unavailable", 503, "The procedure is unavailable";
    Internal = "internal", 500, "Internal error";
    // Requests.
    NotFound = "not-found", 404, "Not found";
    InvalidArgs = "invalid-args", 400, "Invalid arguments";
    InvalidQuery = "invalid-query", 400, "Invalid query";
    BadBody = "bad-body", 400, "Unreadable body";
    TooLarge = "too-large", 413, "Body too large";
    UriTooLong = "uri-too-long", 414, "URI too long";
    MethodNotAllowed = "method-not-allowed", 405, "Method not allowed";
    UnsupportedMediaType = "unsupported-media-type", 415, "Unsupported media type";
    InvalidRequestId = "invalid-request-id", 400, "Invalid request id";
    CrossOrigin = "cross-origin", 403, "Cross-origin request refused";
    // Tenants and keys.
    Unauthenticated = "unauthenticated", 401, "Unauthenticated";
    Forbidden = "forbidden", 403, "Forbidden";
    AlreadyExists = "already-exists", 409, "Already exists";
    QuotaExceeded = "quota-exceeded", 429, "Quota exceeded";
    UnknownHost = "unknown-host", 403, "Unknown host name";
    PrivateProcedure = "private-procedure", 403, "Private procedure";
    RateLimited = "rate-limited", 429, "Too many requests";
    Busy = "busy", 503, "The host is busy";
    NotReady = "not-ready", 503, "Not ready";
    // Deploys.
    InvalidName = "invalid-name", 400, "Invalid component name";
    InvalidLimits = "invalid-limits", 400, "Invalid limits";
    NotWasm = "not-wasm", 415, "Not WebAssembly";
    NotAComponent = "not-a-component", 422, "Not a component";
    InvalidComponent = "invalid-component", 422, "Invalid component";
    TypeTooComplex = "type-too-complex", 422, "Type too complex";
    UnsupportedImport = "unsupported-import", 422, "Unsupported import";
    NotGranted = "not-granted", 422, "Capability not granted";
    TooManyKeys = "too-many-keys", 409, "Too many config keys";
    InvalidManifest = "invalid-manifest", 422, "Invalid manifest";
    InvalidSchedule = "invalid-schedule", 400, "Invalid schedule";
    ProcedureConflict = "procedure-conflict", 409, "Procedure name taken";
    RouteConflict = "route-conflict", 409, "Route taken";
    // Workflows.
    NotAWorkflow = "not-a-workflow", 404, "Not a workflow";
    WorkflowOnly = "workflow-only", 400, "Not a workflow execution";
    WorkflowError = "workflow-error", 422, "The workflow returned an error";
    WorkflowFailed = "workflow-failed", 422, "The workflow failed";
    ComponentUnavailable = "component-unavailable", 503, "Component version unavailable";
    JournalLimit = "journal-limit", 422, "Journal limit reached";
    PayloadTooLarge = "payload-too-large", 413, "Step payload too large";
    NonDeterminism = "non-determinism", 500, "Non-determinism";
    Cancelled = "cancelled", 409, "Cancelled";
    AlreadyFinished = "already-finished", 409, "Already finished";
    IdempotencyConflict = "idempotency-conflict", 409, "Idempotency key reused";
    InvalidIdempotencyKey = "invalid-idempotency-key", 400, "Invalid idempotency key";
}

impl ErrorKind {
    /// Failures worth another attempt of a workflow step: the procedure trapped, timed out
    /// or said it is `unavailable`, the host failed, or the tenant was at a quota (its
    /// instances, busy now). Invalid arguments, a missing
    /// procedure, running out of fuel or memory, and a procedure's own error would fail the
    /// same way again.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Trap
                | ErrorKind::Timeout
                | ErrorKind::Unavailable
                | ErrorKind::Internal
                | ErrorKind::QuotaExceeded
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            assert!(seen.insert(kind.as_str()), "{kind} twice");
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(*kind));
            let json = serde_json::to_string(kind).expect("a kind serialises");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            let back: ErrorKind = serde_json::from_str(&json).expect("and reads back");
            assert_eq!(back, *kind);
        }
        assert_eq!(ErrorKind::parse("no-such-kind"), None);
    }

    /// docs/errors-and-limits.md says the status of every kind a problem answers with, as
    /// [`ErrorKind::status`] has it; every kind is in the table.
    #[test]
    fn the_documented_statuses_are_the_kinds_statuses() {
        let docs = include_str!("../../docs/errors-and-limits.md");
        let mut documented = std::collections::HashSet::new();
        for row in docs.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (kinds, status) = (cells[1], cells[2]);
            for name in kinds.split(',').map(|k| k.trim().trim_matches('`')) {
                let Some(kind) = ErrorKind::parse(name) else {
                    continue;
                };
                documented.insert(kind);
                if let Ok(status) = status.parse::<u16>() {
                    assert_eq!(kind.status(), status, "{name}: the docs say {status}");
                }
            }
        }
        for kind in ErrorKind::ALL {
            assert!(
                documented.contains(kind),
                "{kind} is not in docs/errors-and-limits.md"
            );
        }
    }
}
