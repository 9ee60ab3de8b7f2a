//! One tenant floods, another calls: tenant `noisy` runs endless loops and memory bombs
//! (the hostile guest) from many clients at once while tenant `quiet` calls `hello` one
//! request at a time. Reports quiet's p50 and p99 alone and during the flood, and the
//! host's own `/health` during the flood, in one run, twice: with noisy's instance quota
//! at its default (every instance slot of the host) and with it set to a few.
//!
//! `cargo build --release -p tsdev -p bench && target/release/noisy_neighbour [SECONDS FLOODERS QUOTA]`

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bench::{Summary, micros, summarize};
use serde_json::{Value, json};

/// A client sending `key`.
fn client(key: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse()?,
    );
    runtime_tests::install_tls_provider();
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Make tenant `name` and a key of it with every scope.
async fn tenant(admin: &reqwest::Client, url: &str, name: &str) -> anyhow::Result<String> {
    admin
        .post(format!("{url}/v1/tenants"))
        .json(&json!({ "name": name }))
        .send()
        .await?
        .error_for_status()?;
    let created: Value = admin
        .post(format!("{url}/v1/tenants/{name}/keys"))
        .json(&json!({ "name": "bench", "scopes": ["deploy", "call", "read"] }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    created["key"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no key in {created}"))
}

async fn deploy(http: &reqwest::Client, url: &str, name: &str, path: &str) -> anyhow::Result<()> {
    http.post(format!("{url}/v1/components?name={name}"))
        .header("content-type", "application/wasm")
        .body(std::fs::read(path)?)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Latencies of `request` made one after another for `seconds`.
async fn latencies(
    seconds: f64,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<Summary> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let start = Instant::now();
        let response = request().send().await?;
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        response.bytes().await?;
        samples.push(start.elapsed());
    }
    Ok(summarize(&mut samples))
}

/// `flooders` clients calling noisy's endless loop and memory bomb until `stop`.
fn flood(
    noisy: &reqwest::Client,
    url: &str,
    flooders: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..flooders)
        .map(|i| {
            let (noisy, url, stop) = (noisy.clone(), url.to_string(), stop.clone());
            tokio::spawn(async move {
                let (procedure, args) = if i % 2 == 0 {
                    ("hostile.spin", json!({}))
                } else {
                    ("hostile.allocate", json!({ "mib": 4096 }))
                };
                while !stop.load(Ordering::Relaxed) {
                    let refused = noisy
                        .post(format!("{url}/rpc/{procedure}"))
                        .json(&args)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS);
                    // Past its quota: ask again soon (not at once: a client hammering 429s
                    // is the requests-per-second quota's business, not this bench's).
                    if refused {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

fn row(what: &str, s: &Summary) {
    println!(
        "{what:<44} p50 {:>9.0} us  p99 {:>9.0} us  ({} calls)",
        micros(s.p50),
        micros(s.p99),
        s.count
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let flooders: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let quota: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2);

    let data = tempfile::tempdir()?;
    let mut command = Command::new(runtime_tests::tsdev_bin());
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("RUST_LOG", "error");
    let server = bench::spawn(command)?;
    let url = server.url.clone();
    let admin_key = std::fs::read_to_string(data.path().join("admin.key"))?;
    let admin = client(admin_key.trim())?;
    let noisy = client(&tenant(&admin, &url, "noisy").await?)?;
    let quiet = client(&tenant(&admin, &url, "quiet").await?)?;
    deploy(&noisy, &url, "hostile", runtime_tests::guests::HOSTILE).await?;
    deploy(&quiet, &url, "hello", runtime_tests::guests::HELLO).await?;

    let hello = || {
        quiet
            .post(format!("{url}/rpc/greeter.hello"))
            .json(&json!({ "name": "quiet" }))
    };
    let health = || quiet.get(format!("{url}/health"));
    latencies(1.0, hello).await?; // warm
    let solo = latencies(seconds, hello).await?;
    let solo_health = latencies(seconds.min(3.0), health).await?;
    println!(
        "quiet calls hello one at a time; noisy floods with {flooders} clients (endless loops, 4 GiB memory bombs)"
    );
    row("quiet hello, alone", &solo);
    row("/health, alone", &solo_health);

    for noisy_quota in [None, Some(quota)] {
        if let Some(n) = noisy_quota {
            admin
                .patch(format!("{url}/v1/tenants/noisy"))
                .json(&json!({ "concurrent_instances": n }))
                .send()
                .await?
                .error_for_status()?;
        }
        let label = noisy_quota.map_or_else(
            || "noisy at the default instance quota".to_string(),
            |n| format!("noisy at an instance quota of {n}"),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = flood(&noisy, &url, flooders, &stop);
        tokio::time::sleep(Duration::from_secs(2)).await; // the flood at full strength
        let during = latencies(seconds, hello).await?;
        let during_health = latencies(seconds.min(3.0), health).await?;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
        println!("-- {label}");
        row("quiet hello, during the flood", &during);
        row("/health, during the flood", &during_health);
        println!(
            "ratio during / alone: p50 {:.1}x  p99 {:.1}x (target p99 <= 2x)",
            micros(during.p50) / micros(solo.p50),
            micros(during.p99) / micros(solo.p99)
        );
    }
    drop(server);
    Ok(())
}
