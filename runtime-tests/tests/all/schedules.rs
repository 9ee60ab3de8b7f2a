//! Cron schedules: made over the API and declared in manifests, each tick fired once on
//! one node, across a kill -9 and restart (missed ticks collapse into the latest), and
//! with two nodes on one PostgreSQL both looking for due ticks.
//!
//! Schedules here tick every second or two (six-field expressions, seconds first); waits
//! are bounded (`eventually`), and what is asserted is counts: one execution or one call
//! per fired tick, never two.

use std::time::Duration;

use runtime_tests::cluster::{Cluster, eventually};
use runtime_tests::{TestHost, guests, with_manifest};
use serde_json::{Value, json};
use sqlx::Row;

/// PUT /v1/schedules/{name} on `host`: status and body.
async fn put_schedule(host: &TestHost, name: &str, body: Value) -> (u16, Value) {
    let response = host
        .client
        .put(format!("{}/v1/schedules/{name}", host.url))
        .json(&body)
        .send()
        .await
        .expect("PUT a schedule");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The schedule `name` as `host` shows it.
async fn schedule(host: &TestHost, name: &str) -> Value {
    let (status, body) = host.get(&format!("/v1/schedules/{name}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The executions of `workflow`, newest first (one page is enough here).
async fn executions(host: &TestHost, workflow: &str) -> Vec<Value> {
    let (status, body) = host
        .get(&format!("/v1/executions?workflow={workflow}&limit=200"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["executions"].as_array().cloned().unwrap_or_default()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The keeper guest granted bucket `ticks`, with `manifest` added.
fn keeper(extra: &str) -> Vec<u8> {
    let manifest = format!("[grants]\nkey-value = [\"ticks\"]\n{extra}");
    with_manifest(
        &std::fs::read(guests::KEEPER).expect("the keeper guest"),
        &manifest,
    )
}

/// The counter `key` of bucket `ticks`, as an operator reads it (absent: 0).
async fn counter(host: &TestHost, key: &str) -> i64 {
    let response = host
        .client
        .get(format!("{}/v1/kv/ticks/{key}", host.url))
        .send()
        .await
        .expect("GET a counter");
    if response.status().as_u16() == 404 {
        return 0;
    }
    // The host keeps counters as decimal text.
    let text = response.text().await.expect("a value");
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("a counter: {text:?}"))
}

#[tokio::test]
async fn a_workflow_schedule_fires_once_per_tick_and_collapses_ticks_missed_while_down() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("flows", guests::FLOWS).await.0, 201);

    let created_at = now_ms();
    let (status, body) = put_schedule(
        &host,
        "greetings",
        json!({ "cron": "*/2 * * * * *", "procedure": "flows.greet-all", "args": { "names": ["tick"] } }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["component"], Value::Null);
    assert_eq!(body["missed"], "latest");
    let next: Vec<&str> = body["next"]
        .as_array()
        .expect("next ticks")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(next.len(), 3, "{body}");

    // Two ticks fire, each one execution that completes.
    eventually("two ticks fired", Duration::from_secs(20), || async {
        (executions(&host, "flows.greet-all").await.len() >= 2).then_some(())
    })
    .await;
    let shown = schedule(&host, "greetings").await;
    assert!(
        shown["last_outcome"]
            .as_str()
            .is_some_and(|o| o.contains("execution")),
        "{shown}"
    );

    // Down for nine seconds: four or five ticks pass with no node to fire them.
    let host = host.restart_after(|_| std::thread::sleep(Duration::from_secs(9)));
    eventually(
        "the schedule goes on after the restart",
        Duration::from_secs(20),
        || async {
            let fired = schedule(&host, "greetings").await["fired"]
                .as_i64()
                .unwrap_or(0);
            (fired >= 5).then_some(())
        },
    )
    .await;
    // Stop it (a yearly tick), then count.
    let (status, body) = put_schedule(
        &host,
        "greetings",
        json!({ "cron": "0 0 1 1 *", "procedure": "flows.greet-all", "args": { "names": ["tick"] } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ended_at = now_ms();
    let fired = schedule(&host, "greetings").await["fired"]
        .as_i64()
        .expect("fired");
    let runs = executions(&host, "flows.greet-all").await;
    // One execution per fired tick: no tick twice.
    assert_eq!(runs.len() as i64, fired, "{runs:?}");
    // The missed ticks went into one firing: at least three fewer than the ticks passed.
    let ticks_passed = (ended_at - created_at) / 2_000 + 1;
    assert!(
        fired <= ticks_passed - 3,
        "fired {fired} of {ticks_passed} ticks: the missed ones were not collapsed"
    );
    for run in &runs {
        let finished = eventually(
            "a scheduled run completes",
            Duration::from_secs(30),
            || async {
                let (_, e) = host
                    .get(&format!(
                        "/v1/executions/{}",
                        run["id"].as_str().unwrap_or("")
                    ))
                    .await;
                (e["status"] == "completed").then_some(e)
            },
        )
        .await;
        assert_eq!(finished["result"], json!(["Hello, tick!"]), "{finished}");
    }
}

#[tokio::test]
async fn two_nodes_fire_each_tick_of_a_procedure_and_a_workflow_once() {
    let cluster = Cluster::start(2).await;
    let first = cluster.node(0);
    assert_eq!(first.upload("name=keeper", keeper("")).await.0, 201);
    assert_eq!(first.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(first.deploy("flows", guests::FLOWS).await.0, 201);
    for node in &cluster.nodes {
        eventually(
            "every node serves the components",
            Duration::from_secs(30),
            || async {
                let keeper = node.get("/v1/components/keeper").await.0 == 200;
                let flows = node.get("/v1/components/flows").await.0 == 200;
                (keeper && flows).then_some(())
            },
        )
        .await;
    }
    let (status, body) = put_schedule(
        first,
        "count",
        json!({ "cron": "* * * * * *", "procedure": "kv.incr", "args": { "bucket": "ticks", "key": "count", "delta": 1 } }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = put_schedule(
        cluster.node(1),
        "greet",
        json!({ "cron": "* * * * * *", "procedure": "flows.greet-all", "args": { "names": ["node"] } }),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    eventually("six ticks fired", Duration::from_secs(30), || async {
        let count = schedule(first, "count").await["fired"]
            .as_i64()
            .unwrap_or(0);
        let greet = schedule(first, "greet").await["fired"]
            .as_i64()
            .unwrap_or(0);
        (count >= 6 && greet >= 6).then_some(())
    })
    .await;
    for name in ["count", "greet"] {
        let (procedure, args) = match name {
            "count" => (
                "kv.incr",
                json!({ "bucket": "ticks", "key": "count", "delta": 1 }),
            ),
            _ => ("flows.greet-all", json!({ "names": ["node"] })),
        };
        let (status, body) = put_schedule(
            cluster.node(1),
            name,
            json!({ "cron": "0 0 1 1 *", "procedure": procedure, "args": args }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // The last claimed call finishes.
    let count_fired = eventually("the last call ends", Duration::from_secs(10), || async {
        let s = schedule(first, "count").await;
        (s["last_outcome"] != "calling").then(|| s["fired"].as_i64().unwrap_or(0))
    })
    .await;
    assert_eq!(
        counter(first, "count").await,
        count_fired,
        "one call per fired tick, whichever node fired it"
    );
    let greet_fired = schedule(first, "greet").await["fired"]
        .as_i64()
        .unwrap_or(0);
    let keys: Vec<String> = sqlx::query(
        "SELECT idempotency_key FROM executions WHERE workflow = 'flows.greet-all' ORDER BY idempotency_key",
    )
    .fetch_all(&cluster.db)
    .await
    .expect("reading executions")
    .iter()
    .map(|row| row.try_get::<String, _>("idempotency_key").expect("a key"))
    .collect();
    assert_eq!(keys.len() as i64, greet_fired, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.starts_with("schedule:greet:")),
        "{keys:?}"
    );
    cluster.finish().await;
}

#[tokio::test]
async fn a_manifest_declares_schedules_that_follow_its_deploys() {
    let host = TestHost::start();
    let ticking = "[[schedule]]\nname = \"tick\"\ncron = \"* * * * * *\"\nprocedure = \"kv.incr\"\nargs = { bucket = \"ticks\", key = \"n\", delta = 1 }\n";
    let (status, body) = host.upload("name=keeper", keeper(ticking)).await;
    assert_eq!(status, 201, "{body}");
    let shown = schedule(&host, "keeper.tick").await;
    assert_eq!(shown["component"], "keeper");
    assert_eq!(shown["timezone"], "UTC");
    eventually(
        "the manifest's schedule calls",
        Duration::from_secs(20),
        || async { (counter(&host, "n").await >= 2).then_some(()) },
    )
    .await;

    // It changes with the manifest, not over the API.
    let response = host
        .client
        .delete(format!("{}/v1/schedules/keeper.tick", host.url))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status().as_u16(), 400);
    let problem: Value = response.json().await.expect("a problem");
    assert_eq!(problem["kind"], "invalid-schedule");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("tsdev.toml")),
        "{problem}"
    );

    // A manifest with a bad schedule is refused at upload, naming it.
    for (bad, says) in [
        (
            "[[schedule]]\nname = \"x\"\ncron = \"61 * * * *\"\nprocedure = \"kv.incr\"\n",
            "61 * * * *",
        ),
        (
            "[[schedule]]\nname = \"x\"\ncron = \"* * * * *\"\nprocedure = \"kv.nope\"\n",
            "kv.nope",
        ),
        (
            "[[schedule]]\nname = \"x\"\ncron = \"* * * * *\"\nprocedure = \"kv.incr\"\nargs = { bucket = 3 }\n",
            "args",
        ),
        (
            "[[schedule]]\nname = \"x\"\ncron = \"* * * * *\"\ntimezone = \"Mars/Base\"\nprocedure = \"kv.incr\"\n",
            "Mars/Base",
        ),
    ] {
        let (status, body) = host.upload("name=keeper", keeper(bad)).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["kind"], "invalid-manifest", "{body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{says}: {body}"
        );
    }
    // The refused uploads changed nothing.
    assert_eq!(schedule(&host, "keeper.tick").await["cron"], "* * * * * *");

    // Redeployed without it: gone.
    assert_eq!(host.upload("name=keeper", keeper("")).await.0, 201);
    let (status, _) = host.get("/v1/schedules/keeper.tick").await;
    assert_eq!(status, 404);

    // Deleting the component takes its schedules along.
    assert_eq!(host.upload("name=keeper", keeper(ticking)).await.0, 201);
    let response = host
        .client
        .delete(format!("{}/v1/components/keeper", host.url))
        .send()
        .await
        .expect("DELETE the component");
    assert_eq!(response.status().as_u16(), 204);
    let (_, list) = host.get("/v1/schedules").await;
    assert_eq!(list["schedules"], json!([]), "{list}");
}

#[tokio::test]
async fn bad_schedules_are_refused_with_the_reason_and_the_cli_shows_them() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    for (name, body, status, kind, says) in [
        (
            "nightly",
            json!({ "cron": "* * *", "procedure": "greeter.hello" }),
            400,
            "invalid-schedule",
            "* * *",
        ),
        (
            "nightly",
            json!({ "cron": "0 3 * * *", "timezone": "Nowhere", "procedure": "greeter.hello" }),
            400,
            "invalid-schedule",
            "IANA",
        ),
        (
            "Nightly",
            json!({ "cron": "0 3 * * *", "procedure": "greeter.hello" }),
            400,
            "invalid-schedule",
            "a-z",
        ),
        (
            "nightly",
            json!({ "cron": "0 3 * * *", "procedure": "greeter.helo" }),
            404,
            "not-found",
            "did you mean greeter.hello",
        ),
        (
            "nightly",
            json!({ "cron": "0 3 * * *", "procedure": "greeter.hello", "args": { "name": 7 } }),
            400,
            "invalid-args",
            "name",
        ),
        (
            "nightly",
            json!({ "cron": "0 3 * * *" }),
            400,
            "bad-body",
            "procedure",
        ),
    ] {
        let (got, problem) = put_schedule(&host, name, body.clone()).await;
        assert_eq!(got, status, "{body}: {problem}");
        assert_eq!(problem["kind"], kind, "{problem}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{says}: {problem}"
        );
    }

    let empty = host
        .cli()
        .args(["schedule", "list"])
        .output()
        .expect("tsdev schedule list");
    assert!(empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stdout).contains("No schedules"));

    let set = host
        .cli()
        .args([
            "schedule",
            "set",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Berlin",
            "--procedure",
            "greeter.hello",
            "--args",
            r#"{"name":"night"}"#,
        ])
        .output()
        .expect("tsdev schedule set");
    let said = String::from_utf8_lossy(&set.stdout);
    assert!(
        set.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&set.stderr)
    );
    // 03:00 in Berlin is 01:00 or 02:00 UTC.
    assert!(
        said.contains("next at") && (said.contains("T01:00:00") || said.contains("T02:00:00")),
        "{said}"
    );
    let list = host
        .cli()
        .args(["schedule", "list"])
        .output()
        .expect("tsdev schedule list");
    let table = String::from_utf8_lossy(&list.stdout);
    assert!(
        table.contains("NAME") && table.contains("nightly") && table.contains("Europe/Berlin"),
        "{table}"
    );

    let refused = host
        .cli()
        .args([
            "schedule",
            "set",
            "later",
            "--cron",
            "0 3 * * *",
            "--procedure",
            "greeter.hello",
            "--args",
            "[1]",
        ])
        .output()
        .expect("tsdev schedule set");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("JSON object"));

    let deleted = host
        .cli()
        .args(["schedule", "delete", "nightly"])
        .output()
        .expect("tsdev schedule delete");
    assert!(deleted.status.success());
    let again = host
        .cli()
        .args(["schedule", "delete", "nightly"])
        .output()
        .expect("tsdev schedule delete");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no schedule named"));
}
