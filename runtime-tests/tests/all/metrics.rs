//! `GET /metrics`: the host's metrics, read with a Prometheus text parser
//! (prometheus-parse), moving as calls, workflows and requests are made; and the log as
//! JSON lines (`--log-format json`).

use prometheus_parse::{Scrape, Value as Metric};
use runtime_tests::{TestHost, guests};
use serde_json::json;

async fn scrape(host: &TestHost) -> Scrape {
    let response = host
        .client
        .get(format!("{}/metrics", host.url))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("the metrics");
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

/// The value of series `name` with (at least) `labels`: a counter's or gauge's value, a
/// histogram's count; 0 when there is no such series yet.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
            Metric::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Metric::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_move_as_calls_and_workflows_are_made() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("flows", guests::FLOWS).await.0, 201);

    let before = scrape(&host).await;
    assert!(
        value(&before, "tsdev_compile_duration_seconds", &[]) >= 2.0,
        "two compiles counted"
    );
    for _ in 0..3 {
        let (status, _) = host.rpc("greeter.hello", json!({ "name": "Ada" })).await;
        assert_eq!(status, 200);
    }
    let (status, _) = host.rpc("greeter.hello", json!({ "name": 7 })).await;
    assert_eq!(status, 400);
    // A three-step workflow, run to its end.
    let (status, body) = host
        .rpc("flows.greet-all", json!({ "names": ["a", "b", "c"] }))
        .await;
    assert_eq!(status, 200, "{body}");
    let after = scrape(&host).await;

    let ok = [
        ("tenant", "default"),
        ("procedure", "greeter.hello"),
        ("outcome", "ok"),
    ];
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    // Three direct calls and three workflow steps.
    assert_eq!(delta("tsdev_calls_total", &ok), 6.0);
    assert_eq!(delta("tsdev_call_duration_seconds", &ok), 6.0);
    let invalid = [("procedure", "greeter.hello"), ("outcome", "invalid-args")];
    assert_eq!(delta("tsdev_calls_total", &invalid), 1.0);
    let rpc_ok = [("route", "/rpc/:procedure"), ("status", "200")];
    assert_eq!(delta("tsdev_http_requests_total", &rpc_ok), 4.0);
    let rpc_bad = [("route", "/rpc/:procedure"), ("status", "400")];
    assert_eq!(delta("tsdev_http_requests_total", &rpc_bad), 1.0);
    assert!(
        delta(
            "tsdev_http_request_duration_seconds",
            &[("route", "/rpc/:procedure")]
        ) >= 5.0
    );
    assert_eq!(
        delta("tsdev_workflow_runs_total", &[("status", "completed")]),
        1.0
    );
    assert_eq!(
        delta("tsdev_workflow_step_duration_seconds", &[("kind", "call")]),
        3.0
    );
    // Every guest call's fuel: three calls, three steps and the workflow itself.
    assert!(delta("tsdev_guest_fuel_used", &[]) >= 7.0);
    // Each write is committed by the SQLite writer, some together.
    assert!(delta("tsdev_store_commit_duration_seconds", &[]) >= 1.0);
    assert!(delta("tsdev_store_commit_writes", &[]) >= 1.0);
    // Nothing runs between the calls; the store's pool is open.
    assert_eq!(value(&after, "tsdev_instances_in_use", &[]), 0.0);
    assert_eq!(
        value(&after, "tsdev_executions", &[("status", "running")]),
        0.0
    );
    assert!(value(&after, "tsdev_store_connections", &[]) >= 1.0);
    // The scrapes themselves are requests.
    assert!(
        value(
            &after,
            "tsdev_http_requests_total",
            &[("route", "/metrics")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn metrics_need_an_admin_key() {
    let host = TestHost::start();
    let anonymous = host
        .anonymous
        .get(format!("{}/metrics", host.url))
        .send()
        .await
        .expect("scrape");
    assert_eq!(anonymous.status().as_u16(), 401);
    let (status, created) = {
        let response = host
            .client
            .post(format!("{}/v1/tenants/default/keys", host.url))
            .json(&json!({ "name": "reader", "scopes": ["read", "call"] }))
            .send()
            .await
            .expect("a key");
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().await.expect("JSON"),
        )
    };
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("the key");
    let reader = runtime_tests::client(Some(key))
        .get(format!("{}/metrics", host.url))
        .send()
        .await
        .expect("scrape");
    assert_eq!(reader.status().as_u16(), 403);
}

/// A guest's failure is a 500 to its caller but not a host error: one request event (at
/// `info`, with the status), no `ERROR` record a tenant could flood the log with.
#[tokio::test]
async fn json_logs_have_one_event_per_request_and_structured_guest_records() {
    let dir = tempfile::tempdir().expect("a data directory");
    let host = TestHost::start_with(dir.path(), &["--log-format", "json"], &[]);
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("hostile", guests::HOSTILE).await.0, 201);
    let (status, _) = host.rpc("greeter.hello", json!({ "name": "Ada" })).await;
    assert_eq!(status, 200);
    let (status, failed) = host
        .rpc("hostile.panic", json!({ "message": "on purpose" }))
        .await;
    assert_eq!(status, 500, "{failed}");
    let failed_id = failed["request_id"].as_str().expect("the failed call's id");
    let log = host.log();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let request = records
        .iter()
        .find(|r| r["target"] == "tsdev::request" && r["route"] == "/rpc/:procedure")
        .unwrap_or_else(|| panic!("no request event: {log}"));
    assert_eq!(request["status"], 200, "{request}");
    assert_eq!(request["tenant"], "default", "{request}");
    assert_eq!(request["procedure"], "greeter.hello", "{request}");
    assert!(request["duration_ms"].as_f64().is_some(), "{request}");
    let request_id = request["span"]["request_id"]
        .as_str()
        .expect("the span's request id");
    assert_eq!(request["span"]["method"], "POST", "{request}");
    // The guest's own log line, as fields of the same request.
    let guest = records
        .iter()
        .find(|r| r["target"] == "tsdev::guest")
        .unwrap_or_else(|| panic!("no guest record: {log}"));
    assert_eq!(guest["procedure"], "greeter.hello", "{guest}");
    assert_eq!(guest["request_id"], request_id, "{guest}");
    assert!(
        guest["message"].as_str().unwrap_or("").contains("Ada"),
        "{guest}"
    );

    let of_failed: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["span"]["request_id"] == failed_id)
        .collect();
    let events: Vec<_> = of_failed
        .iter()
        .filter(|r| r["target"] == "tsdev::request")
        .collect();
    assert_eq!(events.len(), 1, "{of_failed:#?}");
    assert_eq!(events[0]["status"], 500, "{of_failed:#?}");
    assert!(
        of_failed.iter().all(|r| r["level"] != "ERROR"),
        "a guest's failure logged as the host's error: {of_failed:#?}"
    );
}

/// A component importing `wasi:logging` (as Spin and wasmCloud components do) deploys, and
/// its records reach the host log as a guest's: level, context and message as fields, with
/// the request id and procedure; a forged line stays one record.
#[tokio::test]
async fn wasi_logging_records_are_guest_records() {
    let dir = tempfile::tempdir().expect("a data directory");
    let host = TestHost::start_with(dir.path(), &["--log-format", "json"], &[]);
    host.deploy_built("runtime-tests/guests/catalog").await;
    let message = "restocked\n{\"level\":\"ERROR\",\"forged\":true}";
    let (status, body) = host.rpc("items.note", json!({ "message": message })).await;
    assert_eq!((status, body), (200, json!(message.len())));
    let log = host.log();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        !records.iter().any(|r| r["forged"] == true),
        "the guest forged a record: {log}"
    );
    let guest = records
        .iter()
        .find(|r| r["target"] == "tsdev::guest" && r["procedure"] == "items.note")
        .unwrap_or_else(|| panic!("no wasi:logging record: {log}"));
    assert_eq!(
        (guest["level"].as_str(), guest["context"].as_str()),
        (Some("WARN"), Some("catalog")),
        "{guest}"
    );
    assert!(
        guest["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("restocked\\n")),
        "{guest}"
    );
    assert!(
        guest["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}
