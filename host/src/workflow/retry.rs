//! Retries of workflow steps: the policy a step runs with and the wait before each next
//! attempt. Which failures are retried: [`crate::error_kind::ErrorKind::is_transient`].

use std::time::Duration;

/// Attempts of a step by default, the first included.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// The wait before the second attempt, by default.
pub(crate) const DEFAULT_INITIAL_INTERVAL: Duration = Duration::from_secs(1);
/// Each wait is the one before times this, by default.
pub(crate) const DEFAULT_MULTIPLIER: f64 = 2.0;
/// No wait is longer than this, by default.
pub(crate) const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(60);
/// The most attempts a policy may ask for; more are cut to this.
pub(crate) const MAX_ATTEMPTS: u32 = 100;
/// The longest wait a policy may ask for; longer ones are cut to this.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// How a step is retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_interval: Duration,
    pub multiplier: f64,
    pub max_interval: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_interval: DEFAULT_INITIAL_INTERVAL,
            multiplier: DEFAULT_MULTIPLIER,
            max_interval: DEFAULT_MAX_INTERVAL,
        }
    }
}

impl RetryPolicy {
    /// A policy as a guest asked for it, brought within bounds: at least one attempt and
    /// at most [`MAX_ATTEMPTS`], a multiplier of at least 1, waits of at most
    /// [`MAX_INTERVAL`].
    pub(crate) fn bounded(
        max_attempts: u32,
        initial_interval_ms: u64,
        multiplier: f64,
        max_interval_ms: u64,
    ) -> RetryPolicy {
        let max_interval = Duration::from_millis(max_interval_ms).min(MAX_INTERVAL);
        RetryPolicy {
            max_attempts: max_attempts.clamp(1, MAX_ATTEMPTS),
            initial_interval: Duration::from_millis(initial_interval_ms).min(max_interval),
            multiplier: if multiplier.is_finite() && multiplier >= 1.0 {
                multiplier
            } else {
                1.0
            },
            max_interval,
        }
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub(crate) fn wait_after(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let seconds = self.initial_interval.as_secs_f64() * self.multiplier.powi(exponent);
        if !seconds.is_finite() || seconds >= self.max_interval.as_secs_f64() {
            return self.max_interval;
        }
        Duration::from_secs_f64(seconds)
    }
}

/// The options of one step.
#[derive(Clone, Debug, Default)]
pub(crate) struct StepOptions {
    /// The step's name in the journal; default: the procedure's.
    pub name: Option<String>,
    pub retry: RetryPolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_the_multiplier_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=8).map(|a| policy.wait_after(a).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        let odd = RetryPolicy::bounded(0, 500, f64::NAN, 100);
        assert_eq!(odd.max_attempts, 1);
        assert_eq!(odd.wait_after(5), Duration::from_millis(100));
        assert_eq!(
            RetryPolicy::bounded(1_000, 1, 2.0, 1).max_attempts,
            MAX_ATTEMPTS
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        for kind in ["trap", "timeout", "unavailable", "internal"] {
            let kind = crate::error_kind::ErrorKind::parse(kind).expect("a kind");
            assert!(kind.is_transient(), "{kind}");
        }
        for kind in [
            "invalid-args",
            "not-found",
            "out-of-fuel",
            "memory-limit",
            "procedure-error",
            "stack-overflow",
        ] {
            let kind = crate::error_kind::ErrorKind::parse(kind).expect("a kind");
            assert!(!kind.is_transient(), "{kind}");
        }
    }
}
