//! Traces: the host's spans (every request, call, deploy and compile, workflow start, run
//! and new step) exported as OpenTelemetry over OTLP (HTTP/protobuf), and W3C trace
//! context taken from callers (`traceparent`) and passed on: to the calls a request makes,
//! to outbound HTTP from guests, to invoked procedures, and, stored with an execution, to
//! every later run of it (on any node, after any restart).
//!
//! Spans are `tracing` spans; `tracing-opentelemetry` makes them OpenTelemetry spans. The
//! SDK's batch processor sends them from a thread of its own with the blocking HTTP client,
//! so no export waits on (or needs) the tokio runtime that serves requests.

use std::collections::HashMap;

use anyhow::Context as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The target of spans made for traces only (calls, steps, deploys): the log leaves them
/// out (see [`SPANS_FOR_TRACES_ONLY`]), so that log records keep their request's span.
pub(crate) const TARGET: &str = "tsdev::trace";
/// The log's filter directive that leaves out spans of [`TARGET`].
pub(crate) const SPANS_FOR_TRACES_ONLY: &str = "tsdev::trace=off";
/// The path OTLP/HTTP receivers take traces on, under the endpoint's base URL.
const TRACES_PATH: &str = "/v1/traces";

/// Where traces go: `--otlp-endpoint` (a base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` is), or
/// the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
/// variables, read by the exporter itself.
#[derive(Clone, Debug)]
pub(crate) struct TraceExport {
    /// The traces URL when the flag gave one; None: the exporter reads the variables.
    url: Option<String>,
}

impl TraceExport {
    /// Traces are exported when the flag or one of the standard variables names an
    /// endpoint; not otherwise.
    pub(crate) fn from_flag(flag: Option<&str>) -> anyhow::Result<Option<TraceExport>> {
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
                        return Ok(Some(TraceExport { url: None }));
                    }
                    None => return Ok(None),
                }
            }
        };
        if let Some(url) = &url {
            check_scheme(url)?;
        }
        Ok(Some(TraceExport { url }))
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

/// The layer that makes spans OpenTelemetry spans and exports them as `export` says. It
/// takes the spans made for traces ([`TARGET`]; the log's own spans stay the log's) and the
/// host's warnings and errors, as events of the span they happen in.
pub(crate) fn layer<S>(
    export: &TraceExport,
) -> anyhow::Result<(Box<dyn Layer<S> + Send + Sync>, Traces)>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary);
    if let Some(url) = &export.url {
        exporter = exporter.with_endpoint(url.clone());
    }
    let exporter = exporter.build().context("making the OTLP trace exporter")?;
    let mut resource = opentelemetry_sdk::Resource::builder().with_attribute(
        opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    );
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("tsdev");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("tsdev");
    // Spans carry what the table in docs/operations.md lists, not where in tsdev's source
    // or on which thread they were made; nothing is done on each enter and exit (a call's
    // future is polled many times), and no OpenTelemetry context is made current (trace
    // context is read from the spans themselves).
    let layer = tracing_opentelemetry::layer()
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            if meta.is_span() {
                meta.target() == TARGET
            } else {
                meta.target().starts_with("tsdev") && *meta.level() <= tracing::Level::WARN
            }
        }))
        .boxed();
    Ok((
        layer,
        Traces {
            provider: Some(provider),
        },
    ))
}

/// The W3C `traceparent` of the span now current, when traces are exported.
pub(crate) fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
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

/// Make `span` a child of the span a `traceparent` (and `tracestate`) names; a missing or
/// malformed one leaves `span` a root. Call before the span is first entered.
pub(crate) fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    set_parent(span, TraceContextPropagator::new().extract(&carrier));
}

/// [`continue_trace`] from a request's headers (`traceparent`, `tracestate`).
pub(crate) fn continue_trace_of_request(span: &tracing::Span, headers: &http::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let extractor = opentelemetry_http::HeaderExtractor(headers);
    set_parent(span, TraceContextPropagator::new().extract(&extractor));
}

fn set_parent(span: &tracing::Span, parent: opentelemetry::Context) {
    if parent.span().span_context().is_valid() {
        // Fails only for a span already entered or disabled (traces off): nothing to do.
        let _ = span.set_parent(parent);
    }
}

/// Add `span`'s `traceparent` to an outgoing request's headers, unless it has one (a guest
/// passing on a trace of its own).
pub(crate) fn pass_on(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if span.is_disabled() || headers.contains_key("traceparent") {
        return;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return;
    }
    let mut injector = opentelemetry_http::HeaderInjector(headers);
    TraceContextPropagator::new().inject_context(&context, &mut injector);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_a_base_url_and_only_plain_http() {
        let export = TraceExport::from_flag(Some("http://collector:4318/"))
            .expect("taken")
            .expect("exported");
        assert_eq!(
            export.url.as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        let refused = TraceExport::from_flag(Some("https://collector:4318"))
            .expect_err("no TLS in the exporter");
        assert!(refused.to_string().contains("plain HTTP"), "{refused}");
    }

    #[test]
    fn without_the_layer_there_is_no_trace_context_to_pass_on() {
        let span = tracing::info_span!(target: "tsdev::trace", "call");
        let _entered = span.enter();
        assert_eq!(current_traceparent(), None);
        let mut headers = http::HeaderMap::new();
        pass_on(&span, &mut headers);
        assert!(headers.is_empty());
    }
}
