//! Traces: spans of what the host does (every request, call, deploy and compile, outbound
//! HTTP request, workflow start, run and new step) exported as OpenTelemetry over OTLP
//! (HTTP/protobuf), and W3C trace context taken from callers (`traceparent`) and passed on:
//! to the calls a request makes, to outbound HTTP from guests, to invoked procedures, and,
//! stored with an execution, to every later run of it (on any node, after any restart).
//!
//! Spans are made with the OpenTelemetry API directly ([`TraceSpan`]), not through
//! `tracing`: a span costs what the SDK needs and no more, and nothing at all when traces
//! are off. A span's context is made current while the futures it covers are polled
//! ([`TraceSpan::around`]), so spans started inside are its children. The SDK's batch
//! processor sends spans from a thread of its own with the blocking HTTP client, so no
//! export waits on (or needs) the tokio runtime that serves requests.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use futures::future::Either;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanKind, Status, TraceContextExt, TraceId, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    ParentBasedSampler, SamplingDecision, SamplingResult, SdkTracer, SdkTracerProvider,
    ShouldSample,
};

/// The tracer, once traces are exported; none: no span is made.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The name a span has until it is known to be sampled (then it gets its own).
const UNSAMPLED_NAME: &str = "tsdev";
/// The path OTLP/HTTP receivers take traces on, under the endpoint's base URL.
const TRACES_PATH: &str = "/v1/traces";
/// How many new traces a node records a second at most, by default
/// (`--traces-per-second`): every request of a developer or a test, and under load a
/// sample whose cost stays bounded (about 0.1% of a core at 100 traces of 2 spans).
pub(crate) const DEFAULT_TRACES_PER_SECOND: NonZeroU32 = NonZeroU32::new(100).expect("not zero");
/// The standard variable naming a sampler: when set, the SDK's sampler is used instead of
/// [`TraceBudget`].
const SAMPLER_VARIABLE: &str = "OTEL_TRACES_SAMPLER";

/// Where traces go: `--otlp-endpoint` (a base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` is), or
/// the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
/// variables, read by the exporter itself.
#[derive(Clone, Debug)]
pub(crate) struct TraceExport {
    /// The traces URL when the flag gave one; None: the exporter reads the variables.
    url: Option<String>,
    /// New traces recorded a second at most (see [`TraceBudget`]).
    traces_per_second: NonZeroU32,
}

impl TraceExport {
    /// Traces are exported when the flag or one of the standard variables names an
    /// endpoint; not otherwise. At most `traces_per_second` new ones are recorded.
    pub(crate) fn from_flag(
        flag: Option<&str>,
        traces_per_second: NonZeroU32,
    ) -> anyhow::Result<Option<TraceExport>> {
        let url = match flag.map(str::trim).filter(|f| !f.is_empty()) {
            Some(base) => Some(format!("{}{TRACES_PATH}", base.trim_end_matches('/'))),
            None => {
                let named = [
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                ]
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .find(|value| !value.trim().is_empty());
                match named {
                    Some(value) => {
                        check_scheme(&value)?;
                        return Ok(Some(TraceExport {
                            url: None,
                            traces_per_second,
                        }));
                    }
                    None => return Ok(None),
                }
            }
        };
        if let Some(url) = &url {
            check_scheme(url)?;
        }
        Ok(Some(TraceExport {
            url,
            traces_per_second,
        }))
    }
}

/// The exporter speaks plain HTTP (no TLS stack of its own): a collector beside the host
/// (an OpenTelemetry Collector, an agent) takes traces on to anything farther.
fn check_scheme(url: &str) -> anyhow::Result<()> {
    if url.starts_with("http://") {
        return Ok(());
    }
    anyhow::bail!(
        "the OTLP endpoint {url} is not an http:// URL: tsdev sends OTLP over plain HTTP \
         (HTTP/protobuf, port 4318 by convention); run a collector beside it for TLS"
    )
}

/// The exporter, kept to send what is still queued at the end.
pub(crate) struct Traces {
    provider: Option<SdkTracerProvider>,
}

impl Traces {
    pub(crate) fn off() -> Traces {
        Traces { provider: None }
    }

    /// Send the spans still queued and stop exporting. Blocks (up to the exporter's
    /// timeout): call it from a thread that may block.
    pub(crate) fn flush(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!("sending the last traces: {e}");
        }
    }
}

/// Start exporting as `export` says: from now on spans are made.
pub(crate) fn start(export: &TraceExport) -> anyhow::Result<Traces> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary);
    if let Some(url) = &export.url {
        exporter = exporter.with_endpoint(url.clone());
    }
    let exporter = exporter.build().context("making the OTLP trace exporter")?;
    let mut resource = opentelemetry_sdk::Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("tsdev");
    }
    let mut provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build());
    // The standard variable, when set, is read by the SDK and wins.
    if std::env::var(SAMPLER_VARIABLE).is_ok_and(|v| !v.trim().is_empty()) {
        tracing::info!("traces sampled as {SAMPLER_VARIABLE} says");
    } else {
        provider = provider.with_sampler(TraceBudget::sampler(export.traces_per_second));
    }
    let provider = provider.build();
    // A second start (tests in one process) keeps the first tracer.
    let _ = TRACER.set(provider.tracer("tsdev"));
    Ok(Traces {
        provider: Some(provider),
    })
}

/// The sampler of a node: a new trace, or a caller's sampled one, is recorded while the
/// budget of `--traces-per-second` has room (a token bucket as deep as a second's worth),
/// and dropped after; a span inside a trace follows its parent (a trace is recorded whole
/// or not at all), and a caller's unsampled trace is not recorded. A caller cannot buy more
/// recording than the budget by sending sampled `traceparent`s.
#[derive(Clone)]
struct TraceBudget(Arc<governor::DefaultDirectRateLimiter>);

impl TraceBudget {
    fn sampler(per_second: NonZeroU32) -> ParentBasedSampler {
        TraceBudget::sampler_of(governor::Quota::per_second(per_second))
    }

    fn sampler_of(quota: governor::Quota) -> ParentBasedSampler {
        let budget = TraceBudget(Arc::new(governor::RateLimiter::direct(quota)));
        ParentBasedSampler::new(budget.clone()).with_remote_parent_sampled(budget)
    }
}

impl std::fmt::Debug for TraceBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceBudget")
    }
}

impl ShouldSample for TraceBudget {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        _trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if self.0.check().is_ok() {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: parent_context
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default(),
        }
    }
}

/// Whether spans are made (an exporter was started).
pub(crate) fn enabled() -> bool {
    TRACER.get().is_some()
}

/// A span of the host's traces, ended when its last clone is dropped; nothing when traces
/// are off.
#[derive(Clone, Debug, Default)]
pub(crate) struct TraceSpan(Option<Context>);

impl TraceSpan {
    /// No span.
    pub(crate) fn none() -> TraceSpan {
        TraceSpan(None)
    }

    /// A child of the current span (a root when there is none); `make` gives its name and
    /// first attributes, and runs only when traces are on.
    pub(crate) fn child(
        kind: SpanKind,
        make: impl FnOnce() -> (String, Vec<KeyValue>),
    ) -> TraceSpan {
        if !enabled() {
            return TraceSpan::none();
        }
        let current = Context::current();
        // Inside a trace that is not recorded no span is made: the children would not be
        // recorded either, and the unrecorded parent (current) passes the decision on.
        if current.has_active_span() && !current.span().span_context().is_sampled() {
            return TraceSpan(Some(current));
        }
        TraceSpan::start(&current, kind, make)
    }

    /// A child of the span a W3C `traceparent` names (a root when none or malformed).
    pub(crate) fn continuing(
        traceparent: Option<&str>,
        kind: SpanKind,
        make: impl FnOnce() -> (String, Vec<KeyValue>),
    ) -> TraceSpan {
        if !enabled() {
            return TraceSpan::none();
        }
        let parent = match traceparent {
            Some(traceparent) => {
                let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
                TraceContextPropagator::new().extract(&carrier)
            }
            None => Context::new(),
        };
        TraceSpan::start(&parent, kind, make)
    }

    /// A child of the span a request's `traceparent` (and `tracestate`) names.
    pub(crate) fn continuing_request(
        headers: &http::HeaderMap,
        kind: SpanKind,
        make: impl FnOnce() -> (String, Vec<KeyValue>),
    ) -> TraceSpan {
        if !enabled() {
            return TraceSpan::none();
        }
        let extractor = opentelemetry_http::HeaderExtractor(headers);
        let parent = TraceContextPropagator::new().extract(&extractor);
        TraceSpan::start(&parent, kind, make)
    }

    fn start(
        parent: &Context,
        kind: SpanKind,
        make: impl FnOnce() -> (String, Vec<KeyValue>),
    ) -> TraceSpan {
        let Some(tracer) = TRACER.get() else {
            return TraceSpan::none();
        };
        // Named and described only once sampled: a span not recorded costs no strings.
        // (The samplers the SDK offers decide on the trace id and the parent alone.)
        let mut span = tracer
            .span_builder(UNSAMPLED_NAME)
            .with_kind(kind)
            .start_with_context(tracer, parent);
        if span.is_recording() {
            let (name, attributes) = make();
            span.update_name(name);
            span.set_attributes(attributes);
        }
        TraceSpan(Some(parent.with_span(span)))
    }

    /// The span current where this is called (the innermost [`TraceSpan::around`]).
    pub(crate) fn current() -> TraceSpan {
        if !enabled() {
            return TraceSpan::none();
        }
        let context = Context::current();
        TraceSpan(context.has_active_span().then_some(context))
    }

    /// Whether it is recorded (traces on and this trace sampled): worth describing.
    pub(crate) fn is_recording(&self) -> bool {
        self.0.as_ref().is_some_and(|c| c.span().is_recording())
    }

    /// Set an attribute.
    pub(crate) fn set(&self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        if let Some(context) = &self.0 {
            context.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Set a count or a duration as an attribute (OpenTelemetry integers are signed).
    pub(crate) fn set_count(&self, key: &'static str, value: u64) {
        self.set(key, i64::try_from(value).unwrap_or(i64::MAX));
    }

    /// Mark the span failed.
    pub(crate) fn fail(&self) {
        if let Some(context) = &self.0 {
            context.span().set_status(Status::error(""));
        }
    }

    /// Its W3C `traceparent`, when it is a span.
    pub(crate) fn traceparent(&self) -> Option<String> {
        let context = self.0.as_ref()?;
        let span = context.span();
        let ids = span.span_context();
        ids.is_valid().then(|| {
            format!(
                "00-{}-{}-{:02x}",
                ids.trace_id(),
                ids.span_id(),
                ids.trace_flags().to_u8()
            )
        })
    }

    /// Add its `traceparent` to an outgoing request's headers, unless the request has one
    /// (a guest passing on a trace of its own).
    pub(crate) fn pass_on(&self, headers: &mut http::HeaderMap) {
        let Some(context) = &self.0 else {
            return;
        };
        if headers.contains_key("traceparent") {
            return;
        }
        let mut injector = opentelemetry_http::HeaderInjector(headers);
        TraceContextPropagator::new().inject_context(context, &mut injector);
    }

    /// `future` with this span current while it is polled: spans started inside are its
    /// children.
    pub(crate) fn around<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        match &self.0 {
            Some(context) => Either::Left(future.with_context(context.clone())),
            None => Either::Right(future),
        }
    }
}

/// `future` with the span current now made current while it is polled, wherever it is
/// polled (a task of another thread).
pub(crate) fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> + use<F> {
    TraceSpan::current().around(future)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};

    const HUNDRED: NonZeroU32 = NonZeroU32::new(100).expect("not zero");

    #[test]
    fn the_flag_is_a_base_url_and_only_plain_http() {
        let export = TraceExport::from_flag(Some("http://collector:4318/"), HUNDRED)
            .expect("taken")
            .expect("exported");
        assert_eq!(
            export.url.as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        let refused = TraceExport::from_flag(Some("https://collector:4318"), HUNDRED)
            .expect_err("no TLS in the exporter");
        assert!(refused.to_string().contains("plain HTTP"), "{refused}");
    }

    #[test]
    fn without_an_exporter_no_span_is_made_and_nothing_passed_on() {
        let span = TraceSpan::continuing(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            SpanKind::Internal,
            || panic!("not made when traces are off"),
        );
        assert_eq!(span.traceparent(), None);
        let mut headers = http::HeaderMap::new();
        span.pass_on(&mut headers);
        assert!(headers.is_empty());
    }

    /// What `sampler` decides for a span whose parent is `parent` (None: a new trace).
    fn decide(sampler: &ParentBasedSampler, parent: Option<SpanContext>) -> SamplingDecision {
        let context = parent.map(|p| Context::new().with_remote_span_context(p));
        sampler
            .should_sample(
                context.as_ref(),
                TraceId::from(7),
                "span",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision
    }

    fn parent(flags: TraceFlags, remote: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(1),
            SpanId::from(2),
            flags,
            remote,
            TraceState::default(),
        )
    }

    #[test]
    fn the_budget_bounds_new_and_callers_traces_and_spans_follow_their_trace() {
        use SamplingDecision::{Drop, RecordAndSample};
        // Two an hour: none comes back while the test runs.
        let two = NonZeroU32::new(2).expect("not zero");
        let quota = governor::Quota::with_period(std::time::Duration::from_secs(1800))
            .expect("not zero")
            .allow_burst(two);
        let sampler = TraceBudget::sampler_of(quota);
        // Two new traces fit (a caller's sampled one takes from the same budget) ...
        assert_eq!(decide(&sampler, None), RecordAndSample);
        assert_eq!(
            decide(&sampler, Some(parent(TraceFlags::SAMPLED, true))),
            RecordAndSample
        );
        // ... then neither does.
        assert_eq!(decide(&sampler, None), Drop);
        assert_eq!(
            decide(&sampler, Some(parent(TraceFlags::SAMPLED, true))),
            Drop
        );
        // Spans inside a trace follow it whatever the budget, and a caller's unsampled
        // trace is not recorded.
        assert_eq!(
            decide(&sampler, Some(parent(TraceFlags::SAMPLED, false))),
            RecordAndSample
        );
        assert_eq!(
            decide(&sampler, Some(parent(TraceFlags::default(), false))),
            Drop
        );
        assert_eq!(
            decide(&sampler, Some(parent(TraceFlags::default(), true))),
            Drop
        );
    }
}
