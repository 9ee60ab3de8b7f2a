//! REST routes and policies from a component's tsdev.toml, embedded by `tsdev build`.

use std::time::Duration;

use runtime_tests::{TestHost, guests, with_manifest};
use serde_json::{Value, json};

/// Deploy the catalog with the name its manifest gives.
async fn deploy_catalog(host: &TestHost) -> Value {
    host.deploy_built("runtime-tests/guests/catalog").await
}

/// `method path` with an optional JSON body: status, headers, JSON body.
async fn request(
    host: &TestHost,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = host.client.request(method, format!("{}{path}", host.url));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("requesting");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("reading");
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{text}"
        );
    }
    (status, headers, value)
}

#[tokio::test]
async fn rest_routes_map_path_query_and_body_onto_parameters() {
    let host = TestHost::start();
    let deployed = deploy_catalog(&host).await;
    assert_eq!(
        deployed["name"], "catalog",
        "the name comes from the manifest"
    );
    assert_eq!(deployed["component_version"], "2.1.0");

    let (status, _, item) = request(&host, "GET", "/items/5", None).await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(
        item,
        json!({ "id": 5, "name": "item 5", "price-cents": 500, "tags": ["stock"] })
    );
    let (_, _, item) = request(&host, "GET", "/items/5?verbose=true", None).await;
    assert_eq!(item["tags"], json!(["stock", "verbose"]), "query parameter");
    let (status, _, problem) = request(&host, "GET", "/items/0", None).await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (422, Some("procedure-error"))
    );
    assert_eq!(problem["error"], "there is no item 0");
    let (status, _, problem) = request(&host, "GET", "/items/abc", None).await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (400, Some("invalid-args"))
    );
    assert_eq!(problem["path"], "id", "{problem}");
    let (status, _, problem) = request(&host, "GET", "/items/5?colour=red", None).await;
    assert_eq!(status, 400, "unknown query parameter: {problem}");
    assert_eq!(problem["path"], "colour");

    let (status, _, item) = request(
        &host,
        "POST",
        "/items",
        Some(json!({ "name": "lamp", "price-cents": 2500, "tags": ["home"] })),
    )
    .await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["name"], "lamp");
    assert_eq!(item["price-cents"], 2500);
    let (status, _, item) =
        request(&host, "PUT", "/items/9", Some(json!({ "name": "renamed" }))).await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(
        (item["id"].as_u64(), item["name"].as_str()),
        (Some(9), Some("renamed"))
    );
    let (status, _, problem) = request(
        &host,
        "PUT",
        "/items/9",
        Some(json!({ "id": 3, "name": "x" })),
    )
    .await;
    assert_eq!(status, 400, "a parameter in both path and body: {problem}");
    let (status, _, ids) = request(&host, "GET", "/items?tags=a&tags=b&limit=2", None).await;
    assert_eq!(
        (status, ids),
        (200, json!([2, 4])),
        "a repeated query key is a list"
    );

    let (status, headers, problem) = request(&host, "DELETE", "/items/5", None).await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (405, Some("method-not-allowed"))
    );
    assert_eq!(headers["allow"], "GET, PUT");
    let (status, _, problem) = request(&host, "GET", "/nowhere", None).await;
    assert_eq!((status, problem["kind"].as_str()), (404, Some("not-found")));

    // The manifest's description replaces the WIT doc; the route is listed.
    let (_, catalogue) = host.get("/procedures").await;
    let get = catalogue["procedures"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "items.get"))
        .cloned()
        .expect("items.get is listed");
    assert_eq!(get["description"], "One item by id.");
    assert_eq!(get["route"], "GET /items/{id}");
    // The WIT docs embedded by `tsdev build` describe the rest.
    let create = catalogue["procedures"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "items.create"))
        .cloned()
        .expect("items.create is listed");
    assert_eq!(create["description"], "Create an item from its parts.");
}

#[tokio::test]
async fn route_conflicts_are_refused_and_a_redeploy_swaps_routes() {
    let host = TestHost::start();
    deploy_catalog(&host).await;
    let hello = std::fs::read(guests::HELLO).expect("reading hello");
    let hello_with = |route: &str| {
        with_manifest(
            &hello,
            &format!("[procedures.\"greeter.hello\"]\nroute = \"{route}\"\n"),
        )
    };

    let (status, problem) = host
        .upload("name=hello", hello_with("GET /items/{name}"))
        .await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (409, Some("route-conflict")),
        "{problem}"
    );
    assert_eq!(problem["route"], "GET /items/{name}");
    assert_eq!(problem["other_route"], "GET /items/{id}");
    assert_eq!(problem["other_procedure"], "items.get");
    assert_eq!(problem["other_component"], "catalog");
    let (status, _, _) = request(&host, "GET", "/items/5", None).await;
    assert_eq!(status, 200, "the refused deploy changed nothing");

    assert_eq!(
        host.upload("name=hello", hello_with("GET /greet/{name}"))
            .await
            .0,
        201
    );
    let (status, _, greeting) = request(&host, "GET", "/greet/Ada", None).await;
    assert_eq!(
        (status, greeting["message"].as_str()),
        (200, Some("Hello, Ada!"))
    );
    assert_eq!(
        host.upload("name=hello", hello_with("GET /hi/{name}"))
            .await
            .0,
        201
    );
    let (status, _, _) = request(&host, "GET", "/greet/Ada", None).await;
    assert_eq!(status, 404, "the old route went with the old version");
    let (status, _, greeting) = request(&host, "GET", "/hi/Ada%20Lovelace", None).await;
    assert_eq!(
        (status, greeting["message"].as_str()),
        (200, Some("Hello, Ada Lovelace!")),
        "path parameters are percent-decoded"
    );

    for (manifest, expected) in [
        (
            "[procedures.\"greeter.nope\"]\npublic = false\n",
            "greeter.nope",
        ),
        (
            "[procedures.\"greeter.hello\"]\nroute = \"GET /x/{who}\"\n",
            "{who}",
        ),
        (
            "[procedures.\"greeter.hello\"]\nrate-limit = \"often\"\n",
            "rate-limit",
        ),
    ] {
        let (status, problem) = host
            .upload("name=hello", with_manifest(&hello, manifest))
            .await;
        assert_eq!(
            (status, problem["kind"].as_str()),
            (422, Some("invalid-manifest")),
            "{problem}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(expected)),
            "{manifest}: {problem}"
        );
    }
    let (status, problem) = host.upload("", hello.clone()).await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (400, Some("invalid-query")),
        "no name and no manifest to take it from"
    );
}

#[tokio::test]
async fn cached_answers_are_reused_until_their_ttl_or_a_redeploy() {
    let host = TestHost::start();
    deploy_catalog(&host).await;
    let (_, headers, first) = request(&host, "GET", "/nonce/1", None).await;
    assert_eq!(headers["x-cache"], "miss");
    let (_, headers, again) = request(&host, "GET", "/nonce/1", None).await;
    assert_eq!(headers["x-cache"], "hit");
    assert_eq!(first, again, "the cached answer");
    let (status, over_rpc) = host.rpc("items.nonce", json!({ "seed": 1 })).await;
    assert_eq!(
        (status, &over_rpc),
        (200, &first),
        "RPC and REST share the cache"
    );
    let (_, _, other) = request(&host, "GET", "/nonce/2", None).await;
    assert_ne!(other, first, "other arguments, another answer");
    let (_, _, uncached) = request(&host, "GET", "/items/5", None).await;
    assert!(uncached.is_object());

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (_, headers, expired) = request(&host, "GET", "/nonce/1", None).await;
    assert_eq!(headers["x-cache"], "miss", "the TTL (2 s) is over");
    assert_ne!(expired, first);

    deploy_catalog(&host).await;
    let (_, headers, redeployed) = request(&host, "GET", "/nonce/1", None).await;
    assert_eq!(headers["x-cache"], "miss", "a redeploy drops the cache");
    assert_ne!(redeployed, expired);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let host = TestHost::start();
    deploy_catalog(&host).await;
    for _ in 0..3 {
        assert_eq!(host.rpc("items.limited", json!({})).await.0, 200);
    }
    let response = host
        .client
        .post(format!("{}/rpc/items.limited", host.url))
        .send()
        .await
        .expect("calling");
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(
        (1..=20).contains(&retry_after),
        "one call frees up every 20 s: {retry_after}"
    );
    let problem: Value = response.json().await.expect("a problem");
    assert_eq!(problem["kind"], "rate-limited");
    assert_eq!(
        host.rpc("items.get", json!({ "id": 1 })).await.0,
        200,
        "other procedures are not limited"
    );
}

#[tokio::test]
async fn private_procedures_and_limit_overrides_are_enforced() {
    let host = TestHost::start();
    deploy_catalog(&host).await;
    // Without a key a private procedure answers exactly as a missing one (404, the same
    // body but for the name): a tenant's private API cannot be probed. A key with scope
    // `call` may call it.
    let anonymous = |path: &'static str, body: &'static str| {
        let request = host
            .anonymous
            .post(format!("{}{path}", host.url))
            .header("content-type", "application/json")
            .body(body)
            .send();
        async move {
            let response = request.await.expect("calling");
            let status = response.status().as_u16();
            let mut problem: serde_json::Value = response.json().await.expect("a problem");
            problem["request_id"] = json!(null);
            (status, problem)
        }
    };
    for body in ["{}", "{\"id\": \"not a number\"}", "[1]"] {
        let (status, private) = anonymous("/rpc/items.internal", body).await;
        let (missing_status, missing) = anonymous("/rpc/items.internax", body).await;
        assert_eq!(
            status, missing_status,
            "{body}: {private} against {missing}"
        );
        assert_eq!(
            private.to_string().replace("items.internal", "NAME"),
            missing.to_string().replace("items.internax", "NAME"),
            "{body}"
        );
    }
    let (status, private) = anonymous("/rpc/items.internal", "{}").await;
    assert_eq!((status, private["kind"].as_str()), (404, Some("not-found")));
    let suggested = private["detail"].as_str().unwrap_or_default();
    assert!(
        suggested.ends_with("did you mean items.note?"),
        "only a public name is suggested: {private}"
    );
    let (status, body) = host.rpc("items.internal", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, document) = host.get("/openapi.json").await;
    assert!(document["paths"].get("/rpc/items.internal").is_none());
    assert!(document["paths"].get("/rpc/items.get").is_some());

    // items.busy has `timeout = "300ms"`; the deployment's default is 10 s.
    let (status, _) = host.rpc("items.busy", json!({ "ms": 20 })).await;
    assert_eq!(status, 200);
    let (status, problem) = host.rpc("items.busy", json!({ "ms": 2000 })).await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (504, Some("timeout")),
        "{problem}"
    );
    let (_, shown) = host.get("/v1/components/catalog").await;
    let busy = shown["procedures"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "items.busy"))
        .cloned()
        .expect("items.busy");
    assert_eq!(busy["limits"]["timeout_ms"], 300);
}
