//! Bad arguments and bad uploads get problems with stable kinds.

use runtime_tests::{TestHost, guests};
use serde_json::json;

#[tokio::test]
async fn bad_arguments_are_400_invalid_args_naming_the_place() {
    let host = TestHost::start();
    assert_eq!(host.deploy("types", guests::TYPES).await.0, 201);
    let cases = [
        (
            "kinds.echo-u8",
            json!({ "v": "x" }),
            "v",
            "expected an integer",
        ),
        ("kinds.echo-u8", json!({ "v": 256 }), "v", "out of range"),
        (
            "kinds.echo-s8",
            json!({ "v": 1.5 }),
            "v",
            "expected an integer",
        ),
        ("kinds.echo-u8", json!({}), "v", "missing parameter"),
        (
            "kinds.echo-u8",
            json!({ "v": 1, "w": 2 }),
            "w",
            "unknown parameter",
        ),
        (
            "kinds.echo-char",
            json!({ "v": "ab" }),
            "v",
            "exactly one character",
        ),
        (
            "kinds.echo-person",
            json!({ "v": { "name": "A", "age": 1, "tags": [], "extra": 1 } }),
            "v.extra",
            "unknown field",
        ),
        (
            "kinds.echo-person",
            json!({ "v": { "name": "A", "tags": [] } }),
            "v.age",
            "missing field",
        ),
        (
            "kinds.echo-points",
            json!({ "v": [{ "x": 1, "y": "2" }] }),
            "v[0].y",
            "expected an integer",
        ),
        (
            "kinds.echo-tuple",
            json!({ "v": ["a", 1] }),
            "v",
            "exactly 3 items",
        ),
        (
            "kinds.echo-color",
            json!({ "v": "purple" }),
            "v",
            "unknown case",
        ),
        (
            "kinds.echo-shape",
            json!({ "v": { "circle": 1, "empty": null } }),
            "v",
            "exactly one key",
        ),
        (
            "kinds.echo-shape",
            json!({ "v": "circle" }),
            "v",
            "needs a payload",
        ),
        (
            "kinds.echo-permissions",
            json!({ "v": ["fly"] }),
            "v[0]",
            "unknown flag",
        ),
        (
            "kinds.echo-nested-option",
            json!({ "v": "x" }),
            "v",
            "nested option",
        ),
        (
            "kinds.echo-results",
            json!({ "v": [{ "maybe": 1 }] }),
            "v[0]",
            "\"ok\"",
        ),
        ("kinds.echo-bytes", json!({ "v": "%%%" }), "v", "base64"),
        (
            "kinds.echo-u8",
            json!([1]),
            "arguments",
            "expected an object",
        ),
    ];
    for (procedure, args, path, needle) in cases {
        let (status, body) = host.rpc(procedure, args.clone()).await;
        assert_eq!(status, 400, "{procedure}({args}) -> {body}");
        assert_eq!(body["kind"], "invalid-args", "{body}");
        assert_eq!(body["path"], path, "{procedure}({args}) -> {body}");
        let detail = body["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains(needle),
            "{procedure}({args}): {detail:?} lacks {needle:?}"
        );
        assert!(
            body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{body}"
        );
    }
    let (status, body) = host.rpc_raw("kinds.echo-u8", "{\"v\": ".into()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-args")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not valid JSON")
    );
}

#[tokio::test]
async fn unknown_procedures_and_routes_are_404() {
    let host = TestHost::start();
    let (status, body) = host.rpc("nope.nothing", json!({})).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );
    let (status, body) = host.get("/v1/components/nope").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );
    let (status, body) = host.get("/no/such/route").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_with_a_reason() {
    let host = TestHost::start();
    let (status, body) = host
        .upload("name=junk", b"definitely not wasm".to_vec())
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (415, Some("not-wasm")),
        "{body}"
    );

    let core_module = wat::parse_str("(module (func (export \"f\")))").expect("valid wat");
    let (status, body) = host.upload("name=core", core_module).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("not-a-component")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("wasm32-wasip2")
    );

    let imports_missing = wat::parse_str(
        r#"(component (import "acme:missing/thing@1.0.0" (instance (export "f" (func)))))"#,
    )
    .expect("valid wat");
    let (status, body) = host.upload("name=needy", imports_missing).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("unsupported-import")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("acme:missing/thing"),
        "{body}"
    );

    let mut truncated = std::fs::read(guests::HELLO).expect("hello.wasm");
    truncated.truncate(truncated.len() / 2);
    let (status, body) = host.upload("name=broken", truncated).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid-component")),
        "{body}"
    );

    let hello = std::fs::read(guests::HELLO).expect("hello.wasm");
    let (status, body) = host.upload("name=Not_Valid", hello.clone()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-name")),
        "{body}"
    );
    let (status, body) = host.upload("nom=hello", hello.clone()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-query")),
        "{body}"
    );
    let (status, body) = host.upload("name=hello&memory_mib=999999", hello).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-limits")),
        "{body}"
    );

    // Over the upload limit (64 MiB): 413 before anything is compiled.
    let (status, body) = host.upload("name=huge", vec![0u8; (64 << 20) + 1]).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (413, Some("too-large")),
        "{body}"
    );

    let (status, body) = host.get("/v1/components").await;
    assert_eq!(
        (status, body["components"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
}

#[tokio::test]
async fn oversized_arguments_are_413() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let name = "x".repeat(5 << 20);
    let (status, body) = host.rpc("greeter.hello", json!({ "name": name })).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (413, Some("too-large")),
        "{body}"
    );
}
