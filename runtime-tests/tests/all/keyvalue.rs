//! The key-value capability (`wasi:keyvalue@0.2.0-draft2`) with the real binary: a Rust
//! component built from the standard WIT alone uses it; grants are enforced at upload and
//! at `open`; counters and compare-and-swap hold under concurrent calls, on one node and
//! on two sharing PostgreSQL; tenants are apart; data outlives a crash; operators reach
//! it at `/v1/kv` and with `tsdev kv`; the tenant's `kv_bytes` quota holds.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};

use runtime_tests::cluster::{Cluster, eventually};
use runtime_tests::{TestHost, guests, with_manifest};

const GRANTS: &str = "[grants]\nkey-value = [\"todos\", \"counters\", \"pages\"]\n";

/// The keeper component with `manifest` embedded.
fn keeper(manifest: &str) -> Vec<u8> {
    with_manifest(&std::fs::read(guests::KEEPER).expect("keeper"), manifest)
}

/// Call `kv.{function}` as `http` on the host at `url`: status and body.
async fn kv(url: &str, http: &reqwest::Client, function: &str, args: Value) -> (u16, Value) {
    let response = http
        .post(format!("{url}/rpc/kv.{function}"))
        .json(&args)
        .send()
        .await
        .expect("a call");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `n` concurrent increments of `counters/key` by 1 on `url`: the values they answered.
async fn increments(url: &str, http: &reqwest::Client, key: &str, n: usize) -> Vec<i64> {
    let calls = (0..n).map(|_| {
        kv(
            url,
            http,
            "incr",
            json!({ "bucket": "counters", "key": key, "delta": 1 }),
        )
    });
    join_all(calls)
        .await
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, 200, "{body}");
            body.as_i64().expect("a number")
        })
        .collect()
}

/// `n` concurrent compare-and-swap bumps of `counters/key` on `url`: how many won.
async fn bumps(url: &str, http: &reqwest::Client, key: &str, n: usize) -> i64 {
    let calls = (0..n).map(|_| {
        kv(
            url,
            http,
            "bump",
            json!({ "bucket": "counters", "key": key }),
        )
    });
    join_all(calls)
        .await
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, 200, "{body}");
            i64::from(body.as_bool().expect("won or lost"))
        })
        .sum()
}

#[tokio::test]
async fn a_component_keeps_its_data_in_granted_buckets_only() {
    let host = TestHost::start();
    let http = &host.client;

    // Imported but not granted: refused at upload, naming the interface and the grant.
    let (status, body) = host.upload("name=keeper", keeper("")).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("not-granted")),
        "{body}"
    );
    assert!(
        body["interface"]
            .as_str()
            .is_some_and(|i| i.starts_with("wasi:keyvalue/")),
        "{body}"
    );
    assert!(
        body["grant"]
            .as_str()
            .is_some_and(|g| g.contains("key-value")),
        "{body}"
    );
    // The grants from a tsdev.toml that `tsdev deploy --manifest` embeds in the component
    // as built (any toolchain's).
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let manifest = scratch.path().join("tsdev.toml");
    std::fs::write(&manifest, GRANTS).expect("writing the manifest");
    let bad = scratch.path().join("bad.toml");
    std::fs::write(&bad, "[grants]\nkey-value = [\"no/slash\"]\n").expect("writing");
    let deploy = |manifest: &std::path::Path| {
        host.cli()
            .args(["deploy", guests::KEEPER, "--name", "keeper", "--manifest"])
            .arg(manifest)
            .output()
            .expect("tsdev deploy")
    };
    let refused = deploy(&bad);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("bucket name"),
        "{refused:?}"
    );
    let out = deploy(&manifest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The grants are shown with the component and in the OpenAPI document (/docs).
    let expected_grants =
        json!({ "key_value": ["todos", "counters", "pages"], "outbound_http": [], "invoke": [] });
    let (_, shown) = host.get("/v1/components/keeper").await;
    assert_eq!(shown["grants"], expected_grants);
    let (_, document) = host.get("/openapi.json").await;
    let tag = document["tags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["name"] == "keeper"))
        .expect("the component's tag");
    assert!(
        tag["description"]
            .as_str()
            .is_some_and(|d| d.contains("Granted: key-value buckets `todos`, `counters`, `pages`")),
        "{tag}"
    );

    // Plain values.
    let (status, body) = kv(
        &host.url,
        http,
        "get",
        json!({ "bucket": "todos", "key": "a" }),
    )
    .await;
    assert_eq!((status, &body), (200, &Value::Null));
    let (status, body) = kv(
        &host.url,
        http,
        "set",
        json!({ "bucket": "todos", "key": "a", "value": "milk" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = kv(
        &host.url,
        http,
        "get",
        json!({ "bucket": "todos", "key": "a" }),
    )
    .await;
    assert_eq!(body, "milk");

    // A bucket the manifest does not grant: access-denied, and the host logs it.
    let (status, body) = kv(
        &host.url,
        http,
        "get",
        json!({ "bucket": "secrets", "key": "a" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "access-denied", "{body}");
    assert!(
        host.log().contains("does not grant"),
        "the refusal is logged"
    );

    // 64 concurrent increments: 64, each answer a different step on the way.
    let mut seen = increments(&host.url, http, "hits", 64).await;
    seen.sort_unstable();
    assert_eq!(seen, (1..=64).collect::<Vec<i64>>());
    let (_, body) = kv(
        &host.url,
        http,
        "get",
        json!({ "bucket": "counters", "key": "hits" }),
    )
    .await;
    assert_eq!(body, "64");
    // Not a number: the increment says so, and changes nothing.
    let (status, body) = kv(
        &host.url,
        http,
        "incr",
        json!({ "bucket": "todos", "key": "a", "delta": 1 }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a decimal")),
        "{body}"
    );

    // Concurrent compare-and-swaps: each either wins once or loses; the value counts the wins.
    let won = bumps(&host.url, http, "cas", 32).await;
    assert!(won >= 1, "at least the first swap wins");
    let (_, body) = kv(
        &host.url,
        http,
        "get",
        json!({ "bucket": "counters", "key": "cas" }),
    )
    .await;
    assert_eq!(body, won.to_string(), "one write per win, no lost update");

    // Batches, and listing through pages (1000 keys a page).
    let (status, body) = kv(
        &host.url,
        http,
        "batch",
        json!({ "bucket": "pages", "prefix": "p", "n": 1200 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let values = body.as_array().expect("values");
    assert_eq!(values.len(), 1201);
    assert_eq!(
        (&values[0], &values[1199], &values[1200]),
        (&json!("0"), &json!("1199"), &Value::Null)
    );
    let (_, keys) = kv(&host.url, http, "keys", json!({ "bucket": "pages" })).await;
    assert_eq!(
        keys.as_array().map(Vec::len),
        Some(1200),
        "every key, across pages"
    );

    // Operators: /v1/kv reads and writes the same entries.
    let url = |path: &str| format!("{}/v1/kv/{path}", host.url);
    let got = http.get(url("todos/a")).send().await.expect("get");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), b"milk");
    let put = http
        .put(url("todos/list/2"))
        .body("eggs")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let (_, body) = kv(
        &host.url,
        http,
        "get",
        json!({ "bucket": "todos", "key": "list/2" }),
    )
    .await;
    assert_eq!(
        body, "eggs",
        "a key with a slash, written over HTTP, read by the guest"
    );
    let listed: Value = http
        .get(url("todos?prefix=list/"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed,
        json!({ "bucket": "todos", "keys": ["list/2"], "next": null })
    );
    let paged: Value = http
        .get(url("pages?limit=2&after=p-996"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    // Byte order on both backends ("p-997" < "p-998" < "p-999", the last key).
    assert_eq!(
        paged,
        json!({ "bucket": "pages", "keys": ["p-997", "p-998"], "next": "p-998" })
    );
    let deleted = http
        .delete(url("todos/list/2"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let again = http
        .delete(url("todos/list/2"))
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), 404);
    let bad: Value = http
        .get(url("no%2Fslash/a"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(bad["kind"], "invalid-args", "{bad}");
    let large = http
        .put(url("todos/big"))
        .body(vec![b'x'; (1 << 20) + 1])
        .send()
        .await
        .expect("put");
    assert_eq!(large.status(), 413);

    // The CLI: the same entries.
    let out = host
        .cli()
        .args(["kv", "get", "counters", "hits"])
        .output()
        .expect("tsdev kv get");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "64");
    let out = host
        .cli()
        .args(["kv", "set", "todos", "cli", "bread"])
        .output()
        .expect("tsdev kv set");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = host
        .cli()
        .args(["kv", "list", "todos"])
        .output()
        .expect("tsdev kv list");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\ncli\n");
    let out = host
        .cli()
        .args(["kv", "get", "todos", "nothing"])
        .output()
        .expect("tsdev kv get");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no key"),
        "{out:?}"
    );

    // Tenant beta deploys the same component with the same grants: its buckets are its own.
    let beta = host
        .tenant_client("beta", &["deploy", "call", "read", "operate"])
        .await;
    let (status, body) = host.upload_as(&beta, "keeper", keeper(GRANTS)).await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = kv(
        &host.url,
        &beta,
        "get",
        json!({ "bucket": "todos", "key": "a" }),
    )
    .await;
    assert_eq!(body, Value::Null, "beta does not see default's todos/a");
    let (_, body) = kv(
        &host.url,
        &beta,
        "incr",
        json!({ "bucket": "counters", "key": "hits", "delta": 5 }),
    )
    .await;
    assert_eq!(body, 5);
    let other = beta.get(url("todos/a")).send().await.expect("get");
    assert_eq!(other.status(), 404, "nor over /v1/kv");

    // The kv_bytes quota: a write past it fails in the guest and over HTTP, changing
    // nothing; a smaller value still fits.
    let patched = http
        .patch(format!("{}/v1/tenants/beta", host.url))
        .json(&json!({ "kv_bytes": 100 }))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    let (status, body) = kv(
        &host.url,
        &beta,
        "set",
        json!({ "bucket": "todos", "key": "long", "value": "y".repeat(200) }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("kv_bytes")),
        "{body}"
    );
    let refused: Value = beta
        .put(url("todos/long"))
        .body("z".repeat(200))
        .send()
        .await
        .expect("put")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (refused["kind"].as_str(), refused["quota"].as_str()),
        (Some("quota-exceeded"), Some("kv_bytes")),
        "{refused}"
    );
    let fits = beta
        .put(url("todos/short"))
        .body("ok")
        .send()
        .await
        .expect("put");
    assert_eq!(fits.status(), 204);

    // A crash loses nothing that was answered.
    let host = host.restart();
    let (_, body) = kv(
        &host.url,
        &host.client,
        "get",
        json!({ "bucket": "counters", "key": "hits" }),
    )
    .await;
    assert_eq!(body, "64");
    let (_, body) = kv(
        &host.url,
        &host.client,
        "get",
        json!({ "bucket": "todos", "key": "cli" }),
    )
    .await;
    assert_eq!(body, "bread");
}

/// Two nodes on one PostgreSQL: increments and compare-and-swaps from both at once are
/// all counted once, and the data outlives a node killed with SIGKILL.
#[tokio::test]
async fn counters_hold_across_two_nodes_on_postgres() {
    let mut cluster = Cluster::start(2).await;
    let (status, body) = cluster.node(0).upload("name=keeper", keeper(GRANTS)).await;
    assert_eq!(status, 201, "{body}");
    let (a, b) = (cluster.node(0), cluster.node(1));
    eventually("B serves the keeper", Duration::from_secs(10), || async {
        let (status, _) = kv(
            &b.url,
            &b.client,
            "get",
            json!({ "bucket": "todos", "key": "x" }),
        )
        .await;
        (status == 200).then_some(())
    })
    .await;

    let (on_a, on_b) = tokio::join!(
        increments(&a.url, &a.client, "hits", 32),
        increments(&b.url, &b.client, "hits", 32)
    );
    let mut seen: Vec<i64> = on_a.into_iter().chain(on_b).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=64).collect::<Vec<i64>>());
    let (won_a, won_b) = tokio::join!(
        bumps(&a.url, &a.client, "cas", 16),
        bumps(&b.url, &b.client, "cas", 16)
    );
    let (_, body) = kv(
        &a.url,
        &a.client,
        "get",
        json!({ "bucket": "counters", "key": "cas" }),
    )
    .await;
    assert_eq!(body, (won_a + won_b).to_string());

    cluster.node(0).signal("KILL");
    let fresh = cluster.add_node(&[]);
    let node = cluster.node(fresh);
    eventually(
        "a new node serves the keeper",
        Duration::from_secs(10),
        || async {
            let (status, body) = kv(
                &node.url,
                &node.client,
                "get",
                json!({ "bucket": "counters", "key": "hits" }),
            )
            .await;
            (status == 200).then_some(body)
        },
    )
    .await
    .as_str()
    .map(|hits| assert_eq!(hits, "64"))
    .expect("the counter");
    cluster.finish().await;
}

/// examples/todo as its README says: built with `tsdev build` (the manifest's grant
/// embedded), its REST routes over the key-value store, the data there after a crash and
/// readable with `tsdev kv`.
#[tokio::test]
async fn the_todo_example_keeps_its_list_in_the_key_value_store() {
    let host = TestHost::start();
    let deployed = host.deploy_built("examples/todo").await;
    assert_eq!(deployed["name"], "todo");
    let http = &host.client;
    let rest =
        |method: reqwest::Method, path: &str| http.request(method, format!("{}{path}", host.url));
    for title in ["milk", "eggs"] {
        let added: Value = rest(reqwest::Method::POST, "/todos")
            .json(&json!({ "title": title }))
            .send()
            .await
            .expect("add")
            .json()
            .await
            .expect("json");
        assert_eq!(added["title"], title);
    }
    let done: Value = rest(reqwest::Method::POST, "/todos/1/done")
        .send()
        .await
        .expect("done")
        .json()
        .await
        .expect("json");
    assert_eq!(done, json!({ "id": 1, "title": "milk", "done": true }));
    let removed = rest(reqwest::Method::DELETE, "/todos/2")
        .send()
        .await
        .expect("delete");
    assert!(removed.status().is_success(), "{}", removed.status());
    let missing = rest(reqwest::Method::GET, "/todos/2")
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 422);

    let host = host.restart();
    let all: Value = host
        .client
        .get(format!("{}/todos", host.url))
        .send()
        .await
        .expect("all")
        .json()
        .await
        .expect("json");
    assert_eq!(all, json!([{ "id": 1, "title": "milk", "done": true }]));
    let out = host
        .cli()
        .args(["kv", "list", "todos"])
        .output()
        .expect("tsdev kv list");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "next-id\ntodo/00000000000000000001\n"
    );
}
