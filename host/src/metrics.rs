//! The host's own metrics, served as Prometheus text at `GET /metrics` (prometheus-client).
//!
//! One set per process, recorded where things happen (HTTP layer, host calls, runtime,
//! store writer, workflow engine). Labels stay bounded:
//!
//! - `route`: the matched route template (`/rpc/:procedure`), never the raw path;
//! - `status`: the HTTP status; `outcome`: `ok` or a stable error kind;
//! - `tenant` and `procedure`: what tenants deployed, bounded by their component quotas;
//! - `status` of executions: the seven statuses; `kind` of steps: the journal's kinds.
//!
//! Beside them, [`ProcedureStats`] per tenant and procedure (calls, errors, latency
//! percentiles) for the API and the dashboard (`GET /v1/stats`), which cannot read
//! prometheus-client's histograms back.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// An HTTP request: its route template and the status answered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HttpLabels {
    pub(crate) route: String,
    pub(crate) status: u16,
}

/// A route template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: String,
}

/// A procedure call: whose, which, and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    pub(crate) tenant: String,
    pub(crate) procedure: String,
    pub(crate) outcome: String,
}

/// A status (of workflow runs or executions).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabels {
    pub(crate) status: String,
}

/// A kind of journaled step (`call`, `sleep`, `inline`, `signal`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StepLabels {
    pub(crate) kind: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latencies from 100 µs to about 3 minutes.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 22))
}

/// Fuel from 1,000 units to about 8.6 billion.
fn fuel() -> Histogram {
    Histogram::new(exponential_buckets(1_000.0, 4.0, 12))
}

/// Writes per commit, 1 to 2,048.
fn batch() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

/// Every metric of the process.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) http_requests: Family<HttpLabels, Counter>,
    pub(crate) http_duration: Histograms<RouteLabels>,
    pub(crate) calls: Family<CallLabels, Counter>,
    pub(crate) call_duration: Histograms<CallLabels>,
    pub(crate) fuel_used: Histogram,
    pub(crate) instances_in_use: Gauge,
    pub(crate) instances_waiting: Gauge,
    pub(crate) compile_duration: Histogram,
    pub(crate) workflow_runs: Family<StatusLabels, Counter>,
    pub(crate) step_duration: Histograms<StepLabels>,
    pub(crate) executions: Family<StatusLabels, Gauge>,
    pub(crate) commit_duration: Histogram,
    pub(crate) commit_batch: Histogram,
    pub(crate) store_connections: Gauge,
    pub(crate) store_connections_idle: Gauge,
    /// Calls per tenant and procedure, for `GET /v1/stats`.
    procedure_stats: Mutex<HashMap<(String, String), ProcedureStats>>,
    /// When counting began (the process's start), ms since the Unix epoch.
    pub(crate) started_at: i64,
}

/// Bounds of [`ProcedureStats`] latency buckets: 0.1 ms doubling 22 times (to about 7
/// minutes), as the call-duration histogram's.
const STATS_BUCKETS: usize = 22;

/// Most (tenant, procedure) pairs kept for `GET /v1/stats`; calls of pairs past it are
/// counted in `/metrics` only.
pub(crate) const MAX_STATS_PROCEDURES: usize = 100_000;

/// One procedure's calls on this node since it started.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProcedureStats {
    /// Calls, whatever their outcome.
    pub(crate) calls: u64,
    /// Calls whose outcome was not `ok`.
    pub(crate) errors: u64,
    /// Calls by latency bucket: bucket `i` holds those up to `0.1 ms * 2^i`; the last,
    /// everything longer.
    buckets: [u64; STATS_BUCKETS + 1],
}

impl ProcedureStats {
    fn record(&mut self, ok: bool, took: Duration) {
        self.calls += 1;
        self.errors += u64::from(!ok);
        let tenths_of_ms = took.as_secs_f64() * 10_000.0;
        let bucket = (0..STATS_BUCKETS)
            .find(|i| tenths_of_ms <= f64::from(1u32 << i))
            .unwrap_or(STATS_BUCKETS);
        self.buckets[bucket] += 1;
    }

    /// The latency that `quantile` (0 to 1) of the calls took at most, in ms, as the upper
    /// bound of its bucket; None without calls, or past the last bound.
    pub(crate) fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        if self.calls == 0 {
            return None;
        }
        let wanted = (quantile * self.calls as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.buckets.iter().enumerate().take(STATS_BUCKETS) {
            seen += count;
            if seen >= wanted {
                return Some(0.1 * f64::from(1u32 << i));
            }
        }
        None
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub(crate) fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tsdev");
        let metrics = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(seconds),
            calls: Family::default(),
            call_duration: Family::new_with_constructor(seconds),
            fuel_used: fuel(),
            instances_in_use: Gauge::default(),
            instances_waiting: Gauge::default(),
            compile_duration: seconds(),
            workflow_runs: Family::default(),
            step_duration: Family::new_with_constructor(seconds),
            executions: Family::default(),
            commit_duration: seconds(),
            commit_batch: batch(),
            store_connections: Gauge::default(),
            store_connections_idle: Gauge::default(),
            procedure_stats: Mutex::default(),
            started_at: crate::clock::system_ms(),
            registry: Registry::default(),
        };
        let m = &metrics;
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route template",
            m.http_duration.clone(),
        );
        registry.register(
            "calls",
            "Procedure calls (RPC, REST and workflow steps), by tenant, procedure and outcome",
            m.calls.clone(),
        );
        registry.register(
            "call_duration_seconds",
            "Procedure call time, instantiation included, by tenant, procedure and outcome",
            m.call_duration.clone(),
        );
        registry.register(
            "guest_fuel_used",
            "Fuel each guest call used",
            m.fuel_used.clone(),
        );
        registry.register(
            "instances_in_use",
            "Guest instances running now",
            m.instances_in_use.clone(),
        );
        registry.register(
            "instances_waiting",
            "Calls waiting for an instance slot now",
            m.instances_waiting.clone(),
        );
        registry.register(
            "compile_duration_seconds",
            "Time to compile (or load from the cache) and check a component",
            m.compile_duration.clone(),
        );
        registry.register(
            "workflow_runs",
            "Workflow runs ended on this node, by the status they left the execution in",
            m.workflow_runs.clone(),
        );
        registry.register(
            "workflow_step_duration_seconds",
            "Time of journaled workflow steps, by kind",
            m.step_duration.clone(),
        );
        registry.register(
            "executions",
            "Unfinished workflow executions in the store, by status (read at each scrape)",
            m.executions.clone(),
        );
        registry.register(
            "store_commit_duration_seconds",
            "Time of each commit of the SQLite writer",
            m.commit_duration.clone(),
        );
        registry.register(
            "store_commit_writes",
            "Writes committed together by the SQLite writer",
            m.commit_batch.clone(),
        );
        registry.register(
            "store_connections",
            "Open connections of the store's pool (read at each scrape)",
            m.store_connections.clone(),
        );
        registry.register(
            "store_connections_idle",
            "Idle connections of the store's pool (read at each scrape)",
            m.store_connections_idle.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Every metric in the Prometheus (OpenMetrics) text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!("encoding metrics: {e}");
        }
        text
    }

    /// Count one procedure call.
    pub(crate) fn call(&self, tenant: &str, procedure: &str, outcome: &str, took: Duration) {
        let labels = CallLabels {
            tenant: tenant.to_string(),
            procedure: procedure.to_string(),
            outcome: outcome.to_string(),
        };
        self.calls.get_or_create(&labels).inc();
        self.call_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        let mut stats = self
            .procedure_stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (labels.tenant, labels.procedure);
        if let Some(entry) = stats.get_mut(&key) {
            entry.record(outcome == "ok", took);
        } else if stats.len() < MAX_STATS_PROCEDURES {
            stats.entry(key).or_default().record(outcome == "ok", took);
        }
    }

    /// The calls of `tenant`'s procedures on this node since it started, by procedure.
    pub(crate) fn procedure_stats(&self, tenant: &str) -> Vec<(String, ProcedureStats)> {
        let stats = self
            .procedure_stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut mine: Vec<(String, ProcedureStats)> = stats
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, p), s)| (p.clone(), s.clone()))
            .collect();
        mine.sort_by(|a, b| a.0.cmp(&b.0));
        mine
    }

    /// Forget `tenant`'s procedure stats (the tenant was deleted).
    pub(crate) fn forget_tenant(&self, tenant: &str) {
        self.procedure_stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(t, _), _| t != tenant);
    }
}

/// Counts one in a gauge while it lives.
pub(crate) struct InGauge(&'static Gauge);

impl InGauge {
    pub(crate) fn new(gauge: &'static Gauge) -> InGauge {
        gauge.inc();
        InGauge(gauge)
    }
}

impl Drop for InGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_the_upper_bounds_of_the_buckets_they_fall_in() {
        let mut stats = ProcedureStats::default();
        assert_eq!(stats.quantile_ms(0.5), None);
        // 98 fast calls (0.3 ms: the bucket up to 0.4 ms), 2 slow ones (150 ms: 204.8 ms).
        for _ in 0..98 {
            stats.record(true, Duration::from_micros(300));
        }
        for _ in 0..2 {
            stats.record(false, Duration::from_millis(150));
        }
        assert_eq!((stats.calls, stats.errors), (100, 2));
        assert_eq!(stats.quantile_ms(0.5), Some(0.4));
        assert_eq!(stats.quantile_ms(0.98), Some(0.4));
        assert_eq!(stats.quantile_ms(0.99), Some(204.8));
        // Past the last bound: no number to give.
        stats.record(true, Duration::from_secs(3_600));
        assert_eq!(stats.quantile_ms(1.0), None);
    }

    #[test]
    fn metrics_are_encoded_with_their_labels() {
        let metrics = Metrics::new();
        metrics.call("acme", "greeter.hello", "ok", Duration::from_millis(2));
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                route: "/rpc/:procedure".into(),
                status: 200,
            })
            .inc();
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"tsdev_calls_total{tenant="acme",procedure="greeter.hello",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"tsdev_http_requests_total{route="/rpc/:procedure",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("tsdev_call_duration_seconds_count"), "{text}");
    }
}
