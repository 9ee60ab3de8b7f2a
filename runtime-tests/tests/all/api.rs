//! The API around the procedures: OpenAPI from WIT, request ids, compression, CORS.

use std::path::Path;
use std::process::Command;

use runtime_tests::{TestHost, guests, python_venv, run};
use serde_json::{Value, json};

/// A maintained validator of OpenAPI documents, from PyPI, pinned.
const OPENAPI_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

#[tokio::test]
async fn the_openapi_document_is_valid_and_every_path_answers_its_example() {
    let host = TestHost::start();
    assert_eq!(host.deploy("types", guests::TYPES).await.0, 201);
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    host.deploy_built("runtime-tests/guests/catalog").await;
    let (status, document) = host.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");

    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = python_venv(scratch, "openapi", OPENAPI_VALIDATOR);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), document.to_string()).expect("writing the document");
    run(Command::new(bin.join("openapi-spec-validator")).arg(file.path()));

    let paths = document["paths"].as_object().expect("paths");
    let public_procedures = host.get("/procedures").await.1["procedures"]
        .as_array()
        .map_or(0, |ps| ps.iter().filter(|p| p["public"] == true).count());
    let rpc_paths = paths.keys().filter(|p| p.starts_with("/rpc/")).count();
    assert_eq!(
        rpc_paths, public_procedures,
        "one RPC path per public procedure"
    );
    let mut rest_operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            // The host's own endpoints are described too, from the types the handlers
            // answer with; schemathesis exercises them (.ci/run).
            if operation["tags"] == json!(["tsdev"]) {
                continue;
            }
            let (status, body) = call_example(&host, path, method, operation).await;
            // items.get's example id 1 exists; every other example is valid input.
            assert_eq!(status, 200, "{method} {path} with its example: {body}");
            if !path.starts_with("/rpc/") {
                rest_operations += 1;
            }
        }
    }
    assert_eq!(
        rest_operations, 5,
        "the catalog's five REST routes are documented"
    );
    let get_item = &paths["/items/{id}"]["get"];
    assert_eq!(get_item["tags"], json!(["catalog", "items", "read"]));
    assert_eq!(get_item["parameters"][0]["in"], "path");
    assert_eq!(get_item["parameters"][1]["name"], "verbose");
    assert_eq!(get_item["parameters"][1]["in"], "query");
    assert!(paths["/rpc/items.limited"]["post"]["responses"]["429"].is_object());
    let divide = &paths["/rpc/kinds.divide"]["post"];
    assert_eq!(divide["tags"], json!(["types"]));
    assert!(
        divide["responses"]["422"].is_object(),
        "a procedure with a result documents its error"
    );
    assert!(paths["/rpc/greeter.hello"]["post"]["responses"]["422"].is_null());

    // The management API, described from the same types its handlers answer with.
    for (path, method) in [
        ("/v1/components", "post"),
        ("/v1/components/{name}", "delete"),
        ("/v1/executions", "get"),
        ("/v1/executions/{id}", "get"),
        ("/v1/executions/{id}/signals/{name}", "post"),
        ("/v1/workflows/{name}/executions", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    let schemas = &document["components"]["schemas"];
    let execution = &schemas["ExecutionInfo"]["properties"];
    for field in ["id", "status", "steps", "wake_at"] {
        assert!(
            execution[field].is_object(),
            "ExecutionInfo.{field}: {execution}"
        );
    }
    let (_, listed) = host.get("/v1/components").await;
    let documented: Vec<&str> = schemas["ComponentInfo"]["required"]
        .as_array()
        .expect("required fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for field in documented {
        assert!(
            !listed["components"][0][field].is_null()
                || field == "component_version"
                || field == "description",
            "the answer lacks {field}: {listed}"
        );
    }
}

/// Call one documented operation with its documented examples: path and query parameters
/// from `parameters`, the body from `requestBody`.
async fn call_example(
    host: &TestHost,
    path: &str,
    method: &str,
    operation: &Value,
) -> (u16, Value) {
    let mut url = format!("{}{path}", host.url);
    let mut query = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().expect("a parameter name");
        let example = &parameter["example"];
        let text = example
            .as_str()
            .map_or_else(|| example.to_string(), str::to_string);
        match parameter["in"].as_str() {
            Some("path") => url = url.replace(&format!("{{{name}}}"), &text),
            _ if example.is_null() => {}
            _ => match example.as_array() {
                Some(items) => {
                    for item in items {
                        let text = item
                            .as_str()
                            .map_or_else(|| item.to_string(), str::to_string);
                        query.push((name.to_string(), text));
                    }
                }
                None => query.push((name.to_string(), text)),
            },
        }
    }
    let method =
        reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("a method");
    let mut request = host.client.request(method, url).query(&query);
    if let Some(example) = operation["requestBody"]["content"]["application/json"].get("example") {
        request = request
            .header("content-type", "application/json")
            .body(example.to_string());
    }
    let response = request.send().await.expect("calling an example");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_every_problem_names_it() {
    let host = TestHost::start();
    let response = host
        .client
        .get(format!("{}/health", host.url))
        .send()
        .await
        .expect("health");
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(id.len(), 36, "a fresh UUID: {id}");

    for (path, method) in [
        ("/no/such/route", "GET"),
        ("/v1/components?name=x", "POST"),
        ("/rpc/nope", "POST"),
    ] {
        let request = match method {
            "GET" => host.client.get(format!("{}{path}", host.url)),
            _ => host
                .client
                .post(format!("{}{path}", host.url))
                .body("garbage"),
        };
        let response = request
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .expect("request");
        assert!(response.status().is_client_error());
        assert_eq!(response.headers()["x-request-id"], "trace-me-42");
        let problem: Value = response.json().await.expect("a problem body");
        assert_eq!(
            problem["request_id"], "trace-me-42",
            "{method} {path}: {problem}"
        );
    }
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_asks() {
    let host = TestHost::start();
    assert_eq!(host.deploy("types", guests::TYPES).await.0, 201);
    let plain = host
        .client
        .get(format!("{}/openapi.json", host.url))
        .send()
        .await
        .expect("get");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.expect("body").len();
    let gzipped = host
        .client
        .get(format!("{}/openapi.json", host.url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("get");
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let gzipped_len = gzipped.bytes().await.expect("body").len();
    assert!(
        gzipped_len * 3 < plain_len,
        "{gzipped_len} compressed vs {plain_len} plain"
    );
}

#[tokio::test]
async fn cors_is_off_by_default_and_allows_the_configured_origins() {
    let preflight = |host: &TestHost| {
        host.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/rpc/greeter.hello", host.url),
            )
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .send()
    };
    let host = TestHost::start();
    let response = preflight(&host).await.expect("preflight");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let data = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(data.path(), &["--cors-origin", "https://app.example"]);
    let response = preflight(&host).await.expect("preflight");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = host
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/rpc/greeter.hello", host.url),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

/// Pinned, so the check drives the same client library every run.

#[tokio::test]
async fn the_docs_page_lists_the_procedures_and_tries_them_in_a_browser() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("types", guests::TYPES).await.0, 201);
    host.deploy_built("runtime-tests/guests/catalog").await;

    let page = host
        .client
        .get(format!("{}/docs", host.url))
        .send()
        .await
        .expect("docs");
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let output =
        runtime_tests::browser_check(scratch, "docs-check.cjs", &host.url, vec![], vec![]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();

    let mut listed: Vec<String> = serde_json::from_value(lines[0]["names"].clone()).expect("names");
    let (_, procedures) = host.get("/procedures").await;
    let mut expected: Vec<String> = procedures["procedures"]
        .as_array()
        .expect("procedures")
        .iter()
        .filter(|p| p["public"] == true)
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "the page lists every public procedure");
    assert_eq!(lines[0]["routes"]["items.get"], "GET /items/{id}");
    assert_eq!(lines[0]["routes"]["items.rename"], "PUT /items/{id}");
    // The description: not the summary again, Markdown code spans shown as code.
    let summary = lines[0]["summary"].as_str().unwrap_or("");
    let paragraphs: Vec<&str> = lines[0]["description"]
        .as_array()
        .expect("paragraphs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        paragraphs
            .iter()
            .all(|p| !p.contains('`') && !summary.contains(*p)),
        "{summary:?} {paragraphs:?}"
    );
    assert!(
        lines[0]["code"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c
                .as_str()
                .is_some_and(|c| c.starts_with("func(name: string)")))),
        "the WIT signature as code: {}",
        lines[0]
    );
    assert_eq!(
        lines[1]["result"],
        json!({ "message": "Hello, Browser!", "name-length": 7 })
    );
}
