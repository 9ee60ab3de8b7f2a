//! The API keeps the contract its OpenAPI document states: schemathesis (from PyPI) drives
//! every operation of `/openapi.json`, procedures and the host's own endpoints alike, with
//! valid and invalid data, and checks every answer against the document: no undocumented
//! status or 5xx, no answer that breaks its schema, no valid request refused, no invalid
//! one accepted.

use std::path::Path;
use std::process::Command;

use runtime_tests::{TestHost, guests, python_venv};

/// Hypothesis 6.170 crashed inside its own caches in two runs of session 8 (a KeyError in
/// hypothesis/internal/cache.py, after one in lambda_sources.py in session 7): pinned below.
const SCHEMATHESIS: &str = "schemathesis==4.32.5 hypothesis==6.169.4";

#[tokio::test]
async fn schemathesis_finds_no_contract_violation() {
    let host = TestHost::start();
    assert_eq!(host.deploy("types", guests::TYPES).await.0, 201);
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    host.deploy_built("runtime-tests/guests/catalog").await;
    assert_eq!(host.deploy("flows", guests::FLOWS).await.0, 201);

    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = python_venv(scratch, "schemathesis", SCHEMATHESIS);
    let config = Path::new(guests::ROOT).join("runtime-tests/schemathesis.toml");
    let run = || {
        let report = tempfile::tempdir().expect("a report directory");
        Command::new(bin.join("st"))
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{}/openapi.json", host.url)])
            // The admin key: every operation is reachable (401 and 403 have tests of their
            // own). Headers given here replace the configuration's: repeat its Prefer.
            .args(["--header", "Prefer: wait=1"])
            .arg("--header")
            .arg(format!(
                "Authorization: Bearer {}",
                host.admin_key.as_deref().expect("keys are required")
            ))
            .arg("--report-dir")
            .arg(report.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("running schemathesis")
    };
    let mut output = run();
    // Hypothesis (schemathesis's generator) now and then crashes inside its own caches while
    // describing a strategy (a KeyError in hypothesis/internal/lambda_sources.py, seen with
    // hypothesis 6.170): that is no verdict on the API. Such a run, with no check failed, is
    // made once more; any other error or failure stands.
    let tool_crashed =
        |stdout: &str| stdout.contains("hypothesis/internal/") && !stdout.contains(" failed");
    if !output.status.success() && tool_crashed(&String::from_utf8_lossy(&output.stdout)) {
        eprintln!("schemathesis crashed inside hypothesis; running it once more");
        output = run();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found contract violations:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It ran: the summary counts the test cases, all passed.
    assert!(
        stdout.contains("generated,") && stdout.contains("passed"),
        "{stdout}"
    );
}
