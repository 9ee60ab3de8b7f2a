//! A component from another toolchain: Python through componentize-py. About 18 MB, it
//! imports the whole WASI 0.2 surface at patch versions newer than wasmtime's, exports a
//! toolchain-internal hook, and takes seconds to compile.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use runtime_tests::{TestHost, python_venv, run};

use crate::hello_server::hello_server;
use serde_json::json;

/// Pinned so the test sees the same component every run.
pub(crate) const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// Install componentize-py (once) and build `guests/python-hello` with it.
fn build_python_component() -> PathBuf {
    build_python("python-hello", "pyhello")
}

/// Build `guests/{dir}` (world `world`, module `app`) with componentize-py.
fn build_python(dir: &str, world: &str) -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = python_venv(scratch, "componentize-py", COMPONENTIZE_PY);
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("guests")
        .join(dir);
    let wasm = scratch.join(format!("{world}.wasm"));
    run(Command::new(bin.join("componentize-py"))
        .current_dir(&source)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-d", "wit", "-w", world, "componentize", "app", "-o"])
        .arg(&wasm));
    wasm
}

/// The standard wasi:keyvalue and wasi:http interfaces from Python, unchanged: granted
/// buckets only, counters that count, data that outlives a crash; requests to granted
/// origins only.
#[tokio::test]
async fn a_componentize_py_component_keeps_data_in_granted_buckets_and_fetches() {
    let wasm = build_python("python-kv", "pykv");
    let wasm = std::fs::read(&wasm).expect("built");
    let host = TestHost::start();
    let (status, body) = host.upload("name=pykv", wasm.clone()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("not-granted")),
        "{body}"
    );
    let (port, hits) = hello_server().await;
    let manifest =
        format!("[grants]\nkey-value = [\"py\"]\noutbound-http = [\"http://127.0.0.1:{port}\"]\n");
    let granted = runtime_tests::with_manifest(&wasm, &manifest);
    let (status, body) = host.upload("name=pykv", granted).await;
    assert_eq!(status, 201, "{body}");

    let url = format!("http://127.0.0.1:{port}/hello");
    let answer = host.rpc("notes.fetch", json!({ "url": url })).await;
    assert_eq!(answer, (200, json!("200 hello from the test server")));
    let other = format!("http://localhost:{port}/hello");
    let answer = host.rpc("notes.fetch", json!({ "url": other })).await;
    assert_eq!(answer.0, 422, "{}", answer.1);
    assert_eq!(
        answer.1["error"],
        json!("failed: ErrorCode_HttpRequestDenied"),
        "another origin is denied in the guest"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the denied request was not sent"
    );

    for expected in 1..=3 {
        let answer = host
            .rpc("notes.bump", json!({ "bucket": "py", "key": "n" }))
            .await;
        assert_eq!(answer, (200, json!(expected)));
    }
    let answer = host
        .rpc(
            "notes.keep",
            json!({ "bucket": "py", "key": "note", "text": "from Python" }),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    let (status, body) = host
        .rpc("notes.read", json!({ "bucket": "other", "key": "note" }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("Error_AccessDenied: ")),
        "{body}"
    );

    let host = host.restart();
    let answer = host
        .rpc("notes.read", json!({ "bucket": "py", "key": "note" }))
        .await;
    assert_eq!(answer, (200, json!("from Python")));
    let answer = host
        .rpc("notes.bump", json!({ "bucket": "py", "key": "n" }))
        .await;
    assert_eq!(answer, (200, json!(4)));
}

#[tokio::test]
async fn a_componentize_py_component_deploys_answers_and_survives_a_restart() {
    let wasm = build_python_component();
    let size = std::fs::metadata(&wasm).expect("built").len();
    assert!(
        size > 10 << 20,
        "componentize-py components are big; this one is {size} bytes"
    );

    let host = TestHost::start();
    let (status, body) = host
        .deploy("pyhello", wasm.to_str().expect("utf-8 path"))
        .await;
    assert_eq!(status, 201, "{body}");
    let procedures: Vec<&str> = body["procedures"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        procedures,
        ["greeter.hello", "greeter.fail"],
        "the toolchain's init hook is not a procedure"
    );
    let hook = body["unexposed"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == "exports.init"))
        .expect("the init hook is listed as unexposed");
    assert!(
        hook["reason"]
            .as_str()
            .unwrap_or("")
            .contains("componentize-py"),
        "{hook}"
    );

    let expected = json!({ "message": "Hello from Python, Ada!", "name-length": 3 });
    assert_eq!(
        host.rpc("greeter.hello", json!({ "name": "Ada" })).await,
        (200, expected.clone())
    );
    let log = host.log();
    assert!(
        log.lines().any(
            |l| l.contains("python says hello to Ada") && l.contains("procedure=greeter.hello")
        ),
        "print() reaches the host log, tagged:\n{log}"
    );
    // A Python exception: the trap alone says `wasm unreachable`; the caller also sees the
    // end of what Python wrote to stderr, the exception among it.
    let (status, body) = host
        .rpc("greeter.fail", json!({ "message": "the sky fell" }))
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (500, Some("trap")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("ValueError: the sky fell"),
        "{body}"
    );

    // After a crash the compiled component comes from the cache; no re-upload.
    let host = host.restart();
    assert_eq!(
        host.rpc("greeter.hello", json!({ "name": "Ada" })).await,
        (200, expected)
    );
}
