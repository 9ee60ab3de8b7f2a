//! Config values and secrets (`wasi:config/store`, both versions) with the real binary:
//! set over HTTP and with `tsdev config`, read by a component for the keys its manifest
//! grants, changed without a redeploy, kept across redeploys and a crash; secrets sealed in
//! the database, never answered by the API, never logged; tenants apart.

use serde_json::{Value, json};

use runtime_tests::{TestHost, guests, with_manifest};

const MANIFEST: &str = "[grants]\nconfig = [\"greeting\", \"api-key\"]\n";
const SECRET: &str = "sk-live-4f9c1e7d2b";

fn settings() -> Vec<u8> {
    with_manifest(
        &std::fs::read(guests::SETTINGS).expect("settings"),
        MANIFEST,
    )
}

async fn put_config(host: &TestHost, http: &reqwest::Client, body: Value) -> (u16, Value) {
    let response = http
        .put(format!("{}/v1/components/settings/config", host.url))
        .json(&body)
        .send()
        .await
        .expect("put config");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn components_read_granted_config_and_secrets_that_no_answer_or_log_shows() {
    let host = TestHost::start();
    let http = &host.client;
    let plain = std::fs::read(guests::SETTINGS).expect("settings");
    let (status, body) = host.upload("name=settings", plain).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("not-granted")),
        "{body}"
    );
    let (status, body) = host.upload("name=settings", settings()).await;
    assert_eq!(status, 201, "{body}");

    // Nothing set yet.
    assert_eq!(
        host.rpc("settings.rc-get", json!({ "key": "greeting" }))
            .await,
        (200, Value::Null)
    );
    let (status, body) = put_config(
        &host,
        http,
        json!({ "values": { "greeting": "hello", "mode": "fast" }, "secrets": { "api-key": SECRET } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "values": { "greeting": "hello", "mode": "fast" }, "secrets": ["api-key"] })
    );

    // Both versions of the interface read the granted keys, the secret opened.
    assert_eq!(
        host.rpc("settings.draft-get", json!({ "key": "greeting" }))
            .await,
        (200, json!("hello"))
    );
    assert_eq!(
        host.rpc("settings.rc-get", json!({ "key": "api-key" }))
            .await,
        (200, json!(SECRET))
    );
    // A key set but not granted: an error, logged; get-all leaves it out.
    let (status, body) = host.rpc("settings.rc-get", json!({ "key": "mode" })).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not granted")),
        "{body}"
    );
    let (status, body) = host.rpc("settings.rc-all", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!([["api-key", SECRET], ["greeting", "hello"]]));

    // A change is seen at the next call, no redeploy; a redeploy keeps the config.
    let out = host
        .cli()
        .args(["config", "set", "settings", "greeting=howdy"])
        .output()
        .expect("tsdev config set");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        host.rpc("settings.draft-get", json!({ "key": "greeting" }))
            .await,
        (200, json!("howdy"))
    );
    let (status, _) = host
        .upload(
            "name=settings",
            runtime_tests::with_custom_section(&settings(), "v", b"2"),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        host.rpc("settings.rc-get", json!({ "key": "api-key" }))
            .await,
        (200, json!(SECRET))
    );

    // The secret's value: in no answer, not in the log, not in the database file.
    let out = host
        .cli()
        .args(["config", "list", "settings"])
        .output()
        .expect("tsdev config list");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed, "greeting=howdy\nmode=fast\napi-key=(secret)\n");
    let (_, shown) = host.get("/v1/components/settings/config").await;
    assert!(!shown.to_string().contains(SECRET), "{shown}");
    let (_, audit) = host.get("/v1/audit").await;
    assert!(!audit.to_string().contains(SECRET));
    assert!(!host.log().contains(SECRET), "the secret is never logged");
    let mut database = Vec::new();
    for file in ["tsdev.db", "tsdev.db-wal"] {
        database.extend(std::fs::read(host.data.join(file)).unwrap_or_default());
    }
    assert!(!database.is_empty());
    assert!(
        !database
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes()),
        "the secret is sealed at rest"
    );

    // Bad changes are refused whole.
    let (status, body) = put_config(&host, http, json!({ "values": { "no spaces": "x" } })).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid-args")),
        "{body}"
    );
    let (status, _) = put_config(&host, http, json!({ "values": { "x": "y" }, "other": 1 })).await;
    assert_eq!(status, 400);
    let missing = http
        .get(format!("{}/v1/components/nothing/config", host.url))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);

    // Another tenant's component of the same name sees none of it.
    let beta = host
        .tenant_client("beta", &["deploy", "call", "read"])
        .await;
    let (status, body) = host.upload_as(&beta, "settings", settings()).await;
    assert_eq!(status, 201, "{body}");
    let answer: Value = beta
        .post(format!("{}/rpc/settings.rc-get", host.url))
        .json(&json!({ "key": "api-key" }))
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    assert_eq!(answer, Value::Null);

    // A crash loses nothing; the secrets key made at the first start opens the secret.
    let host = host.restart();
    assert_eq!(
        host.rpc("settings.rc-get", json!({ "key": "api-key" }))
            .await,
        (200, json!(SECRET))
    );
    // Unset, and deleting the component deletes its config.
    let out = host
        .cli()
        .args(["config", "unset", "settings", "api-key"])
        .output()
        .expect("tsdev config unset");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "greeting=howdy\nmode=fast\n"
    );
    let deleted = host
        .client
        .delete(format!("{}/v1/components/settings", host.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let (status, _) = host.upload("name=settings", settings()).await;
    assert_eq!(status, 201);
    let (_, shown) = host.get("/v1/components/settings/config").await;
    assert_eq!(shown, json!({ "values": {}, "secrets": [] }));
}
