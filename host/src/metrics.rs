//! The host's own metrics, served as Prometheus text at `GET /metrics` (prometheus-client).
//!
//! One set per process, recorded where things happen (HTTP layer, host calls, runtime,
//! store writer, workflow engine). Labels stay bounded:
//!
//! - `route`: the matched route template (`/rpc/:procedure`), never the raw path;
//! - `status`: the HTTP status; `outcome`: `ok` or a stable error kind;
//! - `tenant` and `procedure`: what tenants deployed, bounded by their component quotas;
//! - `status` of executions: the seven statuses; `kind` of steps: the journal's kinds.

use std::sync::LazyLock;
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
