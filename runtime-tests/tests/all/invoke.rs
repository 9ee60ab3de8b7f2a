//! `tsdev:host/invoke` with the real binary: a component calls procedures of its tenant
//! (of other components too) by name with JSON arguments; only those its manifest grants;
//! every outcome comes back as a value (result, the callee's own error, bad arguments,
//! not found, a failure with its kind); the callee ends within its caller's deadline; and
//! nesting stops at the host's depth limit.

use serde_json::{Value, json};

use runtime_tests::{TestHost, guests, with_manifest, without_custom_section};

const MANIFEST: &str = r#"
[procedures."relay.call"]
timeout = "1s"

[grants]
invoke = ["relay.deep", "items.get", "items.busy", "nothing.here"]
"#;

async fn relay(
    host: &TestHost,
    http: &reqwest::Client,
    procedure: &str,
    args: Value,
) -> (u16, Value) {
    let response = http
        .post(format!("{}/rpc/relay.call", host.url))
        .json(&json!({ "procedure": procedure, "args": args.to_string() }))
        .send()
        .await
        .expect("a call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn procedures_invoke_granted_procedures_of_their_tenant_within_the_callers_deadline() {
    let host = TestHost::start();
    let http = &host.client;
    let wasm = std::fs::read(guests::RELAY).expect("relay");

    // Imported but not granted: refused at upload.
    let (status, body) = host.upload("name=relay", wasm.clone()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("not-granted")),
        "{body}"
    );
    assert!(
        body["interface"]
            .as_str()
            .is_some_and(|i| i.starts_with("tsdev:host/invoke")),
        "{body}"
    );
    let (status, body) = host
        .upload("name=relay", with_manifest(&wasm, MANIFEST))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = host.deploy("catalog", guests::CATALOG).await;
    assert_eq!(status, 201, "{body}");

    // Another component's procedure, its JSON result.
    let (status, body) = relay(&host, http, "items.get", json!({ "id": 3 })).await;
    assert_eq!(status, 200, "{body}");
    let item: Value = serde_json::from_str(body.as_str().expect("JSON text")).expect("JSON");
    assert_eq!(
        (item["id"].as_u64(), item["name"].as_str()),
        (Some(3), Some("item 3"))
    );

    // Every other outcome, as a value the caller handles.
    for (procedure, args, expected) in [
        (
            "items.get",
            json!({ "id": 0 }),
            "procedure-error: \"there is no item 0\"",
        ),
        ("items.get", json!({ "id": "three" }), "invalid-args"),
        ("nothing.here", json!({}), "not-found"),
        (
            "items.create",
            json!({ "name": "x", "price-cents": 1, "tags": [] }),
            "not-granted",
        ),
    ] {
        let (status, body) = relay(&host, http, procedure, args).await;
        assert_eq!(status, 422, "{procedure}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(expected), "{procedure}: {error}");
    }
    assert!(
        host.log().contains("does not grant"),
        "the refusal is logged"
    );

    // The callee runs within what is left of the caller's 1 s: a 5 s busy loop is stopped
    // as a timeout the caller still answers.
    let (status, body) = relay(&host, http, "items.busy", json!({ "ms": 5_000 })).await;
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("failed: timeout"), "{error}");

    // A cycle stops at the depth limit (8 calls deep).
    let (status, body) = host.rpc("relay.deep", json!({ "level": 0 })).await;
    assert_eq!((status, &body), (200, &json!(8)), "{body}");

    // Another tenant's relay reaches only its own tenant's procedures.
    let beta = host.tenant_client("beta", &["deploy", "call"]).await;
    let (status, body) = host
        .upload_as(&beta, "relay", with_manifest(&wasm, MANIFEST))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = relay(&host, &beta, "items.get", json!({ "id": 3 })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("not-found")),
        "{body}"
    );
}

/// A call made by another call never waits for an instance slot: its caller holds one
/// meanwhile, and callers waiting for callees queued behind more callers would hold every
/// slot of the host until their deadlines, stalling every tenant's calls (before the
/// callees' own reserve of slots, most of these callers ended with 504 after 10 s). Here
/// five tenants, each within its own quota, send more callers at once than the host has
/// slots: each ends with its callee's result. Then as many chains 8 calls deep, more than
/// the reserve holds: each ends with its result or a quick refusal deep down (`busy`, or
/// the tenant's quota), none with its deadline. (That the reserve refuses rather than
/// queues is `runtime::engine`'s unit test: which refusal a chain meets here varies.)
#[tokio::test]
async fn callers_holding_every_slot_do_not_stall_their_callees() {
    const TENANTS: usize = 5;
    // 300 callers in all, each tenant at most 120 instances with their callees: more
    // than the host's 128 slots, within each tenant's quota of 128.
    const CALLERS: usize = 60;
    let host = TestHost::start();
    let manifest = MANIFEST.replace("timeout = \"1s\"", "timeout = \"10s\"");
    let relay_wasm = with_manifest(&std::fs::read(guests::RELAY).expect("relay"), &manifest);
    // The callee's own deadline is long too: 128 busy loops at once on a loaded machine
    // take turns of the CPU, and a loop notices its 200 ms only on its turn.
    let catalog = with_manifest(
        &without_custom_section(
            &std::fs::read(guests::CATALOG).expect("catalog"),
            "tsdev-manifest",
        ),
        "[procedures.\"items.busy\"]\ntimeout = \"5s\"\n",
    );
    let mut tenants = Vec::new();
    for t in 0..TENANTS {
        let http = host
            .tenant_client(&format!("t{t}"), &["deploy", "call"])
            .await;
        for (name, wasm) in [("relay", &relay_wasm), ("catalog", &catalog)] {
            let (status, body) = host.upload_as(&http, name, wasm.clone()).await;
            assert_eq!(status, 201, "{body}");
        }
        tenants.push(http);
    }
    // Each callee holds its slot a while (200 ms), so that callers pile up meanwhile.
    let calls = tenants.iter().flat_map(|http| {
        (0..CALLERS).map(|_| relay(&host, http, "items.busy", json!({ "ms": 200 })))
    });
    let answers = futures::future::join_all(calls).await;
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} callers failed: {:?}",
        failed.len(),
        answers.len(),
        &failed[..failed.len().min(3)]
    );

    // Chains: past the reserve and the free slots (or the tenant's quota), a call deep
    // down is refused at once; relay.deep panics on that, so its chain ends as a trap (or
    // the chain is refused its first call by the tenant's quota).
    let chains = tenants.iter().flat_map(|http| {
        (0..CALLERS).map(|_| async {
            let response = http
                .post(format!("{}/rpc/relay.deep", host.url))
                .json(&json!({ "level": 0 }))
                .send()
                .await
                .expect("a chain");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    });
    let answers = futures::future::join_all(chains).await;
    for (status, body) in &answers {
        match status {
            200 => assert_eq!(body, &json!(8)),
            500 => assert_eq!(body["kind"], "trap", "{body}"),
            429 => assert_eq!(body["kind"], "quota-exceeded", "{body}"),
            _ => panic!("a chain ended otherwise: {status} {body}"),
        }
    }
}
