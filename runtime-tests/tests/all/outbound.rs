//! Outbound HTTP (`wasi:http/outgoing-handler`) with the real binary: a Rust component
//! built with the `wasi` crate's bindings deploys without a grant, and its requests reach
//! only the origins its manifest grants (scheme, host and port exactly); a host name that
//! resolves to a private address is refused unless the grant names the address; bodies
//! stream both ways, and a response past the limit fails in the guest. A test server on
//! loopback counts what reaches it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use runtime_tests::{TestHost, guests, with_manifest};

/// A server on loopback: its port, and how many requests reached it.
async fn test_server() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new()
        .route("/hello", get(|| async { "hello from the test server" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                "slow"
            }),
        )
        .route(
            "/echo",
            post(|body: axum::body::Bytes| async move {
                format!("{} bytes: {}", body.len(), String::from_utf8_lossy(&body))
            }),
        )
        // Past the host's 16 MiB limit on response bodies.
        .route("/big", get(|| async { vec![b'x'; (16 << 20) + 1] }))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(request)
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port on loopback");
    let port = listener.local_addr().expect("an address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}

async fn fetch(host: &TestHost, url: &str) -> (u16, Value) {
    host.rpc("web.get", json!({ "url": url })).await
}

/// The error the guest got (the wasi:http error code, as Debug).
fn error_of(answer: &(u16, Value)) -> String {
    assert_eq!(answer.0, 422, "{}", answer.1);
    answer.1["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn outbound_requests_reach_granted_origins_only() {
    let (port, hits) = test_server().await;
    let host = TestHost::start();
    let wasm = std::fs::read(guests::FETCHER).expect("fetcher");
    let hello = format!("http://127.0.0.1:{port}/hello");

    // Importing wasi:http needs no grant to deploy (as jco's components import it always);
    // without one, every request is denied in the guest, and never sent.
    let (status, body) = host.upload("name=fetcher", wasm.clone()).await;
    assert_eq!(status, 201, "{body}");
    let denied = error_of(&fetch(&host, &hello).await);
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert!(
        host.log().contains("outbound HTTP request denied"),
        "the denial is logged"
    );

    // Granted: the loopback address named explicitly.
    let manifest = format!("[grants]\noutbound-http = [\"http://127.0.0.1:{port}\"]\n");
    let (status, body) = host
        .upload("name=fetcher", with_manifest(&wasm, &manifest))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = fetch(&host, &hello).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "status": 200, "body": "hello from the test server" })
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // A streamed request body (written 1,000 bytes at a time) arrives whole.
    let sent = "abcdefghij".repeat(1_000);
    let (status, body) = host
        .rpc(
            "web.post",
            json!({ "url": format!("http://127.0.0.1:{port}/echo"), "body": sent, "chunk": 1_000 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"], format!("10000 bytes: {sent}"));

    // Only that origin: not another port, not https, not another name for the address.
    let before = hits.load(Ordering::SeqCst);
    for other in [
        format!("http://127.0.0.1:{}/hello", port.wrapping_add(1)),
        format!("https://127.0.0.1:{port}/hello"),
        format!("http://localhost:{port}/hello"),
        "http://example.com/".to_string(),
    ] {
        let denied = error_of(&fetch(&host, &other).await);
        assert!(denied.contains("HttpRequestDenied"), "{other}: {denied}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "no denied request was sent"
    );

    // At most 16 exchanges of one call at once: a burst of 20 slow requests gets 16
    // answers and 4 refusals, the 4 never sent.
    let before = hits.load(Ordering::SeqCst);
    let (status, body) = host
        .rpc(
            "web.burst",
            json!({ "url": format!("http://127.0.0.1:{port}/slow"), "n": 20 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answers: Vec<&str> = body
        .as_array()
        .expect("answers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        answers.iter().filter(|a| **a == "200").count(),
        16,
        "{answers:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.contains("ConnectionLimitReached"))
            .count(),
        4,
        "{answers:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), before + 16);

    // A response body past the limit fails in the guest.
    let too_big = error_of(&fetch(&host, &format!("http://127.0.0.1:{port}/big")).await);
    assert!(too_big.contains("body size exceeds limit"), "{too_big}");
}

/// A grant of a host name whose addresses are private (this machine's own name resolves to
/// a loopback or private address) does not reach them: the grant does not name the address.
#[tokio::test]
async fn a_granted_name_that_resolves_to_a_private_address_is_refused() {
    use std::net::ToSocketAddrs;
    let (port, hits) = test_server().await;
    let name = std::fs::read_to_string("/etc/hostname")
        .map(|n| n.trim().to_string())
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let addresses: Vec<std::net::IpAddr> = (name.as_str(), port)
        .to_socket_addrs()
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default();
    assert!(
        !addresses.is_empty()
            && addresses.iter().all(|ip| ip.is_loopback()
                || match ip {
                    std::net::IpAddr::V4(v4) => v4.is_private(),
                    std::net::IpAddr::V6(_) => false,
                }),
        "this machine's name {name} should resolve to private addresses: {addresses:?}"
    );
    let host = TestHost::start();
    let wasm = std::fs::read(guests::FETCHER).expect("fetcher");
    let manifest = format!("[grants]\noutbound-http = [\"http://{name}:{port}\"]\n");
    let (status, body) = host
        .upload("name=fetcher", with_manifest(&wasm, &manifest))
        .await;
    assert_eq!(status, 201, "{body}");
    let refused = error_of(&fetch(&host, &format!("http://{name}:{port}/hello")).await);
    assert!(refused.contains("DestinationIpProhibited"), "{refused}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the private address"
    );
    assert!(
        host.log().contains("private address"),
        "the refusal is logged"
    );
}

/// examples/rates as its README says: built with `tsdev build`, it converts through the
/// local stand-in its allow-list names once config points it there (no redeploy), and a
/// URL off the allow-list fails in the guest.
#[tokio::test]
async fn the_rates_example_reaches_its_api_through_the_allow_list() {
    let host = TestHost::start();
    let deployed = host.deploy_built("examples/rates").await;
    assert_eq!(
        deployed["grants"]["outbound_http"],
        json!(["https://api.frankfurter.app", "http://127.0.0.1:18077"])
    );
    let example = std::path::Path::new(guests::ROOT).join("examples/rates");
    let mut stand_in = KillOnDrop(
        std::process::Command::new("python3")
            .arg(example.join("stand_in.py"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting the stand-in"),
    );
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stand_in.0.stdout.take().expect("its stdout")),
        &mut ready,
    )
    .expect("the stand-in says where it listens");
    assert!(ready.contains("127.0.0.1:18077"), "{ready}");

    let config = |value: &str| {
        let out = host
            .cli()
            .args(["config", "set", "rates", &format!("rates-api={value}")])
            .output()
            .expect("tsdev config set");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let convert = |query: &str| {
        let url = format!("{}/rates/convert?{query}", host.url);
        let client = host.client.clone();
        async move {
            let response = client.get(url).send().await.expect("GET");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    config("http://127.0.0.1:18077");
    assert_eq!(
        convert("amount=10&base=EUR&target=USD").await,
        (200, json!(12.5))
    );
    assert_eq!(
        convert("amount=8&base=gbp&target=eur").await,
        (200, json!(10.0))
    );
    let (status, body) = convert("amount=1&base=E%20R&target=USD").await;
    assert_eq!(status, 422, "{body}");

    config("http://127.0.0.1:18078");
    let (status, body) = convert("amount=10&base=EUR&target=USD").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("HttpRequestDenied"),
        "{body}"
    );
}

/// A child process, killed when dropped (also when the test fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
