//! Durable workflows against the real binary: journaled steps, durable sleeps, crash
//! recovery by replay, idempotent starts, pinned versions.

use std::time::{Duration, Instant};

use runtime_tests::{TestHost, guests};
use serde_json::{Value, json};

/// A host with `hello` (the procedures) and `flows` (the workflows) deployed.
async fn workflow_host() -> TestHost {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let (status, body) = host.deploy("flows", guests::FLOWS).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["workflows"], true);
    host
}

async fn start(host: &TestHost, workflow: &str, args: Value, key: Option<&str>) -> (u16, Value) {
    let mut request = host
        .client
        .post(format!("{}/v1/workflows/{workflow}/executions", host.url))
        .body(args.to_string());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("start");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// Poll the execution until `done(status)`; a bounded wait, not a timing assertion.
async fn wait_for(host: &TestHost, id: &str, done: impl Fn(&str) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, execution) = host.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(status, 200, "{execution}");
        if done(execution["status"].as_str().unwrap_or("")) {
            return execution;
        }
        assert!(
            Instant::now() < deadline,
            "execution never got there: {execution}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn finished(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

fn step_summary(execution: &Value) -> Vec<(i64, String, String)> {
    execution["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["seq"].as_i64().unwrap_or(0),
                s["kind"].as_str().unwrap_or("").to_string(),
                s["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn expected_steps() -> Vec<(i64, String, String)> {
    vec![
        (1, "call".into(), "greeter.hello".into()),
        (2, "sleep".into(), "sleep".into()),
        (3, "call".into(), "greeter.hello".into()),
    ]
}

#[tokio::test]
async fn a_workflow_runs_its_steps_sleeps_durably_and_completes() {
    let host = workflow_host().await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 300 });
    let (status, body) = start(&host, "flows.greet-twice", args, None).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("an execution id");

    let execution = wait_for(&host, id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["result"], "Hello, Ada! | Hello, Bob!");
    assert_eq!(step_summary(&execution), expected_steps());
    assert_eq!(
        execution["steps"][0]["outcome"],
        json!({ "ok": { "message": "Hello, Ada!", "name-length": 3 } })
    );
    let sleep = &execution["steps"][1];
    assert!(
        sleep["outcome"]["wake_at"].as_i64().unwrap_or(0)
            >= sleep["started_at"].as_i64().unwrap_or(0) + 300
    );
}

#[tokio::test]
async fn a_workflow_survives_kill_9_during_its_sleep_without_repeating_steps() {
    let host = workflow_host().await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 2000 });
    let (_, body) = start(&host, "flows.greet-twice", args, None).await;
    let id = body["id"].as_str().expect("an execution id").to_string();
    let sleeping = wait_for(&host, &id, |s| s == "sleeping" || finished(s)).await;
    assert_eq!(sleeping["status"], "sleeping", "{sleeping}");

    // Crash while it sleeps; a new host on the same data resumes it.
    let host = host.restart();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["result"], "Hello, Ada! | Hello, Bob!");
    assert_eq!(
        step_summary(&execution),
        expected_steps(),
        "each step journaled once"
    );
    // The replay answered the first step from the journal: greeter.hello ran once per name.
    let log = host.log();
    for name in ["Ada", "Bob"] {
        let runs = log
            .lines()
            .filter(|l| l.contains(&format!("greeting {name} ")))
            .count();
        assert_eq!(runs, 1, "greeter.hello ran {runs} times for {name}:\n{log}");
    }
}

#[tokio::test]
async fn a_failed_step_is_a_value_the_workflow_handles() {
    let host = workflow_host().await;
    let (_, body) = start(&host, "flows.call-missing", json!({}), None).await;
    let execution = wait_for(&host, body["id"].as_str().expect("id"), finished).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(
        execution["error"],
        json!({ "kind": "workflow-error", "error": "not-found" })
    );
    assert_eq!(execution["steps"][0]["outcome"]["err"]["kind"], "not-found");

    let (_, body) = start(
        &host,
        "flows.greet-all",
        json!({ "names": ["a", "b", "c"] }),
        None,
    )
    .await;
    let execution = wait_for(&host, body["id"].as_str().expect("id"), finished).await;
    assert_eq!(
        execution["result"],
        json!(["Hello, a!", "Hello, b!", "Hello, c!"])
    );
}

#[tokio::test]
async fn starts_are_idempotent_by_key_and_checked() {
    let host = workflow_host().await;
    let args = json!({ "names": ["x"] });
    let (status, first) = start(&host, "flows.greet-all", args.clone(), Some("order-17")).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = start(&host, "flows.greet-all", args, Some("order-17")).await;
    assert_eq!(
        (status, &again["id"], &again["existing"]),
        (200, &first["id"], &json!(true))
    );
    let (status, other) = start(
        &host,
        "flows.greet-all",
        json!({ "names": ["y"] }),
        Some("order-17"),
    )
    .await;
    assert_eq!(
        (status, other["kind"].as_str()),
        (409, Some("idempotency-conflict")),
        "{other}"
    );
    assert_eq!(other["execution"], first["id"]);

    let (status, body) = start(&host, "greeter.hello", json!({ "name": "x" }), None).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-a-workflow")),
        "{body}"
    );
    let (status, body) = start(&host, "flows.nope", json!({}), None).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );
    let (status, body) = start(&host, "flows.greet-all", json!({ "names": 3 }), None).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-args")),
        "{body}"
    );
    let (status, body) = host.get("/v1/executions/nope").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );
}

#[tokio::test]
async fn an_execution_stays_on_the_version_it_started_on() {
    let host = workflow_host().await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 1500 });
    let (_, body) = start(&host, "flows.greet-twice", args, None).await;
    let id = body["id"].as_str().expect("id").to_string();
    let sleeping = wait_for(&host, &id, |s| s == "sleeping" || finished(s)).await;
    let pinned = sleeping["version"].as_str().expect("version").to_string();

    // Redeploy `flows` as a new version (same code, one more custom section).
    let mut wasm = std::fs::read(guests::FLOWS).expect("flows.wasm");
    wasm.extend_from_slice(&[0, 6, 5, b'n', b'o', b't', b'e', b'2']);
    let (status, redeployed) = host.upload("name=flows", wasm).await;
    assert_eq!(status, 201, "{redeployed}");
    assert_ne!(redeployed["version"].as_str(), Some(pinned.as_str()));

    // A crash too: the resumed run must load the pinned version from the store.
    let host = host.restart();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["version"], pinned.as_str());
}

#[tokio::test]
async fn a_replay_that_leaves_the_journal_fails_with_non_determinism() {
    let host = workflow_host().await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 60_000 });
    let (_, body) = start(&host, "flows.greet-twice", args, None).await;
    let id = body["id"].as_str().expect("id").to_string();
    let sleeping = wait_for(&host, &id, |s| s == "sleeping" || finished(s)).await;
    assert_eq!(sleeping["status"], "sleeping", "{sleeping}");

    // The code cannot change under a pinned execution, and its WASI clocks and randomness
    // are deterministic; so make the journal disagree with the code instead: while the
    // host is down, rewrite the first step's request, and wake the execution.
    let host = host.restart_after(|data| {
        let sql = format!(
            "UPDATE journal SET request = '{{\"name\":\"Mallory\"}}' WHERE execution_id = '{id}' AND seq = 1; \
             UPDATE executions SET wake_at = 0 WHERE id = '{id}';"
        );
        runtime_tests::run(
            std::process::Command::new("python3")
                .args(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()"])
                .arg(data.join("tsdev.db"))
                .arg(sql),
        );
    });
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["error"]["kind"], "non-determinism", "{execution}");
    let message = execution["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("step 1") && message.contains("Mallory") && message.contains("Ada"),
        "{message}"
    );
}

#[tokio::test]
async fn wasi_randomness_in_a_workflow_is_the_same_on_replay() {
    // flows.wander draws a name from WASI randomness (outside the journal), calls a step
    // with it, sleeps, and on replay draws again: the same name, so the replay agrees.
    let host = workflow_host().await;
    let (_, body) = start(&host, "flows.wander", json!({}), None).await;
    let execution = wait_for(&host, body["id"].as_str().expect("id"), finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let greeting = execution["steps"][0]["outcome"]["ok"]["message"].clone();
    assert!(
        greeting
            .as_str()
            .is_some_and(|g| g.starts_with("Hello, wanderer-")),
        "{execution}"
    );
    assert_eq!(execution["result"], greeting, "{execution}");
    // Another execution draws another name.
    let (_, body) = start(&host, "flows.wander", json!({}), None).await;
    let other = wait_for(&host, body["id"].as_str().expect("id"), finished).await;
    assert_ne!(other["result"], greeting);
}

#[tokio::test]
async fn a_sleeping_execution_can_be_cancelled_and_never_wakes() {
    let host = workflow_host().await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 1000 });
    let (_, body) = start(&host, "flows.greet-twice", args, None).await;
    let id = body["id"].as_str().expect("id").to_string();
    let sleeping = wait_for(&host, &id, |s| s == "sleeping" || finished(s)).await;
    assert_eq!(sleeping["status"], "sleeping", "{sleeping}");

    let cancel = |host: &TestHost| {
        host.client
            .post(format!("{}/v1/executions/{id}/cancel", host.url))
            .send()
    };
    let response = cancel(&host).await.expect("cancel");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["status"],
        "cancelled"
    );
    let response = cancel(&host).await.expect("cancel again");
    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["kind"],
        "already-finished"
    );

    // Past its wake time it is still cancelled, and the second greeting never ran.
    let wake_at = sleeping["steps"][1]["outcome"]["wake_at"]
        .as_i64()
        .expect("wake_at");
    while (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64)
        < wake_at + 500
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, execution) = host.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(execution["status"], "cancelled");
    assert_eq!(
        execution["steps"].as_array().map(Vec::len),
        Some(2),
        "{execution}"
    );
}

#[tokio::test]
async fn executions_are_listed_newest_first_with_filters_and_pages() {
    let host = workflow_host().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let (_, body) = start(&host, "flows.greet-all", json!({ "names": [name] }), None).await;
        ids.push(body["id"].as_str().expect("id").to_string());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, body) = start(&host, "flows.call-missing", json!({}), None).await;
    let missing = body["id"].as_str().expect("id").to_string();
    for id in ids.iter().chain([&missing]) {
        wait_for(&host, id, finished).await;
    }

    let listed = |body: &Value| -> Vec<String> {
        body["executions"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_string))
            .collect()
    };
    let (status, page) = host
        .get("/v1/executions?workflow=flows.greet-all&limit=2")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(listed(&page), [ids[2].clone(), ids[1].clone()]);
    let next = page["next"].as_str().expect("a next cursor");
    let (_, page) = host
        .get(&format!(
            "/v1/executions?workflow=flows.greet-all&limit=2&after={next}"
        ))
        .await;
    assert_eq!(listed(&page), [ids[0].clone()]);
    assert_eq!(page["next"], Value::Null);

    let (_, failed) = host.get("/v1/executions?status=failed").await;
    assert_eq!(listed(&failed), [missing]);
    let (status, body) = host.get("/v1/executions?status=sideways").await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-query")),
        "{body}"
    );
}

#[tokio::test]
async fn the_cli_starts_lists_and_shows_executions() {
    let host = workflow_host().await;
    let tsdev = |args: &[&str]| {
        let out = host
            .cli()
            .args(["workflow", "--url", &host.url])
            .args(args)
            .output()
            .expect("running tsdev workflow");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, id, err) = tsdev(&[
        "start",
        "flows.greet-all",
        r#"{"names": ["cli"]}"#,
        "--idempotency-key",
        "cli-1",
    ]);
    assert!(ok, "{err}");
    assert_eq!(id.len(), 36, "an execution id: {id}");
    let (_, again, _) = tsdev(&[
        "start",
        "flows.greet-all",
        r#"{"names": ["cli"]}"#,
        "--idempotency-key",
        "cli-1",
    ]);
    assert_eq!(again, id);
    wait_for(&host, &id, finished).await;

    let (ok, shown, err) = tsdev(&["status", &id, "--json"]);
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&shown).expect("JSON");
    let created_at = shown["created_at"].to_string();
    assert_eq!(
        (shown["status"].as_str(), &shown["result"]),
        (Some("completed"), &json!(["Hello, cli!"]))
    );
    // For people: the status, the result, and a line per step with no epoch numbers.
    let (ok, shown, err) = tsdev(&["status", &id]);
    assert!(ok, "{err}");
    let first = shown.lines().next().unwrap_or("");
    assert!(
        first.contains(&id) && first.contains("flows.greet-all") && first.ends_with("completed"),
        "{shown}"
    );
    assert!(shown.contains(r#"result: ["Hello, cli!"]"#), "{shown}");
    assert!(
        shown
            .lines()
            .any(|l| l.contains("call") && l.contains("greeter.hello") && l.contains("ok")),
        "{shown}"
    );
    assert!(
        shown.contains("started ") && !shown.contains(&created_at),
        "relative times, not epoch numbers: {shown}"
    );
    let (ok, listed, _) = tsdev(&["list", "--workflow", "flows.greet-all"]);
    let header = listed.lines().next().unwrap_or("");
    assert!(
        ok && header.starts_with("ID") && header.contains("STATUS") && listed.contains(&id),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("completed")),
        "{listed}"
    );
    let (ok, listed, _) = tsdev(&["list", "--status", "sleeping"]);
    assert!(ok);
    assert_eq!(listed, "no executions with status sleeping");

    // Cancelling a sleeping execution shows the steps it had made.
    let (ok, sleeper, err) = tsdev(&[
        "start",
        "flows.greet-twice",
        r#"{"first": "A", "second": "B", "sleep-ms": 600000}"#,
    ]);
    assert!(ok, "{err}");
    wait_for(&host, &sleeper, |s| s == "sleeping").await;
    let (ok, cancelled, err) = tsdev(&["cancel", &sleeper]);
    assert!(ok, "{err}");
    assert!(cancelled.starts_with("cancelled\n"), "{cancelled}");
    assert!(
        cancelled.lines().any(|l| l.contains("greeter.hello"))
            && cancelled
                .lines()
                .any(|l| l.contains("sleep") && l.contains("until")),
        "{cancelled}"
    );

    let (ok, _, err) = tsdev(&["cancel", &id]);
    assert!(!ok);
    assert!(err.contains("409 Conflict already-finished"), "{err}");
    let (ok, _, err) = tsdev(&["start", "flows.greet-all", "{bad"]);
    assert!(!ok && err.contains("not valid JSON"), "{err}");
}

#[tokio::test]
async fn rpc_starts_a_workflow_and_waits_for_it_within_a_bound() {
    let host = workflow_host().await;
    let rpc = |procedure: &str, args: Value, wait: Option<u64>| {
        let mut request = host
            .client
            .post(format!("{}/rpc/{procedure}", host.url))
            .body(args.to_string());
        if let Some(seconds) = wait {
            request = request.header("prefer", format!("respond-async, wait={seconds}"));
        }
        request.send()
    };
    let response = rpc("flows.greet-all", json!({ "names": ["x", "y"] }), None)
        .await
        .expect("rpc");
    assert_eq!(response.status().as_u16(), 200);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!(["Hello, x!", "Hello, y!"])
    );
    let (status, execution) = host.get(&location).await;
    assert_eq!(
        (status, execution["status"].as_str()),
        (200, Some("completed")),
        "{execution}"
    );

    let response = rpc("flows.call-missing", json!({}), None)
        .await
        .expect("rpc");
    assert_eq!(response.status().as_u16(), 422);
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["kind"], "workflow-failed");
    assert_eq!(
        problem["error"],
        json!({ "kind": "workflow-error", "error": "not-found" })
    );

    // Past the wait it asked for, the caller gets the execution to follow instead.
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 3000 });
    let response = rpc("flows.greet-twice", args, Some(1)).await.expect("rpc");
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let body: Value = response.json().await.expect("JSON");
    let id = body["id"].as_str().expect("id");
    assert_eq!(location, format!("/v1/executions/{id}"));
    let execution = wait_for(&host, id, finished).await;
    assert_eq!(execution["result"], "Hello, Ada! | Hello, Bob!");
}

/// `workflow_host` plus the catalog (flaky procedures, the idempotency-key probe).
async fn retry_host() -> TestHost {
    let host = workflow_host().await;
    host.deploy_built("runtime-tests/guests/catalog").await;
    host
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The attempts journaled for the step "retried": (seq, attempts, outcome).
fn attempts(execution: &Value) -> Vec<(i64, i64, Value)> {
    execution["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["name"] == "retried")
        .map(|s| {
            (
                s["seq"].as_i64().unwrap_or(0),
                s["attempts"].as_i64().unwrap_or(0),
                s["outcome"].clone(),
            )
        })
        .collect()
}

async fn retried(
    host: &TestHost,
    procedure: &str,
    args: Value,
    max: u32,
    interval_ms: u64,
) -> String {
    let body = json!({
        "procedure": procedure,
        "args-json": args.to_string(),
        "max-attempts": max,
        "interval-ms": interval_ms,
    });
    let (status, started) = start(host, "flows.retried", body, None).await;
    assert_eq!(status, 201, "{started}");
    started["id"].as_str().expect("an id").to_string()
}

#[tokio::test]
async fn transient_failures_are_retried_with_durable_backoff_and_others_are_not() {
    let host = retry_host().await;
    // Unavailable for 1 s, retried every 300 ms: succeeds on a later attempt.
    let flaky = retried(
        &host,
        "items.restock",
        json!({ "until-ms": now_ms() + 1000 }),
        20,
        300,
    )
    .await;
    // A trap is transient too.
    let crashy = retried(
        &host,
        "items.crashy",
        json!({ "until-ms": now_ms() + 500 }),
        20,
        300,
    )
    .await;
    // Never available: the last attempt's error reaches the workflow.
    let exhausted = retried(
        &host,
        "items.restock",
        json!({ "until-ms": now_ms() + 3_600_000 }),
        3,
        100,
    )
    .await;
    // A procedure's own error is not retried.
    let permanent = retried(&host, "items.get", json!({ "id": 0 }), 5, 100).await;

    let execution = wait_for(&host, &flaky, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["result"], "42");
    let tries = attempts(&execution);
    assert!(tries.len() >= 2, "it failed at least once first: {tries:?}");
    for (i, (seq, attempt, outcome)) in tries.iter().enumerate() {
        assert_eq!(*seq, i as i64 + 1, "one journal entry per attempt");
        assert_eq!(*attempt, i as i64 + 1);
        let last = i + 1 == tries.len();
        assert_eq!(outcome.get("ok").is_some(), last, "{outcome}");
        assert_eq!(outcome.get("retry_at").is_some(), !last, "{outcome}");
    }

    let execution = wait_for(&host, &crashy, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["result"], "7");
    let first = &attempts(&execution)[0].2;
    assert_eq!(first["err"]["kind"], "trap", "{first}");

    let execution = wait_for(&host, &exhausted, finished).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(attempts(&execution).len(), 3, "max-attempts = 3");
    assert!(
        execution["error"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("unavailable: ")),
        "{execution}"
    );

    let execution = wait_for(&host, &permanent, finished).await;
    assert_eq!(execution["status"], "failed");
    assert_eq!(
        attempts(&execution).len(),
        1,
        "a procedure's own error is final"
    );
    assert!(
        execution["error"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("procedure-error: ")),
        "{execution}"
    );
}

#[tokio::test]
async fn a_retry_backoff_survives_kill_9() {
    let host = retry_host().await;
    // Unavailable for 2.5 s, retried every 2 s: the first backoff is where the host dies.
    let id = retried(
        &host,
        "items.restock",
        json!({ "until-ms": now_ms() + 2500 }),
        10,
        2000,
    )
    .await;
    let sleeping = wait_for(&host, &id, |s| s == "sleeping" || finished(s)).await;
    assert_eq!(sleeping["status"], "sleeping", "{sleeping}");
    assert_eq!(
        attempts(&sleeping).len(),
        1,
        "waiting after the first attempt"
    );

    let host = host.restart();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["result"], "42");
    let tries = attempts(&execution);
    let seqs: Vec<i64> = tries.iter().map(|t| t.0).collect();
    let expected: Vec<i64> = (1..=tries.len() as i64).collect();
    assert_eq!(seqs, expected, "each attempt journaled once");
    assert!(tries.len() >= 2);
    // The backoff was kept across the crash: no attempt came before its retry_at.
    for pair in execution["steps"].as_array().expect("steps").windows(2) {
        let retry_at = pair[0]["outcome"]["retry_at"].as_i64().unwrap_or(0);
        assert!(
            pair[1]["started_at"].as_i64().unwrap_or(0) >= retry_at,
            "{pair:?}"
        );
    }
}

#[tokio::test]
async fn steps_carry_an_idempotency_key_and_plain_calls_do_not() {
    let host = retry_host().await;
    let (status, started) = start(
        &host,
        "flows.twice",
        json!({ "procedure": "items.key" }),
        None,
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().expect("an id").to_string();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(
        execution["result"],
        json!([format!("\"{id}:1\""), format!("\"{id}:2\"")]),
        "{execution}"
    );
    let (status, key) = host.rpc("items.key", json!({})).await;
    assert_eq!((status, key), (200, Value::Null));
}

/// `POST /v1/executions/{id}/signals/{name}` with `payload`.
async fn signal(host: &TestHost, id: &str, name: &str, payload: Value) -> (u16, Value) {
    let response = host
        .client
        .post(format!("{}/v1/executions/{id}/signals/{name}", host.url))
        .body(payload.to_string())
        .send()
        .await
        .expect("signalling");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn signals_wake_waiting_executions_and_waits_time_out() {
    let host = workflow_host().await;
    let (_, waiting) = start(
        &host,
        "flows.approval",
        json!({ "timeout-ms": 60_000 }),
        None,
    )
    .await;
    let waiting = waiting["id"].as_str().expect("an id").to_string();
    let (_, timing_out) = start(&host, "flows.approval", json!({ "timeout-ms": 300 }), None).await;
    let timing_out = timing_out["id"].as_str().expect("an id").to_string();

    let execution = wait_for(&host, &waiting, |s| s == "waiting" || finished(s)).await;
    assert_eq!(execution["status"], "waiting", "{execution}");
    let (status, body) = signal(&host, &waiting, "approve", json!({ "by": "Ada" })).await;
    assert_eq!(status, 202, "{body}");
    let execution = wait_for(&host, &waiting, finished).await;
    assert_eq!(
        execution["result"], r#"approved: {"by":"Ada"}"#,
        "{execution}"
    );

    let execution = wait_for(&host, &timing_out, finished).await;
    assert_eq!(execution["result"], "timed out", "{execution}");

    let (status, problem) = signal(&host, &waiting, "approve", json!(1)).await;
    assert_eq!(
        (status, problem["kind"].as_str()),
        (409, Some("already-finished"))
    );
    let (status, problem) = signal(&host, "no-such-execution", "approve", json!(1)).await;
    assert_eq!((status, problem["kind"].as_str()), (404, Some("not-found")));
}

#[tokio::test]
async fn signals_are_kept_in_order_across_kill_9_and_sent_from_the_cli() {
    let host = workflow_host().await;
    let (_, started) = start(&host, "flows.collect", json!({ "count": 3 }), None).await;
    let id = started["id"].as_str().expect("an id").to_string();
    // Sent at once, perhaps before the workflow waits: kept for it, oldest first.
    assert_eq!(signal(&host, &id, "item", json!("a")).await.0, 202);
    assert_eq!(signal(&host, &id, "item", json!("b")).await.0, 202);
    let execution = wait_for(&host, &id, |s| s == "waiting" || finished(s)).await;
    assert_eq!(execution["status"], "waiting", "{execution}");

    let host = host.restart();
    let output = host
        .cli()
        .args([
            "workflow", "signal", &id, "item", "\"c\"", "--url", &host.url,
        ])
        .output()
        .expect("running tsdev workflow signal");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["result"], json!(["\"a\"", "\"b\"", "\"c\""]));
    let received: Vec<&str> = execution["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .filter(|k| *k == "signal")
        .collect();
    assert_eq!(received.len(), 3, "each signal journaled once");
}

#[tokio::test]
async fn parallel_steps_answer_in_order_and_inline_steps_replay_their_journal() {
    let host = workflow_host().await;
    let names = json!({ "names": ["Ada", "Bob", "Cy", "Dee"] });
    let (_, fan_out) = start(&host, "flows.fan-out", names, None).await;
    let fan_out = fan_out["id"].as_str().expect("an id").to_string();
    let (_, draw) = start(&host, "flows.draw", json!({ "marker": "draw-7f3a" }), None).await;
    let draw = draw["id"].as_str().expect("an id").to_string();

    let execution = wait_for(&host, &fan_out, finished).await;
    assert_eq!(
        execution["result"],
        json!(["Hello, Ada!", "Hello, Bob!", "Hello, Cy!", "Hello, Dee!"]),
        "{execution}"
    );
    let calls: Vec<(i64, Value)> = execution["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["kind"] == "call")
        .map(|s| (s["seq"].as_i64().unwrap_or(0), s["request"]["name"].clone()))
        .collect();
    assert_eq!(
        calls,
        vec![
            (1, json!("Ada")),
            (2, json!("Bob")),
            (3, json!("Cy")),
            (4, json!("Dee"))
        ],
        "journaled in the order asked, once each (the replay after the sleep added none)"
    );

    // Each inline step's code ran once, although the workflow ran twice (before and after
    // its sleep): the second run took "first" from the journal.
    let execution = wait_for(&host, &draw, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let inline: Vec<&Value> = execution["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["kind"] == "inline")
        .collect();
    assert_eq!(inline.len(), 2, "{execution}");
    assert_eq!(
        execution["result"],
        json!([
            inline[0]["outcome"]["result"],
            inline[1]["outcome"]["result"]
        ])
    );
    let log = host.log();
    assert_eq!(log.matches("draw-7f3a: drawing first").count(), 1, "{log}");
    assert_eq!(log.matches("draw-7f3a: drawing second").count(), 1, "{log}");
}

/// The events of `GET /v1/executions/{id}/events` until the stream closes: (event, data).
async fn events(host: &TestHost, id: &str) -> Vec<(String, Value)> {
    let response = host
        .client
        .get(format!("{}/v1/executions/{id}/events", host.url))
        .send()
        .await
        .expect("events");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(60), response.text())
        .await
        .expect("the stream closes when the execution finishes")
        .expect("reading the stream");
    let mut found = Vec::new();
    let mut event = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_string();
        } else if let Some(data) = line.strip_prefix("data:") {
            found.push((
                event.clone(),
                serde_json::from_str(data.trim()).expect("JSON data"),
            ));
        }
    }
    found
}

#[tokio::test]
async fn events_stream_while_an_execution_runs_and_replay_its_history_after() {
    let host = workflow_host().await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 1500 });
    let (_, started) = start(&host, "flows.greet-twice", args, None).await;
    let id = started["id"].as_str().expect("an id").to_string();

    let live = events(&host, &id).await;
    let steps: Vec<i64> = live
        .iter()
        .filter(|(e, _)| e == "step")
        .map(|(_, d)| d["seq"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(steps, vec![1, 2, 3], "each step once, in order: {live:?}");
    let statuses: Vec<&str> = live
        .iter()
        .filter(|(e, _)| e == "status")
        .filter_map(|(_, d)| d["status"].as_str())
        .collect();
    assert!(statuses.contains(&"sleeping"), "seen asleep: {statuses:?}");
    let (last, data) = live.last().expect("events");
    assert_eq!(
        (last.as_str(), &data["status"]),
        ("status", &json!("completed"))
    );
    assert_eq!(data["result"], "Hello, Ada! | Hello, Bob!");

    // Finished: the history, then the stream closes.
    let history = events(&host, &id).await;
    assert_eq!(
        history.len(),
        4,
        "three steps and the final status: {history:?}"
    );

    let output = host
        .cli()
        .args(["workflow", "events", &id, "--url", &host.url])
        .output()
        .expect("running tsdev workflow events");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert_eq!(printed.lines().count(), 4, "{printed}");
    assert!(
        printed
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("status ")),
        "{printed}"
    );
}

/// `hello` and `flows`, the workflows with two minutes to run: 10,000 journal writes in
/// one run take seconds on a busy machine.
async fn long_run_host() -> TestHost {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let (status, body) = host
        .deploy_with("flows", guests::FLOWS, "&timeout_ms=120000")
        .await;
    assert_eq!(status, 201, "{body}");
    host
}

#[tokio::test]
async fn journal_length_and_step_payloads_are_limited() {
    let host = long_run_host().await;
    let big = json!({ "count": 1, "size": 2 << 20 });
    let (_, body) = start(&host, "flows.many", big, None).await;
    let execution = wait_for(&host, body["id"].as_str().expect("id"), finished).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["error"]["kind"], "payload-too-large");
    assert_eq!(
        execution["steps"],
        json!([]),
        "nothing over the limit was journaled"
    );

    // MAX_JOURNAL_ENTRIES is 10,000.
    let long = json!({ "count": 10_001, "size": 1 });
    let (_, body) = start(&host, "flows.many", long, None).await;
    let id = body["id"].as_str().expect("id").to_string();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["error"]["kind"], "journal-limit");
    let (_, page) = host.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(page["steps"].as_array().map(Vec::len), Some(10_000));

    let (_, waiting) = start(
        &host,
        "flows.approval",
        json!({ "timeout-ms": 60_000 }),
        None,
    )
    .await;
    let waiting = waiting["id"].as_str().expect("an id").to_string();
    let huge = json!("x".repeat(2 << 20));
    let (status, problem) = signal(&host, &waiting, "approve", huge).await;
    assert_eq!((status, problem["kind"].as_str()), (413, Some("too-large")));
}

#[tokio::test]
async fn an_execution_pinned_to_an_old_version_keeps_that_versions_limits() {
    let host = TestHost::start();
    let (status, body) = host
        .deploy_with("flows", guests::FLOWS, "&fuel=123456789")
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = start(
        &host,
        "flows.nap-then-spin",
        json!({ "sleep-ms": 1500 }),
        None,
    )
    .await;
    let id = body["id"].as_str().expect("id").to_string();
    wait_for(&host, &id, |s| s == "sleeping").await;
    // A new version with the default limits; then a restart, so that the old version is
    // loaded from the store, not from memory.
    let wasm = std::fs::read(guests::FLOWS).expect("flows");
    let v2 = runtime_tests::with_manifest(&wasm, "[component]\ndescription = \"v2\"\n");
    assert_eq!(host.upload("name=flows", v2).await.0, 201);
    let host = host.restart();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["error"]["kind"], "out-of-fuel", "{execution}");
    let message = execution["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("123456789"), "{message}");
}

#[tokio::test]
async fn deleting_a_component_keeps_the_version_its_executions_run_on() {
    let host = workflow_host().await;
    let args = json!({ "first": "ada", "second": "bob", "sleep-ms": 1000 });
    let (_, body) = start(&host, "flows.greet-twice", args, None).await;
    let id = body["id"].as_str().expect("id").to_string();
    wait_for(&host, &id, |s| s == "sleeping").await;
    let response = host
        .client
        .delete(format!("{}/v1/components/flows", host.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(host.get("/v1/components/flows").await.0, 404);
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["result"], "Hello, ada! | Hello, bob!");
}

#[tokio::test]
async fn parallel_steps_that_would_not_fit_the_journal_are_not_run() {
    let host = long_run_host().await;
    // 9,998 inline steps, then five parallel calls: entries 9,999 to 10,003, over the
    // limit of 10,000. None of the five may run, since none could all be journaled.
    let names: Vec<String> = (1..=5).map(|i| format!("past-limit-{i}")).collect();
    let args = json!({ "fill": 9_998, "names": names });
    let (_, body) = start(&host, "flows.fill-then-fan-out", args, None).await;
    let id = body["id"].as_str().expect("id").to_string();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["error"]["kind"], "journal-limit");
    let (_, page) = host.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(page["steps"].as_array().map(Vec::len), Some(9_998));
    let log = host.log();
    assert!(
        !log.contains("greeting past-limit"),
        "a step past the limit ran: {}",
        log.lines()
            .filter(|l| l.contains("past-limit"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn a_workflow_survives_kill_9_during_a_step() {
    let host = retry_host().await;
    // One attempt of a step that is busy for 250 ms (items.busy's timeout is 300 ms).
    let id = retried(&host, "items.busy", json!({ "ms": 250 }), 1, 0).await;
    let running = wait_for(&host, &id, |s| s == "running" || finished(s)).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(
        running["steps"],
        json!([]),
        "the step has not been journaled yet"
    );

    let host = host.restart();
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(
        execution["steps"].as_array().map(Vec::len),
        Some(1),
        "the step ran again after the crash and was journaled once: {execution}"
    );
}

#[tokio::test]
async fn more_executions_than_run_slots_all_complete_each_step_journaled_once() {
    // 48 long executions at once, over the host's 32 run slots: the first ones run where
    // they are started, the others wait pending for the scheduler, which takes them as
    // slots free up.
    let host = workflow_host().await;
    let names: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
    let started = futures::future::join_all(
        (0..48).map(|_| start(&host, "flows.greet-all", json!({ "names": names }), None)),
    )
    .await;
    let greetings: Vec<String> = names.iter().map(|n| format!("Hello, {n}!")).collect();
    for (status, body) in started {
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("an execution id");
        let execution = wait_for(&host, id, finished).await;
        assert_eq!(execution["status"], "completed", "{execution}");
        assert_eq!(execution["result"], json!(greetings));
        let seqs: Vec<i64> = step_summary(&execution).iter().map(|s| s.0).collect();
        assert_eq!(seqs, (1..=300).collect::<Vec<i64>>());
    }
}

#[tokio::test]
async fn a_workflow_s_time_limit_is_for_its_own_code_not_its_steps() {
    // The workflows get 150 ms of their own; a step may take longer under its own limits.
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let (status, body) = host
        .deploy_with("flows", guests::FLOWS, "&timeout_ms=150")
        .await;
    assert_eq!(status, 201, "{body}");
    host.deploy_built("runtime-tests/guests/catalog").await;

    // One step busy for 250 ms (items.busy may take 300 ms): the workflow completes.
    let id = retried(&host, "items.busy", json!({ "ms": 250 }), 1, 0).await;
    let execution = wait_for(&host, &id, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(attempts(&execution).len(), 1);

    // A workflow looping in its own code is stopped at its limit.
    let (_, body) = start(&host, "flows.spin", json!({}), None).await;
    let execution = wait_for(&host, body["id"].as_str().expect("id"), finished).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["error"]["kind"], "timeout", "{execution}");
    assert_eq!(
        step_summary(&execution).len(),
        1,
        "the greeting step was made"
    );
}

/// `--retain-executions` and `--retain-audit`: a finished execution and the audit log's
/// entries go once they are older than their period; an unfinished execution stays,
/// however long it has been waiting.
#[tokio::test]
async fn retention_deletes_finished_executions_and_old_audit_entries_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(
        dir.path(),
        &["--retain-executions", "2s", "--retain-audit", "3s"],
    );
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("flows", guests::FLOWS).await.0, 201);
    let (_, audit) = host.get("/v1/audit").await;
    assert!(
        !audit["entries"].as_array().is_none_or(Vec::is_empty),
        "the deploys are audited: {audit}"
    );
    let quick = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 10 });
    let (_, body) = start(&host, "flows.greet-twice", quick, None).await;
    let done = body["id"].as_str().expect("an execution id").to_string();
    let slow = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 600_000 });
    let (_, body) = start(&host, "flows.greet-twice", slow, None).await;
    let sleeping = body["id"].as_str().expect("an execution id").to_string();
    let execution = wait_for(&host, &done, finished).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    wait_for(&host, &sleeping, |s| s == "sleeping").await;

    // Bounded waits: the sweeps come every half second here.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = host.get(&format!("/v1/executions/{done}")).await;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the finished execution was kept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    loop {
        let (_, audit) = host.get("/v1/audit?action=component.deploy").await;
        if audit["entries"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old audit entries were kept: {audit}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, execution) = host.get(&format!("/v1/executions/{sleeping}")).await;
    assert_eq!(
        (status, execution["status"].as_str()),
        (200, Some("sleeping")),
        "{execution}"
    );
    assert!(
        host.log().contains("retention: deleted"),
        "the sweep is logged"
    );
}
