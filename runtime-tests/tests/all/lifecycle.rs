//! Deploy, replace, conflict, delete, restart, concurrency, health.

use runtime_tests::{TestHost, guests};
use serde_json::json;

async fn hello(host: &TestHost, name: &str) -> (u16, serde_json::Value) {
    host.rpc("greeter.hello", json!({ "name": name })).await
}

#[tokio::test]
async fn a_deployed_component_answers_and_survives_a_crash() {
    let host = TestHost::start();
    let (status, body) = host.deploy("hello", guests::HELLO).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "hello");
    assert_eq!(
        body["version"].as_str().map(str::len),
        Some(64),
        "a sha-256 version"
    );
    assert_eq!(body["procedures"][0]["name"], "greeter.hello");
    assert_eq!(
        body["procedures"][0]["signature"],
        "func(name: string) -> record { message: string, name-length: u32 }"
    );
    let expected = json!({ "message": "Hello, Ada!", "name-length": 3 });
    assert_eq!(hello(&host, "Ada").await, (200, expected.clone()));

    // kill -9 and start again on the same data directory: no re-upload needed.
    let host = host.restart();
    assert_eq!(hello(&host, "Ada").await, (200, expected));
    let (status, body) = host.get("/v1/components").await;
    assert_eq!(status, 200);
    assert_eq!(body["components"][0]["name"], "hello");
    // The compiled component came from the cache, which sits under the data directory.
    let cached = std::fs::read_dir(host.data.join("compiled"))
        .expect("compiled cache dir")
        .count();
    assert_eq!(cached, 1);
}

#[tokio::test]
async fn a_procedure_name_taken_by_another_component_is_409() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let (status, body) = host.deploy("hello-again", guests::HELLO).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (409, Some("procedure-conflict")),
        "{body}"
    );
    assert_eq!(body["procedure"], "greeter.hello");
    assert_eq!(body["owner"], "hello");
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("greeter.hello") && detail.contains("hello"),
        "{detail}"
    );
    // The refused upload left nothing behind.
    assert_eq!(host.get("/v1/components/hello-again").await.0, 404);
}

#[tokio::test]
async fn a_new_version_replaces_the_old_and_delete_removes_it() {
    let host = TestHost::start();
    let (_, first) = host.deploy("app", guests::HELLO).await;
    assert_eq!(hello(&host, "x").await.0, 200);
    let (status, second) = host.deploy("app", guests::TYPES).await;
    assert_eq!(status, 201, "{second}");
    assert_ne!(first["version"], second["version"]);
    // The old procedures are gone, the new ones answer.
    assert_eq!(hello(&host, "x").await.0, 404);
    assert_eq!(
        host.rpc("kinds.echo-u8", json!({ "v": 1 })).await,
        (200, json!(1))
    );
    let (_, shown) = host.get("/v1/components/app").await;
    assert_eq!(shown["version"], second["version"]);

    // The replacement survives a restart too.
    let host = host.restart();
    assert_eq!(
        host.rpc("kinds.echo-u8", json!({ "v": 2 })).await,
        (200, json!(2))
    );

    let response = host
        .client
        .delete(format!("{}/v1/components/app", host.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(host.rpc("kinds.echo-u8", json!({ "v": 1 })).await.0, 404);
    let response = host
        .client
        .delete(format!("{}/v1/components/app", host.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 404);
    let host = host.restart();
    assert_eq!(host.get("/v1/components/app").await.0, 404);
}

/// The current version of `name` and which versions are kept, newest first.
async fn history(host: &TestHost, name: &str) -> Vec<(String, bool)> {
    let (status, body) = host.get(&format!("/v1/components/{name}/versions")).await;
    assert_eq!(status, 200, "{body}");
    body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            assert!(
                v["deployed_by"].is_string(),
                "the admin key deployed it: {v}"
            );
            assert!(v["size_bytes"].as_u64() > Some(1000), "{v}");
            (
                v["version"].as_str().expect("a version").to_string(),
                v["current"] == true,
            )
        })
        .collect()
}

#[tokio::test]
async fn earlier_versions_are_kept_and_a_rollback_swaps_back_whole() {
    let host = TestHost::start();
    let (_, first) = host.deploy("app", guests::HELLO).await;
    let (_, second) = host.deploy("app", guests::TYPES).await;
    let (v1, v2) = (
        first["version"].as_str().expect("v1").to_string(),
        second["version"].as_str().expect("v2").to_string(),
    );
    assert_eq!(
        history(&host, "app").await,
        [(v2.clone(), true), (v1.clone(), false)]
    );

    // No version named: the one before the current.
    let (status, body) = host.post("/v1/components/app/rollback", json!(null)).await;
    assert_eq!(
        (status, body["version"].as_str()),
        (200, Some(v1.as_str())),
        "{body}"
    );
    assert_eq!(hello(&host, "x").await.0, 200);
    assert_eq!(host.rpc("kinds.echo-u8", json!({ "v": 1 })).await.0, 404);
    assert_eq!(
        history(&host, "app").await,
        [(v1.clone(), true), (v2.clone(), false)]
    );
    // A prefix of the hash names a version.
    let (status, body) = host
        .post(
            "/v1/components/app/rollback",
            json!({ "version": &v2[..8] }),
        )
        .await;
    assert_eq!(
        (status, body["version"].as_str()),
        (200, Some(v2.as_str())),
        "{body}"
    );
    assert_eq!(hello(&host, "x").await.0, 404);

    // Refusals leave the current version alone.
    for (request, status, kind) in [
        (json!({ "version": "ffff0000" }), 404, "not-found"),
        (json!({ "version": 7 }), 400, "bad-body"),
        (json!({ "verzion": &v1 }), 400, "bad-body"),
    ] {
        let (got, body) = host
            .post("/v1/components/app/rollback", request.clone())
            .await;
        assert_eq!(
            (got, body["kind"].as_str()),
            (status, Some(kind)),
            "{request}: {body}"
        );
    }
    let (status, body) = host.post("/v1/components/nope/rollback", json!(null)).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );
    assert_eq!(host.get("/v1/components/nope/versions").await.0, 404);
    // v1's procedure now belongs to another component: rolling back would take it, 409.
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let (status, body) = host
        .post("/v1/components/app/rollback", json!({ "version": &v1 }))
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (409, Some("procedure-conflict")),
        "{body}"
    );
    assert_eq!(
        host.get("/v1/components/app").await.1["version"],
        v2.as_str()
    );
    let removed = host
        .client
        .delete(format!("{}/v1/components/hello", host.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status().as_u16(), 204);

    // The CLI: versions, then rollback to the one before.
    let listed = host
        .cli()
        .args(["versions", "app"])
        .output()
        .expect("tsdev versions");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with(&v2[..12]) && lines[0].ends_with("(current)"),
        "{listed}"
    );
    assert!(lines[1].starts_with(&v1[..12]), "{listed}");
    let rolled = host
        .cli()
        .args(["rollback", "app"])
        .output()
        .expect("tsdev rollback");
    let said = String::from_utf8_lossy(&rolled.stdout);
    assert!(
        rolled.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&rolled.stderr)
    );
    assert!(
        said.contains(&format!("app now runs version {}", &v1[..12])),
        "{said}"
    );
    let refused = host
        .cli()
        .args(["rollback", "app", "ffff0000"])
        .output()
        .expect("tsdev rollback");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("404 Not Found not-found"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The rollback is stored: a restart serves v1.
    let host = host.restart();
    assert_eq!(hello(&host, "x").await.0, 200);
    assert_eq!(history(&host, "app").await[0], (v1, true));
}

#[tokio::test]
async fn sixty_four_concurrent_calls_are_all_correct() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let calls = (0..64).map(|i| {
        let host = &host;
        async move {
            let name = format!("caller-{i}");
            let (status, body) = hello(host, &name).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["message"], format!("Hello, {name}!"));
            assert_eq!(body["name-length"], name.len());
        }
    });
    futures::future::join_all(calls).await;
}

#[tokio::test]
async fn health_and_readiness() {
    let host = TestHost::start();
    assert_eq!(host.get("/health").await, (200, json!({ "status": "ok" })));
    let (status, body) = host.get("/ready").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ready")),
        "{body}"
    );
}

#[tokio::test]
async fn sigterm_lets_calls_in_flight_finish_and_refuses_new_connections() {
    let mut host = TestHost::start();
    // The catalog without its manifest: items.busy has the default 10 s timeout.
    let catalog = std::fs::read(guests::CATALOG).expect("catalog");
    let plain = runtime_tests::without_custom_section(&catalog, "tsdev-manifest");
    assert_eq!(host.upload("name=catalog", plain).await.0, 201);
    let (client, url) = (host.client.clone(), host.url.clone());
    let slow = tokio::spawn(async move {
        let response = client
            .post(format!("{url}/rpc/items.busy"))
            .json(&json!({ "ms": 1500 }))
            .send()
            .await
            .expect("the call in flight is answered");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    host.signal("TERM");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // A new connection finds nobody listening.
    let fresh = runtime_tests::client(None)
        .get(format!("{}/health", host.url))
        .send()
        .await;
    assert!(fresh.is_err(), "a new connection after SIGTERM: {fresh:?}");
    let (status, body) = slow.await.expect("the call task");
    assert_eq!(status, 200, "{body}");
    let exit = host.wait();
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");
    assert!(
        host.log().contains("stopped: leases handed back"),
        "{}",
        host.log()
    );
}

/// With `--shutdown-delay`, a node told to stop says at once that it is not ready, and
/// goes on serving for the delay (on connections open and new), then stops as usual.
#[tokio::test]
async fn a_stopping_node_is_not_ready_during_its_shutdown_delay() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut host = TestHost::start_on(dir.path(), &["--shutdown-delay", "3s"]);
    let (status, _) = host.get("/ready").await;
    assert_eq!(status, 200);
    host.signal("TERM");
    // On a connection open from before, and on a new one: not ready, still serving. (The
    // signal takes a moment to arrive: ask until it has, within the delay.)
    let mut answer = host.get("/ready").await;
    for _ in 0..25 {
        if answer.0 != 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = host.get("/ready").await;
    }
    let (status, body) = answer;
    assert_eq!(
        (status, body["kind"].as_str()),
        (503, Some("not-ready")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("shutting down"),
        "{body}"
    );
    let fresh = runtime_tests::client(None)
        .get(format!("{}/health", host.url))
        .send()
        .await
        .expect("the listener is open during the delay");
    assert_eq!(fresh.status(), 200);
    let exit = host.wait();
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");
    assert!(
        host.log().contains("not ready; the listener closes in 3s"),
        "{}",
        host.log()
    );
}
