//! Limits every guest call runs under, as documented constants.
//!
//! Defaults apply to every deployment; a deployment may ask for other values at upload
//! (`?fuel=`, `?memory_mib=`, `?timeout_ms=`) but never above the host maximums here.
//! Figures were measured on the 2-core reference machine.

use std::time::Duration;

/// Fuel for one call by default: half a second to a second of a tight loop (fuel counts
/// wasm instructions; a loop of adds burned 7e9 to 15e9 a second on one core of these
/// machines, depending on the loop).
pub const DEFAULT_FUEL: u64 = 7_000_000_000;
/// The most fuel a deployment may ask for: ten times the default, seconds of tight loop.
pub const MAX_FUEL: u64 = 70_000_000_000;

/// Linear memory (all memories of one instance together) a call may use by default.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
/// The most memory a deployment may ask for. Interpreted languages (a componentize-py
/// component starts with tens of MiB) need more than the default.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// Wall-clock time a call may take by default, instantiation included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wall-clock time a deployment may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest component accepted at upload. A Python component from componentize-py is
/// about 18 MiB; this leaves room for bigger toolchains.
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;
/// Versions of a component kept for rollback: the current one and the most recently
/// deployed others, up to this many in all. Versions an unfinished workflow execution is
/// pinned to are kept as well, however many.
pub const KEPT_VERSIONS: usize = 10;
/// Largest request body for `/rpc/{procedure}`.
pub const MAX_ARGS_BYTES: usize = 4 << 20;
/// Largest JSON result a call may produce; a bigger one fails with `result-too-large`.
pub const MAX_RESULT_BYTES: usize = 16 << 20;

/// How long `POST /rpc/{workflow}` waits for the execution to finish before answering 202
/// with its id (a caller may ask for less with `Prefer: wait=SECONDS`).
pub const RPC_WORKFLOW_WAIT: Duration = Duration::from_secs(30);

/// Journal entries one workflow execution may have (steps, attempts, sleeps, signals,
/// inline steps). Past it the execution fails with `journal-limit`: a workflow that loops
/// for ever should end and start anew with its state as arguments.
pub const MAX_JOURNAL_ENTRIES: i64 = 10_000;

/// Bytes of JSON one journal entry may hold as its request or its outcome (a step's
/// arguments or result, a signal's payload, an inline step's result). Past it the
/// execution fails with `payload-too-large`.
pub const MAX_STEP_PAYLOAD_BYTES: usize = 1 << 20;

/// Components compiled at once (deploys, pinned versions loaded for workflows); further
/// ones wait. Compiling takes a core and, for big components, hundreds of MiB.
pub const MAX_CONCURRENT_COMPILES: usize = 2;

/// Uploads handled at once; further ones wait before their body is read, so a flood of
/// big uploads is not held in memory all together.
pub const MAX_CONCURRENT_UPLOADS: usize = 4;

/// Instances that may run at once; further calls wait for a slot.
pub const MAX_CONCURRENT_INSTANCES: usize = 128;

/// Instances that calls made by other calls (`tsdev:host/invoke`) may run at once beyond
/// [`MAX_CONCURRENT_INSTANCES`]. Such a call never waits for a slot: its caller holds one
/// meanwhile, and callers waiting for callees queued behind more callers would hold every
/// slot until their deadlines, stalling the whole host. It takes a free slot of this
/// reserve, or else a free one of the host's, or fails at once with `busy`.
pub const MAX_NESTED_INSTANCES: usize = MAX_CONCURRENT_INSTANCES;

/// How often the epoch ticker advances. Guests yield to the scheduler and check their
/// deadline once per tick, so a long call never holds a runtime thread for longer.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Native stack a guest may use before it traps with a stack overflow.
pub const MAX_WASM_STACK_BYTES: usize = 1 << 20;

/// Elements a guest table may grow to.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Bytes of stdout plus stderr a call may write into the host log; the rest is dropped.
pub const MAX_GUEST_OUTPUT_BYTES: usize = 64 << 10;

/// Bytes of one `tsdev:host/log` message kept; longer messages are truncated.
pub const MAX_LOG_MESSAGE_BYTES: usize = 8 << 10;

/// Longest key-value bucket name.
pub const MAX_BUCKET_NAME_LEN: usize = 64;

/// Longest key-value key, in bytes.
pub const MAX_KV_KEY_BYTES: usize = 1024;

/// Largest key-value value, in bytes.
pub const MAX_KV_VALUE_BYTES: usize = 1 << 20;

/// Most keys one `list-keys` call or `GET /v1/kv/{bucket}` page answers.
pub const KV_KEYS_PER_PAGE: u32 = 1000;

/// Longest an outbound HTTP request may take to resolve its host and connect (TLS
/// included); a guest may ask for less.
pub const OUTBOUND_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest an outbound HTTP request may wait for the response's head once sent; a guest
/// may ask for less.
pub const OUTBOUND_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest an outbound HTTP exchange may last in all. The call's own deadline ends it
/// first when it is shorter.
pub const OUTBOUND_TOTAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest outbound HTTP response body a guest receives; past it the body fails with
/// `HTTP-response-body-size`.
pub const MAX_OUTBOUND_RESPONSE_BYTES: u64 = 16 << 20;

/// Largest request body a wasi:http component is sent (it streams in; past this the
/// handler's read of the body fails with `HTTP-request-body-size`).
pub const MAX_INCOMING_HTTP_BODY_BYTES: u64 = 64 << 20;

/// How deep procedures may call one another (`tsdev:host/invoke`): the call from outside
/// is at depth 0; a call past this answers `too-deep`.
pub const MAX_INVOKE_DEPTH: u32 = 8;

/// How long before its caller's deadline an invoked call must end, so that the caller can
/// still answer the failure of a call that ran out of time.
pub const INVOKE_DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// Outbound HTTP exchanges one call may have open at once (from the request until its
/// connection closes); past it a request fails with `connection-limit-reached`.
pub const MAX_OUTBOUND_PER_CALL: usize = 16;

/// Outbound HTTP connections the whole host keeps open at once, all tenants together, so
/// that guests cannot take the process's file descriptors.
pub const MAX_OUTBOUND_CONNECTIONS: usize = 1024;

/// Longest config key.
pub const MAX_CONFIG_KEY_LEN: usize = 128;

/// Longest config value or secret, in characters (at most 64 KiB of UTF-8).
pub const MAX_CONFIG_VALUE_CHARS: usize = 16 << 10;

/// Most keys one config change may set or delete, values and secrets each.
pub const MAX_CONFIG_KEYS_PER_CHANGE: usize = 64;

/// Most config values (secrets included) a component may have.
pub const MAX_CONFIG_KEYS: usize = 256;

/// The limits one call runs under.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct CallLimits {
    /// Fuel units per call.
    pub fuel: u64,
    /// Linear memory per call, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock time per call, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout_ms: DEFAULT_TIMEOUT.as_millis() as u64,
        }
    }
}

/// A requested limit of zero, or above the host maximum.
#[derive(Debug, thiserror::Error)]
#[error("{what} = {requested} is outside what this host allows: 1 to the maximum of {maximum}")]
pub struct LimitTooHigh {
    /// Which limit.
    pub what: &'static str,
    /// What was asked.
    pub requested: u64,
    /// The most allowed.
    pub maximum: u64,
}

impl CallLimits {
    /// Defaults overridden by whatever was asked for, checked against the host maximums.
    pub fn with_overrides(
        fuel: Option<u64>,
        memory_bytes: Option<u64>,
        timeout_ms: Option<u64>,
    ) -> Result<CallLimits, LimitTooHigh> {
        fn check(what: &'static str, value: u64, maximum: u64) -> Result<u64, LimitTooHigh> {
            // Zero would fail every call before it starts: refuse it like too much.
            if value == 0 || value > maximum {
                return Err(LimitTooHigh {
                    what,
                    requested: value,
                    maximum,
                });
            }
            Ok(value)
        }
        let defaults = CallLimits::default();
        Ok(CallLimits {
            fuel: check("fuel", fuel.unwrap_or(defaults.fuel), MAX_FUEL)?,
            memory_bytes: check(
                "memory bytes",
                memory_bytes.unwrap_or(defaults.memory_bytes),
                MAX_MEMORY_BYTES,
            )?,
            timeout_ms: check(
                "timeout ms",
                timeout_ms.unwrap_or(defaults.timeout_ms),
                MAX_TIMEOUT.as_millis() as u64,
            )?,
        })
    }

    /// The wall-clock limit as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_within_maximums_apply_and_above_are_refused() {
        let limits = CallLimits::with_overrides(Some(5), None, Some(20)).expect("within maximums");
        assert_eq!(limits.fuel, 5);
        assert_eq!(limits.memory_bytes, DEFAULT_MEMORY_BYTES);
        assert_eq!(limits.timeout_ms, 20);
        let err = CallLimits::with_overrides(None, Some(MAX_MEMORY_BYTES + 1), None)
            .expect_err("above maximum");
        assert_eq!(err.what, "memory bytes");
        // Zero is refused wherever it is asked for, as a manifest's zero is.
        let err = CallLimits::with_overrides(Some(0), None, None).expect_err("zero fuel");
        assert_eq!(err.what, "fuel");
        let err = CallLimits::with_overrides(None, None, Some(0)).expect_err("zero timeout");
        assert_eq!(err.what, "timeout ms");
    }
}
