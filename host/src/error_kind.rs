//! The stable, machine-readable kinds of every failure: the `kind` of HTTP problems, of
//! failed calls and workflow steps in journals, and what retries are decided on. One enum,
//! so a kind is spelled once and a stored one is read back as the same value.

use serde::{Deserialize, Serialize};

macro_rules! error_kinds {
    ($($variant:ident = $name:literal, $title:literal;)*) => {
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
    OutOfFuel = "out-of-fuel", "Out of fuel";
    Timeout = "timeout", "Deadline exceeded";
    MemoryLimit = "memory-limit", "Memory limit exceeded";
    StackOverflow = "stack-overflow", "Stack overflow";
    Trap = "trap", "The guest trapped";
    ResultTooLarge = "result-too-large", "Result too large";
    ProcedureError = "procedure-error", "The procedure returned an error";
    NoResponse = "no-response", "The HTTP handler sent no response";
    Unavailable = "unavailable", "The procedure is unavailable";
    Internal = "internal", "Internal error";
    // Requests.
    NotFound = "not-found", "Not found";
    InvalidArgs = "invalid-args", "Invalid arguments";
    InvalidQuery = "invalid-query", "Invalid query";
    BadBody = "bad-body", "Unreadable body";
    TooLarge = "too-large", "Body too large";
    UriTooLong = "uri-too-long", "URI too long";
    MethodNotAllowed = "method-not-allowed", "Method not allowed";
    UnsupportedMediaType = "unsupported-media-type", "Unsupported media type";
    InvalidRequestId = "invalid-request-id", "Invalid request id";
    CrossOrigin = "cross-origin", "Cross-origin request refused";
    // Tenants and keys.
    Unauthenticated = "unauthenticated", "Unauthenticated";
    Forbidden = "forbidden", "Forbidden";
    AlreadyExists = "already-exists", "Already exists";
    QuotaExceeded = "quota-exceeded", "Quota exceeded";
    UnknownHost = "unknown-host", "Unknown host name";
    PrivateProcedure = "private-procedure", "Private procedure";
    RateLimited = "rate-limited", "Too many requests";
    Busy = "busy", "The host is busy";
    NotReady = "not-ready", "Not ready";
    // Deploys.
    InvalidName = "invalid-name", "Invalid component name";
    InvalidLimits = "invalid-limits", "Invalid limits";
    NotWasm = "not-wasm", "Not WebAssembly";
    NotAComponent = "not-a-component", "Not a component";
    InvalidComponent = "invalid-component", "Invalid component";
    TypeTooComplex = "type-too-complex", "Type too complex";
    UnsupportedImport = "unsupported-import", "Unsupported import";
    NotGranted = "not-granted", "Capability not granted";
    TooManyKeys = "too-many-keys", "Too many config keys";
    InvalidManifest = "invalid-manifest", "Invalid manifest";
    InvalidSchedule = "invalid-schedule", "Invalid schedule";
    ProcedureConflict = "procedure-conflict", "Procedure name taken";
    RouteConflict = "route-conflict", "Route taken";
    // Workflows.
    NotAWorkflow = "not-a-workflow", "Not a workflow";
    WorkflowOnly = "workflow-only", "Not a workflow execution";
    WorkflowError = "workflow-error", "The workflow returned an error";
    WorkflowFailed = "workflow-failed", "The workflow failed";
    ComponentUnavailable = "component-unavailable", "Component version unavailable";
    JournalLimit = "journal-limit", "Journal limit reached";
    PayloadTooLarge = "payload-too-large", "Step payload too large";
    NonDeterminism = "non-determinism", "Non-determinism";
    Cancelled = "cancelled", "Cancelled";
    AlreadyFinished = "already-finished", "Already finished";
    IdempotencyConflict = "idempotency-conflict", "Idempotency key reused";
    InvalidIdempotencyKey = "invalid-idempotency-key", "Invalid idempotency key";
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
}
