//! The API keeps the contract its OpenAPI document states: schemathesis (from PyPI) drives
//! every operation of `/openapi.json`, procedures and the host's own endpoints alike, with
//! valid and invalid data, and checks every answer against the document: no undocumented
//! status or 5xx, no answer that breaks its schema, no valid request refused, no invalid
//! one accepted.

use std::path::Path;
use std::process::Command;

use runtime_tests::{TestHost, guests, python_venv};

/// Pinned: schemathesis and the hypothesis it generates with.
const SCHEMATHESIS: &str = "schemathesis==4.32.5 hypothesis==6.169.4";

/// Whether a run's problems are all the tool's own: it crashed inside hypothesis (while
/// describing a strategy, hypothesis parses lambdas' source with `ast`, which on Python
/// 3.11 now and then fails with "AST constructor recursion depth mismatch" or a KeyError in
/// its caches: seen with hypothesis 6.169 and 6.170), every error it reports is such a
/// runtime error, and no check failed. That is no verdict on the API.
fn only_the_tool_crashed(stdout: &str) -> bool {
    let no_check_failed = stdout
        .lines()
        .filter(|l| l.contains(" generated,"))
        .all(|l| !l.contains(" failed"));
    let errors: Vec<&str> = stdout
        .lines()
        .skip_while(|l| l.trim() != "Errors:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    no_check_failed
        && stdout.contains("hypothesis/internal/")
        && !errors.is_empty()
        && errors.iter().all(|l| l.contains("Runtime Error"))
}

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
    // Seed 1, the configuration's, in full; then seed 12, which once found 44 undocumented
    // 429s on procedure operations (after its random PATCH lowered `fuel_per_minute`), with
    // fewer examples an operation so that CI stays inside its time.
    for (seed, examples) in [("1", "20"), ("12", "6")] {
        run_seed(&host, &bin, &config, seed, examples);
    }
}

fn run_seed(host: &TestHost, bin: &Path, config: &Path, seed: &str, examples: &str) {
    let run = || {
        let report = tempfile::tempdir().expect("a report directory");
        Command::new(bin.join("st"))
            .arg("--config-file")
            .arg(config)
            .args(["run", &format!("{}/openapi.json", host.url)])
            .args(["--seed", seed, "--max-examples", examples])
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
    // The tool crashed (see `only_the_tool_crashed`): once more; if it crashes again, the
    // checks it did make all passed, and that stands.
    if !output.status.success() && only_the_tool_crashed(&String::from_utf8_lossy(&output.stdout)) {
        eprintln!("schemathesis crashed inside hypothesis; running it once more");
        output = run();
    }
    let crashed_again =
        !output.status.success() && only_the_tool_crashed(&String::from_utf8_lossy(&output.stdout));
    if crashed_again {
        eprintln!(
            "schemathesis crashed inside hypothesis again; no check failed, so the run stands"
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() || crashed_again,
        "schemathesis (seed {seed}) found contract violations:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It ran: the summary counts the test cases, all passed.
    assert!(
        stdout.contains("generated,") && stdout.contains("passed"),
        "{stdout}"
    );
}

#[test]
fn a_crash_of_the_tool_is_told_from_a_failed_check() {
    let crashed = "Errors:\n  🚫 Runtime Error: 1\n\n  File \".../hypothesis/internal/lambda_sources.py\"\n    KeyError: ('source failed', )\nTest cases:\n  4123 generated, 4123 passed, 40 skipped\n";
    assert!(only_the_tool_crashed(crashed));
    let failed = crashed.replace("4123 passed, 40 skipped", "4100 passed, 23 failed");
    assert!(!only_the_tool_crashed(&failed), "a failed check stands");
    let other = crashed.replace(
        "🚫 Runtime Error: 1",
        "🚫 Runtime Error: 1\n  🚫 Network Error: 2",
    );
    assert!(!only_the_tool_crashed(&other), "other errors stand");
}
