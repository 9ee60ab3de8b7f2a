//! The dashboard (`/ui`) in headless Chromium (Debian's, through playwright-core): sign-in
//! with a key, the executions list following a run live, timelines with a retry, a sleep
//! and a signal, signal and cancel from the page, versions, a phone-width window, the
//! keyboard, a tenant's key seeing its tenant only, and axe-core finding no serious
//! accessibility violation. The script is `runtime-tests/browser/dashboard-check.cjs`; its
//! screenshots go to the test's scratch directory, or to docs/dashboard/ with
//! `TSDEV_UPDATE_SCREENSHOTS=1` (what docs/dashboard.md shows).

use std::path::{Path, PathBuf};

use runtime_tests::{TestHost, guests};
use serde_json::{Value, json};

/// Pinned, so the check drives the same libraries every run.
const AXE_CORE: &str = "4.11.0";

#[tokio::test]
async fn the_dashboard_shows_executions_live_and_acts_on_them_in_a_browser() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("flows", guests::FLOWS).await.0, 201);
    host.deploy_built("runtime-tests/guests/catalog").await;
    // A second version of flows, so that its history has two.
    let flows = std::fs::read(guests::FLOWS).expect("flows");
    let tagged = runtime_tests::with_custom_section(&flows, "dashboard-test", b"2");
    assert_eq!(host.upload("name=flows", tagged).await.0, 201);

    // A tenant with a key of its own, and nothing run in it.
    let (status, body) = host.post("/v1/tenants", json!({ "name": "acme" })).await;
    assert_eq!(status, 201, "{body}");
    let (status, key) = host
        .post(
            "/v1/tenants/acme/keys",
            json!({ "name": "dashboard", "scopes": ["read", "operate"] }),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let tenant_key = key["key"].as_str().expect("a key").to_string();

    // Calls to count: three answered, one refused for its arguments.
    for name in ["a", "b", "c"] {
        assert_eq!(
            host.rpc("greeter.hello", json!({ "name": name })).await.0,
            200
        );
    }
    assert_eq!(host.rpc("greeter.hello", json!({ "name": 7 })).await.0, 400);
    let (status, stats) = host.get("/v1/stats").await;
    assert_eq!(status, 200, "{stats}");
    let hello = stats["procedures"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["procedure"] == "greeter.hello"))
        .expect("greeter.hello's stats")
        .clone();
    assert_eq!(
        (hello["calls"].as_u64(), hello["errors"].as_u64()),
        (Some(4), Some(1))
    );
    assert!(
        hello["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{hello}"
    );

    let page = host
        .anonymous
        .get(format!("{}/ui", host.url))
        .send()
        .await
        .expect("GET /ui");
    assert_eq!(page.status().as_u16(), 200, "the page itself needs no key");
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let shots: PathBuf = if std::env::var_os("TSDEV_UPDATE_SCREENSHOTS").is_some() {
        Path::new(guests::ROOT).join("docs/dashboard")
    } else {
        scratch.join("dashboard-screenshots")
    };
    std::fs::create_dir_all(&shots).expect("a screenshot directory");
    let axe = runtime_tests::npm_package(scratch, "axe-core", AXE_CORE);
    let admin_key = host.admin_key.clone().expect("keys are required");
    let output = runtime_tests::browser_check(
        scratch,
        "dashboard-check.cjs",
        &host.url,
        vec![admin_key.into(), tenant_key.into(), shots.clone().into()],
        vec![("AXE_CORE", axe)],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        host.log()
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let line = |key: &str| -> &Value {
        lines
            .iter()
            .find(|l| l.get(key).is_some())
            .unwrap_or_else(|| panic!("no {key} line in {stdout}"))
    };

    // A browser at / lands on the dashboard and is asked for a key; a bad one is refused.
    assert_eq!(line("landed")["landed"], "/ui");
    assert!(
        line("refused")["refused"]
            .as_str()
            .is_some_and(|t| t.contains("refused")),
        "{stdout}"
    );
    // The list followed the run from sleeping to completed.
    let live: Vec<&Value> = lines.iter().filter(|l| l.get("live").is_some()).collect();
    assert_eq!(live.len(), 2, "{stdout}");
    assert_eq!(live[1]["status"], "completed");

    // One run's timeline: the call retried (one journal entry per attempt, the attempts
    // counting up), the sleep and the signal wait, arriving while the page was open.
    let checkout = line("timeline");
    assert_eq!(checkout["timeline"], "checkout", "{checkout}");
    let steps = checkout["steps"].as_array().expect("steps");
    let attempts: Vec<i64> = steps
        .iter()
        .filter(|s| s["name"] == "restock")
        .filter_map(|s| s["attempts"].as_i64())
        .collect();
    assert!(attempts.len() >= 2, "it failed at least once: {checkout}");
    assert_eq!(
        attempts,
        (1..=attempts.len() as i64).collect::<Vec<_>>(),
        "{checkout}"
    );
    let kinds: Vec<&str> = steps.iter().filter_map(|s| s["kind"].as_str()).collect();
    assert!(
        kinds.ends_with(&["call", "sleep", "signal-wait"]),
        "{checkout}"
    );
    // The sleep is shown for as long as it lasted (1.5 s), not its journal write's time.
    let slept = steps
        .iter()
        .find(|s| s["kind"] == "sleep")
        .and_then(|s| s["took"].as_str())
        .unwrap_or("");
    assert!(
        slept.starts_with("1.") && slept.ends_with(" s"),
        "{checkout}"
    );
    assert!(
        checkout["firstSeen"]
            .as_u64()
            .is_some_and(|n| (n as usize) < steps.len()),
        "the steps arrived while the page was open: {checkout}"
    );
    let greet_twice = lines
        .iter()
        .find(|l| l["timeline"] == "greet-twice")
        .expect("the sleeping workflow's timeline");
    assert_eq!(greet_twice["kinds"], json!(["call", "sleep", "call"]));

    // Signal and cancel from the page took effect, as the API tells too.
    let signalled = line("signalled");
    assert!(
        signalled["result"]
            .as_str()
            .is_some_and(|r| r.contains("shipped") && r.contains("browser") && r.contains("42")),
        "{signalled}"
    );
    assert!(
        signalled["kinds"]
            .as_array()
            .is_some_and(|k| k.ends_with(&[json!("signal-wait"), json!("signal")])),
        "{signalled}"
    );
    let id = signalled["signalled"].as_str().expect("an id");
    let (_, execution) = host.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(execution["status"], "completed");
    let id = line("cancelled")["cancelled"].as_str().expect("an id");
    let (_, execution) = host.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(execution["status"], "cancelled");

    assert_eq!(line("versions")["versions"], 2);
    let procedures = line("procedures")["procedures"]
        .as_array()
        .expect("procedures")
        .clone();
    assert!(procedures.contains(&json!(["flows.approval", "workflow"])));
    assert!(procedures.contains(&json!(["greeter.hello", "procedure"])));
    // The page shows the host's own counts: the calls above plus the workflows' steps.
    let shown = &line("procedures")["hello"];
    assert!(shown["calls"].as_u64().is_some_and(|n| n >= 4), "{shown}");
    assert_eq!(shown["errors"], 1, "{shown}");
    assert!(
        shown["p50"].as_str().is_some_and(|t| t.ends_with("ms")),
        "{shown}"
    );

    // Usable at a phone's width: nothing wider than the window but the tables' own scroll.
    assert_eq!(line("phone")["overflow"], 0, "{stdout}");
    // Tab, Tab, Enter: the second link of the navigation, followed.
    assert_eq!(line("keyboard")["keyboard"], "Components");
    assert_eq!(line("keyboard")["hash"], "#/components");

    // The tenant's key sees none of default's executions.
    let tenant = line("tenant");
    assert_eq!(tenant["rows"], json!([]), "{tenant}");
    assert!(
        tenant["said"]
            .as_str()
            .is_some_and(|s| s.contains("No workflows")),
        "{tenant}"
    );

    // axe-core: no serious or critical violation on any view.
    let audits: Vec<&Value> = lines.iter().filter(|l| l.get("axe").is_some()).collect();
    assert_eq!(audits.len(), 6, "{stdout}");
    for audit in audits {
        let serious: Vec<&Value> = audit["violations"]
            .as_array()
            .expect("violations")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(serious.is_empty(), "{}: {serious:?}", audit["axe"]);
    }
    for shot in ["executions.png", "timeline.png", "phone.png"] {
        let size = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(size > 10_000, "{shot} is a real screenshot ({size} bytes)");
    }
}
