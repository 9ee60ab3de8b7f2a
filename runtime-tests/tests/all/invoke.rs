//! `tsdev:host/invoke` with the real binary: a component calls procedures of its tenant
//! (of other components too) by name with JSON arguments; only those its manifest grants;
//! every outcome comes back as a value (result, the callee's own error, bad arguments,
//! not found, a failure with its kind); the callee ends within its caller's deadline; and
//! nesting stops at the host's depth limit.

use serde_json::{Value, json};

use runtime_tests::{TestHost, guests, with_manifest};

const MANIFEST: &str = r#"
[procedures."relay.call"]
timeout = "1s"

[grants]
invoke = ["relay.deep", "items.get", "items.busy", "nothing.here"]
"#;

async fn relay(
    host: &TestHost,
    http: &reqwest::Client,
    procedure: &str,
    args: Value,
) -> (u16, Value) {
    let response = http
        .post(format!("{}/rpc/relay.call", host.url))
        .json(&json!({ "procedure": procedure, "args": args.to_string() }))
        .send()
        .await
        .expect("a call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn procedures_invoke_granted_procedures_of_their_tenant_within_the_callers_deadline() {
    let host = TestHost::start();
    let http = &host.client;
    let wasm = std::fs::read(guests::RELAY).expect("relay");

    // Imported but not granted: refused at upload.
    let (status, body) = host.upload("name=relay", wasm.clone()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("not-granted")),
        "{body}"
    );
    assert!(
        body["interface"]
            .as_str()
            .is_some_and(|i| i.starts_with("tsdev:host/invoke")),
        "{body}"
    );
    let (status, body) = host
        .upload("name=relay", with_manifest(&wasm, MANIFEST))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = host.deploy("catalog", guests::CATALOG).await;
    assert_eq!(status, 201, "{body}");

    // Another component's procedure, its JSON result.
    let (status, body) = relay(&host, http, "items.get", json!({ "id": 3 })).await;
    assert_eq!(status, 200, "{body}");
    let item: Value = serde_json::from_str(body.as_str().expect("JSON text")).expect("JSON");
    assert_eq!(
        (item["id"].as_u64(), item["name"].as_str()),
        (Some(3), Some("item 3"))
    );

    // Every other outcome, as a value the caller handles.
    for (procedure, args, expected) in [
        (
            "items.get",
            json!({ "id": 0 }),
            "procedure-error: \"there is no item 0\"",
        ),
        ("items.get", json!({ "id": "three" }), "invalid-args"),
        ("nothing.here", json!({}), "not-found"),
        (
            "items.create",
            json!({ "name": "x", "price-cents": 1, "tags": [] }),
            "not-granted",
        ),
    ] {
        let (status, body) = relay(&host, http, procedure, args).await;
        assert_eq!(status, 422, "{procedure}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(expected), "{procedure}: {error}");
    }
    assert!(
        host.log().contains("does not grant"),
        "the refusal is logged"
    );

    // The callee runs within what is left of the caller's 1 s: a 5 s busy loop is stopped
    // as a timeout the caller still answers.
    let (status, body) = relay(&host, http, "items.busy", json!({ "ms": 5_000 })).await;
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("failed: timeout"), "{error}");

    // A cycle stops at the depth limit (8 calls deep).
    let (status, body) = host.rpc("relay.deep", json!({ "level": 0 })).await;
    assert_eq!((status, &body), (200, &json!(8)), "{body}");

    // Another tenant's relay reaches only its own tenant's procedures.
    let beta = host.tenant_client("beta", &["deploy", "call"]).await;
    let (status, body) = host
        .upload_as(&beta, "relay", with_manifest(&wasm, MANIFEST))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = relay(&host, &beta, "items.get", json!({ "id": 3 })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("not-found")),
        "{body}"
    );
}
