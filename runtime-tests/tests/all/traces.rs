//! OpenTelemetry traces with the real binary and a real OTLP/HTTP receiver in the test,
//! which decodes what arrives with the protocol's own messages (opentelemetry-proto): an
//! RPC call (request, call, the caller's `traceparent` continued), outbound HTTP and an
//! invoked procedure in the caller's trace, a workflow's start, runs and steps as parents
//! and children of one trace that a run resumed after kill -9 continues, the spans
//! still queued at a graceful stop sent before the process ends, and the budget of new
//! traces a second.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

use runtime_tests::{TestHost, guests, with_manifest};

/// What reached the receiver: the spans, and the `traceparent` of requests to `/traced`
/// (where guests send their outbound requests).
#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<Span>>>,
    traceparents: Arc<Mutex<Vec<String>>>,
}

/// An OTLP/HTTP receiver (`POST /v1/traces`, protobuf) and a `/traced` page on loopback:
/// its base URL and what it received.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let (spans, traceparents) = (received.spans.clone(), received.traceparents.clone());
    let app = Router::new()
        .route(
            "/v1/traces",
            post(move |body: Bytes| {
                let spans = spans.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body)
                        .expect("an ExportTraceServiceRequest in protobuf");
                    let mut spans = spans.lock().expect("the span list");
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .and_then(|a| a.value.as_ref())
                            .and_then(|v| v.value.clone());
                        assert_eq!(
                            service,
                            Some(any_value::Value::StringValue("tsdev".into())),
                            "the service is named"
                        );
                        for scope in resource.scope_spans {
                            spans.extend(scope.spans);
                        }
                    }
                    // An empty ExportTraceServiceResponse: full success.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        )
        .route(
            "/traced",
            get(move |headers: HeaderMap| {
                let traceparents = traceparents.clone();
                async move {
                    let traceparent = headers
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_string();
                    traceparents.lock().expect("the list").push(traceparent);
                    "traced"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port on loopback");
    let port = listener.local_addr().expect("an address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}"), received)
}

impl Received {
    /// The spans received once `found` picks what it looks for; panics after 30 s.
    async fn wait_for<T>(&self, what: &str, found: impl Fn(&[Span]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let spans = self.spans.lock().expect("the span list").clone();
            if let Some(found) = found(&spans) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} among the spans received: {}",
                names(&spans)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn names(spans: &[Span]) -> String {
    spans
        .iter()
        .map(|s| format!("{} ({})", s.name, hex::encode(&s.trace_id)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The span named `name` in trace `trace` whose parent is `parent` (any, when None).
fn find(spans: &[Span], trace: &str, name: &str, parent: Option<&[u8]>) -> Option<Span> {
    spans
        .iter()
        .find(|s| {
            hex::encode(&s.trace_id) == trace
                && s.name == name
                && parent.is_none_or(|p| s.parent_span_id == p)
        })
        .cloned()
}

/// An attribute's value as text (strings as they are, numbers in decimal).
fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .clone()?;
    match value.value? {
        any_value::Value::StringValue(s) => Some(s),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// A caller's new trace: its id and the `traceparent` naming the caller's span in it.
fn caller_trace() -> (String, Vec<u8>, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = uuid::Uuid::new_v4().as_bytes()[..8].to_vec();
    let traceparent = format!("00-{trace}-{}-01", hex::encode(&span));
    (trace, span, traceparent)
}

/// OTLP from the test: the receiver at `endpoint`, batches sent every 100 ms.
fn traced_host(data: &std::path::Path, endpoint: &str) -> TestHost {
    TestHost::start_with(
        data,
        &["--otlp-endpoint", endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
}

/// Stop `host` gracefully and check that it sent its last batch before it ended. Waits on
/// a thread of its own: the test's receiver answers the export meanwhile (the test runs
/// on two threads).
fn stop_sending_the_last_batch(host: &mut TestHost) {
    host.signal("TERM");
    let status = tokio::task::block_in_place(|| host.wait());
    assert!(status.success(), "{status:?}\n{}", host.log());
    assert!(
        !host.log().contains("sending the last traces"),
        "the last batch was sent: {}",
        host.log()
    );
}

async fn post_traced(host: &TestHost, path: &str, body: Value, traceparent: &str) -> (u16, Value) {
    let response = host
        .client
        .post(format!("{}{path}", host.url))
        .header("traceparent", traceparent)
        .json(&body)
        .send()
        .await
        .expect("a request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn calls_outbound_requests_and_invoked_procedures_are_spans_of_the_callers_trace() {
    let (endpoint, received) = receiver().await;
    let dir = tempfile::tempdir().expect("a data directory");
    let host = traced_host(dir.path(), &endpoint);
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);

    // An RPC call: the request span continues the caller's trace, the call is its child.
    let (trace, caller_span, traceparent) = caller_trace();
    let (status, body) = post_traced(
        &host,
        "/rpc/greeter.hello",
        json!({ "name": "Ada" }),
        &traceparent,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let request = received
        .wait_for("request span", |spans| {
            find(spans, &trace, "POST /rpc/{procedure}", Some(&caller_span))
        })
        .await;
    assert_eq!(request.kind, 2, "a server span: {request:?}");
    assert_eq!(
        attribute(&request, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(&request, "tsdev.tenant").as_deref(),
        Some("default")
    );
    let call = received
        .wait_for("call span", |spans| {
            find(spans, &trace, "call greeter.hello", Some(&request.span_id))
        })
        .await;
    assert_eq!(attribute(&call, "tsdev.outcome").as_deref(), Some("ok"));
    assert_eq!(
        attribute(&call, "tsdev.component").as_deref(),
        Some("hello")
    );
    for measured in ["tsdev.fuel_used", "tsdev.instantiate_us", "tsdev.guest_us"] {
        let value: u64 = attribute(&call, measured)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{measured} on {call:?}"));
        if measured == "tsdev.fuel_used" {
            assert!(value > 0, "{call:?}");
        }
    }

    // A failing call is a span with an error status and its kind.
    let (trace_err, _, traceparent_err) = caller_trace();
    let (status, _) = post_traced(
        &host,
        "/rpc/greeter.hello",
        json!({ "name": 7 }),
        &traceparent_err,
    )
    .await;
    assert_eq!(status, 400);
    let failed = received
        .wait_for("failed call span", |spans| {
            find(spans, &trace_err, "call greeter.hello", None)
        })
        .await;
    assert_eq!(
        attribute(&failed, "tsdev.outcome").as_deref(),
        Some("invalid-args")
    );
    assert_eq!(
        failed.status.as_ref().map(|s| s.code),
        Some(2),
        "error status"
    );

    // Outbound HTTP from a guest: a client span of the call, passed on in traceparent.
    let port = endpoint.rsplit(':').next().expect("a port");
    let manifest = format!("[grants]\noutbound-http = [\"http://127.0.0.1:{port}\"]\n");
    let fetcher = std::fs::read(guests::FETCHER).expect("fetcher");
    let (status, body) = host
        .upload("name=fetcher", with_manifest(&fetcher, &manifest))
        .await;
    assert_eq!(status, 201, "{body}");
    let (trace, _, traceparent) = caller_trace();
    let (status, body) = post_traced(
        &host,
        "/rpc/web.get",
        json!({ "url": format!("{endpoint}/traced") }),
        &traceparent,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let call = received
        .wait_for("web.get call span", |spans| {
            find(spans, &trace, "call web.get", None)
        })
        .await;
    let outbound = received
        .wait_for("outbound span", |spans| {
            find(spans, &trace, "GET", Some(&call.span_id))
        })
        .await;
    assert_eq!(outbound.kind, 3, "a client span: {outbound:?}");
    assert_eq!(
        attribute(&outbound, "http.response.status_code").as_deref(),
        Some("200")
    );
    let sent = received.traceparents.lock().expect("the list").clone();
    assert_eq!(
        sent,
        vec![format!("00-{trace}-{}-01", hex::encode(&outbound.span_id))],
        "the server reached continues the trace from the client span"
    );

    // An invoked procedure: its call is a child of the caller's call.
    const RELAY: &str = "[grants]\ninvoke = [\"greeter.hello\"]\n";
    let relay = std::fs::read(guests::RELAY).expect("relay");
    let (status, body) = host
        .upload("name=relay", with_manifest(&relay, RELAY))
        .await;
    assert_eq!(status, 201, "{body}");
    let (trace, _, traceparent) = caller_trace();
    let args = json!({ "procedure": "greeter.hello", "args": json!({ "name": "Bo" }).to_string() });
    let (status, body) = post_traced(&host, "/rpc/relay.call", args, &traceparent).await;
    assert_eq!(status, 200, "{body}");
    let caller = received
        .wait_for("relay call span", |spans| {
            find(spans, &trace, "call relay.call", None)
        })
        .await;
    received
        .wait_for("invoked call span", |spans| {
            find(spans, &trace, "call greeter.hello", Some(&caller.span_id))
        })
        .await;

    // A caller that did not sample its trace (flags 00) is followed: nothing is recorded.
    let (unsampled, _, traceparent) = caller_trace();
    let traceparent = format!("{}-00", traceparent.trim_end_matches("-01"));
    let (status, _) = post_traced(
        &host,
        "/rpc/greeter.hello",
        json!({ "name": "Cy" }),
        &traceparent,
    )
    .await;
    assert_eq!(status, 200);
    let (after, _, traceparent) = caller_trace();
    let (status, _) = post_traced(
        &host,
        "/rpc/greeter.hello",
        json!({ "name": "Di" }),
        &traceparent,
    )
    .await;
    assert_eq!(status, 200);
    received
        .wait_for("the call after the unsampled one", |spans| {
            find(spans, &after, "call greeter.hello", None)
        })
        .await;
    let spans = received.spans.lock().expect("the span list").clone();
    assert!(
        !spans.iter().any(|s| hex::encode(&s.trace_id) == unsampled),
        "{}",
        names(&spans)
    );
}

#[tokio::test]
async fn a_workflow_is_one_trace_of_its_start_runs_and_steps_across_kill_9() {
    let (endpoint, received) = receiver().await;
    let dir = tempfile::tempdir().expect("a data directory");
    let host = traced_host(dir.path(), &endpoint);
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("flows", guests::FLOWS).await.0, 201);

    let (trace, caller_span, traceparent) = caller_trace();
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 2500 });
    let (status, body) = post_traced(
        &host,
        "/v1/workflows/flows.greet-twice/executions",
        args,
        &traceparent,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("an execution id").to_string();

    // The start is a child of the request, which continues the caller's trace; the run is
    // the start's child, its first step the run's, and the step's call the step's.
    let request = received
        .wait_for("start request span", |spans| {
            find(
                spans,
                &trace,
                "POST /v1/workflows/{name}/executions",
                Some(&caller_span),
            )
        })
        .await;
    let start = received
        .wait_for("start span", |spans| {
            find(
                spans,
                &trace,
                "start flows.greet-twice",
                Some(&request.span_id),
            )
        })
        .await;
    assert_eq!(attribute(&start, "tsdev.execution"), Some(id.clone()));
    let first_run = received
        .wait_for("first run span", |spans| {
            find(spans, &trace, "run flows.greet-twice", Some(&start.span_id))
        })
        .await;
    let step = received
        .wait_for("first step span", |spans| {
            find(
                spans,
                &trace,
                "durable.call greeter.hello",
                Some(&first_run.span_id),
            )
        })
        .await;
    received
        .wait_for("the first step's call span", |spans| {
            find(spans, &trace, "call greeter.hello", Some(&step.span_id))
        })
        .await;
    received
        .wait_for("sleep step span", |spans| {
            find(
                spans,
                &trace,
                "durable.sleep 2500 ms",
                Some(&first_run.span_id),
            )
        })
        .await;

    // kill -9 while it sleeps; the host started again resumes it in the same trace.
    host.signal("KILL");
    drop(host);
    let host = traced_host(dir.path(), &endpoint);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, execution) = host.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(status, 200, "{execution}");
        if execution["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "never completed: {execution}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed = received
        .wait_for("resumed run span", |spans| {
            spans
                .iter()
                .find(|s| {
                    hex::encode(&s.trace_id) == trace
                        && s.name == "run flows.greet-twice"
                        && s.parent_span_id == start.span_id
                        && s.span_id != first_run.span_id
                        && attribute(s, "tsdev.status").as_deref() == Some("completed")
                })
                .cloned()
        })
        .await;
    // Only the second greeting runs again: the first is answered from the journal.
    let second = received
        .wait_for("second step span", |spans| {
            find(
                spans,
                &trace,
                "durable.call greeter.hello",
                Some(&resumed.span_id),
            )
        })
        .await;
    received
        .wait_for("the second step's call span", |spans| {
            find(spans, &trace, "call greeter.hello", Some(&second.span_id))
        })
        .await;
    let spans = received.spans.lock().expect("the span list").clone();
    let steps_resumed = spans
        .iter()
        .filter(|s| s.parent_span_id == resumed.span_id && s.name.starts_with("durable.call"))
        .count();
    assert_eq!(steps_resumed, 1, "{}", names(&spans));
}

/// (Two threads: the receiver answers the exporter while the test waits for the stop.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_still_queued_are_sent_at_a_graceful_stop() {
    let (endpoint, received) = receiver().await;
    let dir = tempfile::tempdir().expect("a data directory");
    // Batches every 10 minutes: only the stop sends them.
    let mut host = TestHost::start_with(
        dir.path(),
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "600000")],
    );
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let (trace, _, traceparent) = caller_trace();
    let (status, _) = post_traced(
        &host,
        "/rpc/greeter.hello",
        json!({ "name": "Ada" }),
        &traceparent,
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        find(
            &received.spans.lock().expect("the span list"),
            &trace,
            "call greeter.hello",
            None
        )
        .is_none(),
        "nothing is sent before the batch is due"
    );
    stop_sending_the_last_batch(&mut host);
    assert!(
        find(
            &received.spans.lock().expect("the span list"),
            &trace,
            "call greeter.hello",
            None
        )
        .is_some(),
        "the call span was sent before the process ended"
    );
}

/// `--traces-per-second`: new traces past the budget are not recorded, callers' sampled
/// ones included, and a trace is recorded whole (a request with its call) or not at all.
/// (Two threads: the receiver answers the exporter while the test waits for the stop.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_records_at_most_its_traces_per_second_and_each_whole() {
    const PER_SECOND: usize = 2;
    let (endpoint, received) = receiver().await;
    let dir = tempfile::tempdir().expect("a data directory");
    let mut host = TestHost::start_with(
        dir.path(),
        &[
            "--otlp-endpoint",
            &endpoint,
            "--traces-per-second",
            &PER_SECOND.to_string(),
        ],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    // The deploy was a trace: let the budget fill again.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let started = Instant::now();
    for i in 0..20 {
        let (status, body) = host
            .rpc("greeter.hello", json!({ "name": format!("n{i}") }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..5 {
        let (_, _, traceparent) = caller_trace();
        let (status, _) = post_traced(
            &host,
            "/rpc/greeter.hello",
            json!({ "name": "sampled" }),
            &traceparent,
        )
        .await;
        assert_eq!(status, 200);
    }
    let took = started.elapsed();
    // The stop sends every span recorded.
    stop_sending_the_last_batch(&mut host);

    let spans = received.spans.lock().expect("the span list").clone();
    let requests: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "POST /rpc/{procedure}")
        .collect();
    // A full bucket, and what refilled while the 25 requests were made.
    let most = PER_SECOND + (took.as_secs_f64() * PER_SECOND as f64).ceil() as usize;
    assert!(
        (PER_SECOND..=most).contains(&requests.len()),
        "{} of 25 requests recorded in {took:?}, expected {PER_SECOND}..={most}: {}",
        requests.len(),
        names(&spans)
    );
    let calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "call greeter.hello")
        .collect();
    assert_eq!(calls.len(), requests.len(), "{}", names(&spans));
    for call in calls {
        assert!(
            requests
                .iter()
                .any(|r| r.trace_id == call.trace_id && r.span_id == call.parent_span_id),
            "a call recorded without its request: {}",
            names(&spans)
        );
    }
}

#[tokio::test]
async fn an_https_otlp_endpoint_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("a data directory");
    let output = std::process::Command::new(runtime_tests::tsdev_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args(["--otlp-endpoint", "https://collector.example:4318"])
        .output()
        .expect("tsdev serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plain HTTP") && stderr.contains("collector"),
        "{stderr}"
    );
}
