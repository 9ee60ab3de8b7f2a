//! What observing costs: `tsdev serve` with the hello example under the same RPC load in
//! these configurations, alternating rounds, one run:
//!
//! - **plain**: no traces, log at `warn`, `/metrics` not read (and a second host the
//!   same, **plain again**, whose ratio to the first shows this run's noise);
//! - **traced**: traces exported (OTLP to a receiver in this process) as a node does by
//!   default (at most `--traces-per-second`, 100, new traces recorded a second) and
//!   `/metrics` scraped every second, log at `warn`;
//! - **every trace**: the same with every trace recorded
//!   (`OTEL_TRACES_SAMPLER=parentbased_always_on`): what each span costs;
//! - **traced + logged**: traced as by default, and the log at `info` as JSON (one event
//!   per request).
//!
//! Reports requests/s of each, the median of its per-round ratios to plain, and the CPU
//! time its host used per request. Metrics are always recorded (there is no switch to turn
//! them off): their recording is in every configuration; what differs is the scrape.
//!
//! `cargo build --release -p tsdev -p bench && target/release/telemetry_cost [SECONDS CONNECTIONS ROUNDS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// An OTLP/HTTP receiver on loopback: its base URL, the bytes received and the spans in
/// the first batch (decoded to check that what arrives is spans; the rest only counted, so
/// that decoding, a collector's work, does not take this machine's cores from tsdev).
async fn receiver() -> anyhow::Result<(String, Arc<AtomicU64>, Arc<AtomicU64>)> {
    let (bytes, first_batch) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (counted, decoded) = (bytes.clone(), first_batch.clone());
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let (counted, decoded) = (counted.clone(), decoded.clone());
            async move {
                if counted.fetch_add(body.len() as u64, Ordering::Relaxed) == 0
                    && let Ok(request) = ExportTraceServiceRequest::decode(body)
                {
                    let spans: usize = request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum();
                    decoded.store(spans as u64, Ordering::Relaxed);
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
    Ok((url, bytes, first_batch))
}

/// What a host is started with.
#[derive(Clone, Copy)]
enum Observing {
    Nothing,
    Traced,
    EveryTrace,
    TracedAndLogged,
}

/// A host with hello deployed, observed as `observing` says (traces to `otlp`); its data
/// directory and admin key.
fn host(
    observing: Observing,
    otlp: &str,
) -> anyhow::Result<(bench::Server, tempfile::TempDir, String)> {
    let data = tempfile::tempdir()?;
    let mut tsdev = bench::tsdev_serving(runtime_tests::guests::HELLO, data.path());
    match observing {
        Observing::Nothing => {}
        Observing::Traced => {
            tsdev.args(["--otlp-endpoint", otlp]);
        }
        Observing::EveryTrace => {
            tsdev
                .args(["--otlp-endpoint", otlp])
                .env("OTEL_TRACES_SAMPLER", "parentbased_always_on");
        }
        Observing::TracedAndLogged => {
            tsdev
                .args(["--otlp-endpoint", otlp, "--log-format", "json"])
                .env("RUST_LOG", "info");
        }
    }
    let server = bench::spawn(tsdev)?;
    // Made at the first start.
    let key = std::fs::read_to_string(data.path().join("admin.key"))?
        .trim()
        .to_string();
    Ok((server, data, key))
}

/// Read `url`/metrics every second, as Prometheus would; counts the scrapes.
fn scrape_every_second(url: &str, key: String, scrapes: Arc<AtomicU64>) {
    let metrics_url = format!("{url}/metrics");
    tokio::spawn(async move {
        runtime_tests::install_tls_provider();
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(&metrics_url).bearer_auth(&key).send().await
                && r.status().is_success()
                && r.bytes().await.is_ok()
            {
                scrapes.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(9);

    let (otlp, bytes, first_batch) = receiver().await?;
    let scrapes = Arc::new(AtomicU64::new(0));
    let mut hosts = Vec::new();
    for (label, observing) in [
        ("plain", Observing::Nothing),
        // The same as plain: what two hosts alike differ by in this run (the noise floor).
        ("plain again", Observing::Nothing),
        ("traced", Observing::Traced),
        ("every trace", Observing::EveryTrace),
        ("traced + logged", Observing::TracedAndLogged),
    ] {
        let (server, data, key) = host(observing, &otlp)?;
        if !matches!(observing, Observing::Nothing) {
            scrape_every_second(&server.url, key, scrapes.clone());
        }
        bench::hello_rpc_load(&server.url, 1.0, connections).await?;
        hosts.push((label, server, data));
    }
    let servers: Vec<&bench::Server> = hosts.iter().map(|(_, server, _)| server).collect();
    let done = bench::alternating_rounds(&servers, rounds, seconds, connections).await?;
    // The last batch: the exporter sends every 5 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    println!(
        "loopback POST /rpc/greeter.hello, {connections} connections, {rounds} rounds of {seconds} s each; ratios to plain"
    );
    for ((label, _, _), rounds) in hosts.iter().zip(&done) {
        println!("{}", bench::report_line(label, rounds, &done[0]));
    }
    println!(
        "OTLP received: {} MB ({} spans in the first batch), /metrics scrapes: {} (target: traced >= 0.95 of plain)",
        bytes.load(Ordering::Relaxed) / 1_000_000,
        first_batch.load(Ordering::Relaxed),
        scrapes.load(Ordering::Relaxed)
    );
    Ok(())
}
