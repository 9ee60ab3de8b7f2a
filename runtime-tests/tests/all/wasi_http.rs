//! wasi:http components with the real binary: a component exporting
//! `wasi:http/incoming-handler` (the `web` guest, `wasi` crate bindings, no tsdev SDK) is
//! served under its prefix, for its tenant only; bodies stream both ways; prefixes are
//! checked at upload; private handlers need a key; a handler that traps, runs past its
//! deadline or sets no response gets a problem; the tenant's instance quota holds.

use std::time::Duration;

use serde_json::{Value, json};

use runtime_tests::{TestHost, guests, with_manifest};

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, Option<String>) {
    let response = client.get(url).send().await.expect("a GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("a body");
    (status, text, content_type)
}

fn problem(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("a problem, not {text:?}: {e}"))
}

#[tokio::test]
async fn a_wasi_http_component_is_served_under_its_prefix() {
    let host = TestHost::start();
    let web = std::fs::read(guests::WEB).expect("the web guest");
    let (status, body) = host.upload("name=web", web.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["http"], json!({ "prefix": "/web", "public": true }));
    assert_eq!(body["procedures"], json!([]), "handle is not a procedure");
    assert_eq!(body["unexposed"], json!([]));
    let (_, openapi) = host.get("/openapi.json").await;
    let tag = openapi["tags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["name"] == "web"))
        .cloned()
        .unwrap_or_default();
    assert!(
        tag["description"]
            .as_str()
            .unwrap_or_default()
            .contains("Serves HTTP (wasi:http) under `/web/`"),
        "{tag}"
    );

    // The handler sees the path after its prefix, the query, and where it is mounted.
    let url = &host.url;
    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/hello?x=1&y=%20")).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "hello: GET /hello?x=1&y=%20 under /web")
    );
    // The prefix alone is the handler's root; the handler's own 404 passes through.
    let (status, text, content_type) = get(&host.anonymous, &format!("{url}/web")).await;
    assert_eq!((status, text.as_str()), (404, "no such page"));
    assert_eq!(content_type.as_deref(), Some("text/plain"));
    // A path that only starts like the prefix is not the component's.
    let (status, text, _) = get(&host.anonymous, &format!("{url}/webx/hello")).await;
    assert_eq!(status, 404);
    assert_eq!(problem(&text)["kind"], "not-found");

    // Authorization: the component's own passes (to tsdev the caller is anonymous); a
    // tsdev API key never reaches the guest; elsewhere a header that is no key is refused.
    for own in ["Basic dXNlcjpwdw==", "Bearer the-apps-own-token"] {
        let response = host
            .anonymous
            .get(format!("{url}/web/auth"))
            .header("authorization", own)
            .send()
            .await
            .expect("a GET");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("text"), own);
    }
    let (status, text, _) = get(&host.client, &format!("{url}/web/auth")).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "none"),
        "the admin key is not passed on"
    );
    let refused = host
        .anonymous
        .get(format!("{url}/v1/components"))
        .header("authorization", "Basic dXNlcjpwdw==")
        .send()
        .await
        .expect("a GET");
    assert_eq!(refused.status(), 401);

    // A body over the result limit of procedures streams out whole.
    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/big?kib=20480")).await;
    assert_eq!((status, text.len()), (200, 20 << 20));

    // Another tenant's component is served under /t/TENANT/, and only there.
    let acme = host
        .tenant_client("acme", &["deploy", "read", "call"])
        .await;
    let (status, body) = host.upload_as(&acme, "site", web.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, text, _) = get(&host.anonymous, &format!("{url}/t/acme/site/hello")).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "hello: GET /hello under /t/acme/site")
    );
    let (status, _, _) = get(&host.anonymous, &format!("{url}/site/hello")).await;
    assert_eq!(status, 404, "tenant default has no /site");
    let (status, _, _) = get(&host.anonymous, &format!("{url}/t/acme/web/hello")).await;
    assert_eq!(status, 404, "tenant acme has no /web");

    // Prefixes: one component per prefix; the host's own paths are refused; [http] only
    // for a component that serves HTTP.
    let same = with_manifest(&web, "[http]\nprefix = \"/web\"\n");
    let (status, body) = host.upload("name=web2", same).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        (
            body["kind"].as_str(),
            body["prefix"].as_str(),
            body["other_component"].as_str()
        ),
        (Some("route-conflict"), Some("/web"), Some("web"))
    );
    let reserved = with_manifest(&web, "[http]\nprefix = \"/v1/web\"\n");
    let (status, body) = host.upload("name=web3", reserved).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid-manifest")),
        "{body}"
    );
    let (status, body) = host.upload("name=docs", web.clone()).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid-manifest")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("/docs"),
        "{body}"
    );
    let hello = std::fs::read(guests::HELLO).expect("hello");
    let (status, body) = host
        .upload(
            "name=hello",
            with_manifest(&hello, "[http]\nprefix = \"/hi\"\n"),
        )
        .await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (422, Some("invalid-manifest")),
        "{body}"
    );

    // A nested prefix is its own component's; a private one needs a key with scope call.
    let private = with_manifest(&web, "[http]\nprefix = \"/web/admin\"\npublic = false\n");
    let (status, body) = host.upload("name=admin", private).await;
    assert_eq!(status, 201, "{body}");
    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/admin/hello")).await;
    assert_eq!(status, 403);
    assert_eq!(problem(&text)["kind"], "private-procedure");
    let (status, text, _) = get(&host.client, &format!("{url}/web/admin/hello")).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "hello: GET /hello under /web/admin")
    );
    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/administrator")).await;
    assert_eq!(
        (status, text.as_str()),
        (404, "no such page"),
        "still /web's"
    );

    // Gone with its component; and served again by a node that restarts.
    let deleted = host
        .client
        .delete(format!("{url}/v1/components/admin"))
        .send()
        .await
        .expect("a delete");
    assert_eq!(deleted.status(), 204);
    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/admin/hello")).await;
    assert_eq!((status, text.as_str()), (404, "no such page"));
    let host = host.restart();
    let (status, text, _) = get(&host.anonymous, &format!("{}/web/hello", host.url)).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "hello: GET /hello under /web")
    );
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let host = TestHost::start();
    let web = std::fs::read(guests::WEB).expect("the web guest");
    let (status, body) = host.upload("name=web", web).await;
    assert_eq!(status, 201, "{body}");

    // The echo of the first chunk comes back before the second is sent: neither side
    // waits for a whole body.
    let (send, receive) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let stream = futures::stream::unfold(receive, |mut receive| async move {
        receive.recv().await.map(|chunk| (chunk, receive))
    });
    let request = host
        .anonymous
        .post(format!("{}/web/echo", host.url))
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let first = b"first chunk;".to_vec();
    send.send(Ok(first.clone())).await.expect("sending");
    let mut response = tokio::time::timeout(Duration::from_secs(30), request)
        .await
        .expect("the response starts before the request body ends")
        .expect("a response");
    assert_eq!(response.status(), 200);
    let mut echoed = Vec::new();
    while echoed.len() < first.len() {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .expect("the echo of the first chunk before the second is sent")
            .expect("reading")
            .expect("a chunk");
        echoed.extend_from_slice(&chunk);
    }
    assert_eq!(echoed, first);
    // Then a few MiB more, all echoed in order.
    let mut sent = first;
    let rest: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let writer = tokio::spawn(async move {
        for part in rest.chunks(100_000) {
            send.send(Ok(part.to_vec())).await.expect("sending");
        }
        rest
    });
    while let Some(chunk) = response.chunk().await.expect("reading") {
        echoed.extend_from_slice(&chunk);
    }
    sent.extend(writer.await.expect("the writer"));
    assert_eq!(echoed.len(), sent.len());
    assert!(echoed == sent, "the echo differs from what was sent");
}

#[tokio::test]
async fn failing_handlers_get_problems_and_quotas_hold() {
    let host = TestHost::start();
    let web = std::fs::read(guests::WEB).expect("the web guest");
    let (status, body) = host
        .upload("name=web&timeout_ms=500&fuel=70000000000", web.clone())
        .await;
    assert_eq!(status, 201, "{body}");
    let url = &host.url;

    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/trap")).await;
    let trap = problem(&text);
    assert_eq!(
        (status, trap["kind"].as_str()),
        (500, Some("trap")),
        "{trap}"
    );
    assert!(
        trap["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("panicked on purpose"),
        "the guest's own message reaches the caller: {trap}"
    );
    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/spin")).await;
    assert_eq!(
        (status, problem(&text)["kind"].as_str()),
        (504, Some("timeout"))
    );
    // A body cut short by a failing handler does not look whole: the connection breaks.
    let cut = host
        .anonymous
        .get(format!("{url}/web/cut"))
        .send()
        .await
        .expect("the response starts");
    assert_eq!(cut.status(), 200);
    assert!(cut.bytes().await.is_err(), "the cut body ends in an error");
    let (status, text, _) = get(&host.anonymous, &format!("{url}/web/none")).await;
    assert_eq!(
        (status, problem(&text)["kind"].as_str()),
        (502, Some("no-response"))
    );
    let (status, _, _) = get(&host.anonymous, &format!("{url}/web/hello")).await;
    assert_eq!(status, 200, "nothing is left held");

    // A tenant allowed one instance at once: a request while another runs is refused.
    let q = host.tenant_client("q", &["deploy", "call"]).await;
    let uploaded = q
        .post(format!(
            "{url}/v1/components?name=web&timeout_ms=1000&fuel=70000000000"
        ))
        .header("content-type", "application/wasm")
        .body(web)
        .send()
        .await
        .expect("uploading");
    assert_eq!(uploaded.status(), 201);
    let quota = host
        .client
        .patch(format!("{url}/v1/tenants/q"))
        .json(&json!({ "concurrent_instances": 1 }))
        .send()
        .await
        .expect("setting a quota");
    assert_eq!(quota.status(), 200);
    // The spinning request must hold the slot first: give it a moment, and try again if
    // the quick one came first anyway (then the spinning one is the request refused).
    let mut refused = None;
    for _ in 0..20 {
        let spin = tokio::spawn({
            let (q, url) = (q.clone(), url.clone());
            async move { get(&q, &format!("{url}/t/q/web/spin")).await.0 }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (status, text, _) = get(&q, &format!("{url}/t/q/web/hello")).await;
        let spin = spin.await.expect("the spinning request");
        if status == 429 {
            assert_eq!(
                spin, 504,
                "the request holding the slot runs to its deadline"
            );
            refused = Some(problem(&text));
            break;
        }
    }
    let refused = refused.expect("a request while the only instance runs is refused");
    assert_eq!(
        (refused["kind"].as_str(), refused["quota"].as_str()),
        (Some("quota-exceeded"), Some("concurrent_instances"))
    );
    let (status, _, _) = get(&q, &format!("{url}/t/q/web/hello")).await;
    assert_eq!(status, 200, "the instance is free again");
}

/// examples/site as its README says: built with `tsdev build` (prefix and grant
/// embedded), served under /site/, counting its visits in the key-value store with its
/// grant; the count readable with `tsdev kv` and kept across a restart.
#[tokio::test]
async fn the_site_example_counts_visits_in_the_key_value_store() {
    let host = TestHost::start();
    let deployed = host.deploy_built("examples/site").await;
    assert_eq!(
        deployed["http"],
        json!({ "prefix": "/site", "public": true })
    );
    assert_eq!(deployed["grants"]["key_value"], json!(["site"]));
    for seen in 1..=2 {
        let (status, page, content_type) =
            get(&host.anonymous, &format!("{}/site/", host.url)).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
        assert!(page.contains(&format!("seen {seen} times")), "{page}");
        assert!(page.contains("href=\"/site/visits\""), "{page}");
    }
    let host = host.restart();
    let (status, visits, _) = get(&host.anonymous, &format!("{}/site/visits", host.url)).await;
    assert_eq!((status, visits.as_str()), (200, "{\"visits\":2}"));
    let out = host
        .cli()
        .args(["kv", "get", "site", "visits"])
        .output()
        .expect("tsdev kv get");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
}
