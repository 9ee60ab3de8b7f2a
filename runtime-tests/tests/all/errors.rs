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
    // The root: a browser is sent to the docs page; other clients are told where it is.
    let (status, body) = host.get("/").await;
    assert_eq!(status, 404);
    assert!(
        body["detail"].as_str().unwrap_or("").contains("/docs"),
        "{body}"
    );
    runtime_tests::install_tls_provider();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    for (root, docs) in [("/", "/ui"), ("/t/default/", "/t/default/docs")] {
        let response = browser
            .get(format!("{}{root}", host.url))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .expect("GET /");
        assert_eq!(response.status().as_u16(), 303, "{root}");
        assert_eq!(
            response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok()),
            Some(docs)
        );
    }
}

/// A misspelt procedure name is answered with the closest one the caller may call; a
/// caller without a key is never told the name of a private procedure.
#[tokio::test]
async fn a_misspelt_procedure_gets_a_did_you_mean() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    host.deploy_built("runtime-tests/guests/catalog").await;
    for (asked, meant) in [
        ("greeter.helo", "greeter.hello"),
        ("Greeter.Hello", "greeter.hello"),
        ("hello", "greeter.hello"),
    ] {
        let (status, body) = host.rpc(asked, json!({ "name": "Ada" })).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(
            body["detail"].as_str(),
            Some(format!("no procedure named {asked}; did you mean {meant}?").as_str())
        );
    }
    let (status, body) = host.rpc("zzz.qqq", json!({})).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("no procedure named zzz.qqq")),
        "nothing alike: no suggestion"
    );
    // items.internal is private in the catalog's manifest: an anonymous caller is not told.
    let private = body_of_private(&host).await;
    let misspelt = format!("{private}x");
    let (status, body) = host.rpc(&misspelt, json!({})).await;
    assert_eq!(status, 404);
    let told = format!("did you mean {private}?");
    assert!(
        body["detail"].as_str().unwrap_or("").ends_with(&told),
        "the admin is told: {body}"
    );
    let anonymous = host
        .anonymous
        .post(format!("{}/rpc/{misspelt}", host.url))
        .json(&json!({}))
        .send()
        .await
        .expect("a call");
    let body: serde_json::Value = anonymous.json().await.expect("JSON");
    assert!(
        !body["detail"].as_str().unwrap_or("").contains(&told),
        "an anonymous caller is not: {body}"
    );
}

/// The name of a private procedure of the catalog.
async fn body_of_private(host: &TestHost) -> String {
    let (_, catalogue) = host.get("/procedures").await;
    catalogue["procedures"]
        .as_array()
        .expect("procedures")
        .iter()
        .find(|p| p["public"] == false)
        .and_then(|p| p["name"].as_str())
        .expect("a private procedure in the catalog")
        .to_string()
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

    // The same with no Content-Length (chunked, as `curl -T -` sends): 200 MiB streamed
    // get the same 413, not a connection cut off mid-send.
    let chunks =
        futures::stream::iter((0..200).map(|_| Ok::<_, std::io::Error>(vec![0u8; 1 << 20])));
    let response = host
        .client
        .post(format!("{}/v1/components?name=huge", host.url))
        .header("content-type", "application/wasm")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("the 413 is answered, the connection not cut off");
    assert_eq!(response.status().as_u16(), 413);
    let body: serde_json::Value = response.json().await.expect("a problem");
    assert_eq!(body["kind"], "too-large", "{body}");

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
