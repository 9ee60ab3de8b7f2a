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
