//! A component from JavaScript: componentize-js (what jco's `componentize` runs), built in
//! the test from its npm package. About 12 MB of StarlingMonkey; its default build imports
//! wasi:http (for `fetch`) at a newer patch version than wasmtime's. It deploys unchanged,
//! keeps data in its granted bucket, fetches from granted origins only, and a thrown error's
//! message reaches the caller.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use serde_json::json;

use crate::hello_server::hello_server;

use runtime_tests::{TestHost, npm_package, run, with_manifest};

/// Pinned so the test sees the same component every run (jco 1.35 runs this version).
const COMPONENTIZE_JS: &str = "0.23.0";

/// Install componentize-js (once) and build `guests/js-app` with it.
fn build_js_component() -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let package = npm_package(
        scratch,
        "@bytecodealliance/componentize-js",
        COMPONENTIZE_JS,
    );
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/js-app");
    let wasm = scratch.join("jsapp.wasm");
    run(Command::new("node")
        .arg(package.join("src/cli.js"))
        .args(["app.js", "--wit", "wit", "--world-name", "jsapp", "--out"])
        .arg(&wasm)
        .current_dir(&source));
    wasm
}

#[tokio::test]
async fn a_componentize_js_component_uses_key_value_and_fetch_as_granted() {
    let wasm = std::fs::read(build_js_component()).expect("built");
    let (port, hits) = hello_server().await;
    let host = TestHost::start();

    // It imports wasi:keyvalue: refused without the grant.
    let (status, body) = host.upload("name=jsapp", wasm.clone()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("not-granted")),
        "{body}"
    );
    let manifest =
        format!("[grants]\nkey-value = [\"js\"]\noutbound-http = [\"http://127.0.0.1:{port}\"]\n");
    let (status, body) = host
        .upload("name=jsapp", with_manifest(&wasm, &manifest))
        .await;
    assert_eq!(status, 201, "{body}");

    for expected in 1..=3 {
        let answer = host
            .rpc("counter.bump", json!({ "bucket": "js", "key": "n" }))
            .await;
        assert_eq!(answer, (200, json!(expected)));
    }
    let (status, body) = host
        .rpc("counter.bump", json!({ "bucket": "other", "key": "n" }))
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (500, Some("trap")),
        "an ungranted bucket throws in the guest: {body}"
    );

    let granted = format!("http://127.0.0.1:{port}/hello");
    let answer = host
        .rpc("counter.fetch-text", json!({ "url": granted }))
        .await;
    assert_eq!(answer, (200, json!("200 hello from the test server")));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The same server under another name is another origin: denied, nothing sent.
    let other = format!("http://localhost:{port}/hello");
    let (status, body) = host
        .rpc("counter.fetch-text", json!({ "url": other }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("NetworkError"),
        "fetch rejects in the guest: {body}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the denied request was not sent"
    );

    // A thrown Error: its message and stack reach the caller, not only the host log.
    let (status, body) = host
        .rpc("counter.fail", json!({ "message": "no luck today" }))
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (500, Some("trap")),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("no luck today") && detail.contains("app.js"),
        "{detail}"
    );
}

/// Pinned: QuickJS through componentize-qjs, from npm (a native binary; 1.6 MB components).
const COMPONENTIZE_QJS: &str = "0.4.5";

/// Build world `world` of `guests/qjs-hello` from `js` with componentize-qjs (`extra`
/// arguments added); the component's path.
fn build_qjs(world: &str, js: &str, extra: &[&str]) -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let package = npm_package(scratch, "componentize-qjs", COMPONENTIZE_QJS);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/qjs-hello");
    let wasm = scratch.join(format!("qjs-{world}{}.wasm", extra.join("")));
    run(Command::new(package.join("bin/componentize-qjs"))
        .args(["--wit", "wit", "--world", world, "--js", js, "--output"])
        .arg(&wasm)
        .args(extra)
        .current_dir(&source));
    wasm
}

/// componentize-qjs: its default build uses the component model's async ABI, which this
/// host does not run yet (refused with what to do); built `--sync` it deploys, its
/// world-level `init` hook (which would run any script given) is not a procedure, and a
/// second such component does not conflict with the first on it.
#[tokio::test]
async fn componentize_qjs_components_deploy_without_their_init_hook() {
    let host = TestHost::start();
    let default_build = std::fs::read(build_qjs("greeting", "hello.js", &[])).expect("built");
    let (status, body) = host.upload("name=qjs-async", default_build).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid-component")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("--sync"),
        "the refusal says what to do: {body}"
    );

    let hello = std::fs::read(build_qjs("greeting", "hello.js", &["--sync"])).expect("built");
    let (status, body) = host.upload("name=qjs-hello", hello).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["procedures"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    assert_eq!(body["procedures"][0]["name"], "greeter.hello");
    let hook = body["unexposed"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == "init"))
        .expect("the init hook is listed as unexposed");
    assert!(
        hook["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("componentize-qjs"),
        "{hook}"
    );
    let (status, body) = host
        .rpc(
            "init",
            json!({ "shim": "", "script": "", "entry-path": null, "disable-gc": false }),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );

    let bye = std::fs::read(build_qjs("leaving", "bye.js", &["--sync"])).expect("built");
    let (status, body) = host.upload("name=qjs-bye", bye).await;
    assert_eq!(status, 201, "a second componentize-qjs component: {body}");
    let answer = host.rpc("greeter.hello", json!({ "name": "Ada" })).await;
    assert_eq!(answer, (200, json!("Hello, Ada!")));
    let answer = host.rpc("farewell.bye", json!({ "name": "Bo" })).await;
    assert_eq!(answer, (200, json!("Bye, Bo!")));
}
