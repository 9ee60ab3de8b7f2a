//! What observing costs: `tsdev serve` with the hello example under the same RPC load,
//! once with traces exported (OTLP to a receiver in this process that decodes every
//! batch), the request log at `info` as JSON and `/metrics` scraped every second, and once
//! with none of them (no exporter, log at `warn`, no scrape). Alternating rounds, one
//! run; reports requests/s of each and the ratio. Metrics are always recorded (there is no
//! switch): that part is in both.
//!
//! `cargo build --release -p tsdev -p bench && target/release/telemetry_cost [SECONDS CONNECTIONS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// An OTLP/HTTP receiver on loopback counting the spans it decodes: its base URL and count.
async fn receiver() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let spans = Arc::new(AtomicU64::new(0));
    let counted = spans.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let counted = counted.clone();
            async move {
                if let Ok(request) = ExportTraceServiceRequest::decode(body) {
                    let n: usize = request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum();
                    counted.fetch_add(n as u64, Ordering::Relaxed);
                }
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, spans))
}

/// A host with hello deployed, its data directory and admin key; with `otlp`, traces go
/// there and the log is at info, as JSON.
fn host(otlp: Option<&str>) -> anyhow::Result<(bench::Server, tempfile::TempDir, String)> {
    let data = tempfile::tempdir()?;
    let mut tsdev = bench::tsdev_serving(runtime_tests::guests::HELLO, data.path());
    if let Some(url) = otlp {
        tsdev
            .args(["--otlp-endpoint", url, "--log-format", "json"])
            .env("RUST_LOG", "info");
    }
    let server = bench::spawn(tsdev)?;
    // Made at the first start.
    let key = std::fs::read_to_string(data.path().join("admin.key"))?
        .trim()
        .to_string();
    Ok((server, data, key))
}

async fn load(url: &str, seconds: f64, connections: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let target = format!("{url}/rpc/greeter.hello");
    let first = client
        .post(&target)
        .body(r#"{"name":"load"}"#)
        .send()
        .await?;
    anyhow::ensure!(first.status().is_success(), "{}", first.text().await?);
    bench::requests_per_second(&client, seconds, connections, move |client| {
        client.post(&target).body(r#"{"name":"load"}"#)
    })
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);

    let (otlp, spans) = receiver().await?;
    let (plain, _plain_data, _) = host(None)?;
    let (observed, _observed_data, key) = host(Some(&otlp))?;

    // Prometheus' part: /metrics of the observed host read every second.
    let scrapes = Arc::new(AtomicU64::new(0));
    let (scraped, metrics_url) = (scrapes.clone(), format!("{}/metrics", observed.url));
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(&metrics_url).bearer_auth(&key).send().await
                && r.status().is_success()
                && r.bytes().await.is_ok()
            {
                scraped.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });

    load(&plain.url, 1.0, connections).await?;
    load(&observed.url, 1.0, connections).await?;
    let (mut plain_rps, mut observed_rps) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        plain_rps.push(load(&plain.url, seconds, connections).await?);
        observed_rps.push(load(&observed.url, seconds, connections).await?);
    }
    // The last batch: the exporter sends every 5 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (plain_mean, observed_mean) = (mean(&plain_rps), mean(&observed_rps));
    println!(
        "loopback POST /rpc/greeter.hello, {connections} connections, 3 x {seconds} s rounds each"
    );
    println!("not observed:  {plain_mean:>10.0} requests/s  {plain_rps:.0?}");
    println!("observed:      {observed_mean:>10.0} requests/s  {observed_rps:.0?}");
    println!(
        "  spans received: {}, /metrics scrapes: {}",
        spans.load(Ordering::Relaxed),
        scrapes.load(Ordering::Relaxed)
    );
    println!(
        "ratio observed / not observed: {:.3} (target >= 0.95: observing costs < 5%)",
        observed_mean / plain_mean
    );
    Ok(())
}
