//! A component from another toolchain: Python through componentize-py. About 18 MB, it
//! imports the whole WASI 0.2 surface at patch versions newer than wasmtime's, exports a
//! toolchain-internal hook, and takes seconds to compile.

use std::path::{Path, PathBuf};
use std::process::Command;

use runtime_tests::TestHost;
use serde_json::json;

/// Pinned so the test sees the same component every run.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// Install componentize-py into a venv under cargo's test scratch directory (once), and
/// build `guests/python-hello` with it.
fn build_python_component() -> PathBuf {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-guest");
    let venv = work.join("venv");
    let tool = venv.join("bin").join("componentize-py");
    if !tool.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            COMPONENTIZE_PY,
        ]));
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("guests")
        .join("python-hello");
    let wasm = work.join("pyhello.wasm");
    run(Command::new(&tool)
        .current_dir(&source)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-d", "wit", "-w", "pyhello", "componentize", "app", "-o"])
        .arg(&wasm));
    wasm
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
        ["greeter.hello"],
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

    // After a crash the compiled component comes from the cache; no re-upload.
    let host = host.restart();
    assert_eq!(
        host.rpc("greeter.hello", json!({ "name": "Ada" })).await,
        (200, expected)
    );
}
