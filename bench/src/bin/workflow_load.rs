//! Durable workflows end to end on SQLite: `tsdev serve` with the `hello` procedures and the
//! `flows` workflows; many clients each start a three-step workflow (`flows.greet-all`
//! with three names: three `greeter.hello` steps) over `POST /rpc/flows.greet-all` and wait
//! for its result. In the same run, the same clients call the step's procedure directly
//! (`POST /rpc/greeter.hello`): the baseline a durable step is compared with.
//!
//! `cargo build --release -p tsdev -p bench && target/release/workflow_load [SECONDS CLIENTS,CLIENTS,…]`

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::{Server, Summary, summarize};

fn spawn_tsdev(data: &std::path::Path) -> anyhow::Result<Server> {
    let mut command = Command::new(runtime_tests::tsdev_bin());
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(["--deploy", runtime_tests::guests::HELLO])
        .args(["--deploy", runtime_tests::guests::FLOWS])
        .env("RUST_LOG", "warn");
    bench::spawn(command)
}

/// `connections` clients POSTing `body` to `url` for `seconds`: completions per second and
/// the latency of each call. Every answer is checked with `check`.
async fn load(
    url: &str,
    body: &str,
    seconds: f64,
    connections: usize,
    check: fn(&[u8]) -> bool,
) -> anyhow::Result<(f64, Summary)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(0usize));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_string(), body.to_string());
            let (latencies, failures) = (latencies.clone(), failures.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    let answer = match client.post(&url).body(body.clone()).send().await {
                        Ok(response) if response.status().is_success() => {
                            response.bytes().await.ok()
                        }
                        _ => None,
                    };
                    match answer {
                        Some(bytes) if check(&bytes) => mine.push(start.elapsed()),
                        _ => *failures.lock().unwrap_or_else(|p| p.into_inner()) += 1,
                    }
                }
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(mine);
            })
        })
        .collect();
    let start = Instant::now();
    for task in tasks {
        task.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let failures = *failures.lock().unwrap_or_else(|p| p.into_inner());
    anyhow::ensure!(failures == 0, "{failures} calls failed or answered wrongly");
    let mut samples = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    let rate = samples.len() as f64 / elapsed;
    Ok((rate, summarize(&mut samples)))
}

fn is_three_greetings(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v == serde_json::json!(["Hello, a!", "Hello, b!", "Hello, c!"]))
}

fn is_greeting(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v["message"] == "Hello, a!")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let client_counts: Vec<usize> = args
        .get(2)
        .map_or("1,8,32", String::as_str)
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()?;
    let data = tempfile::tempdir()?;
    let tsdev = spawn_tsdev(data.path())?;
    let workflow = format!("{}/rpc/flows.greet-all", tsdev.url);
    let procedure = format!("{}/rpc/greeter.hello", tsdev.url);
    let workflow_body = r#"{"names":["a","b","c"]}"#;
    let procedure_body = r#"{"name":"a"}"#;

    println!(
        "loopback, SQLite, 2 x {seconds} s rounds per client count; three-step workflow = POST /rpc/flows.greet-all (start and wait)"
    );
    for clients in client_counts {
        // Warm up, then alternate so drift hits both alike.
        load(&workflow, workflow_body, 1.0, clients, is_three_greetings).await?;
        load(&procedure, procedure_body, 1.0, clients, is_greeting).await?;
        for round in 1..=2 {
            let (w_rate, w) = load(
                &workflow,
                workflow_body,
                seconds,
                clients,
                is_three_greetings,
            )
            .await?;
            let (p_rate, p) =
                load(&procedure, procedure_body, seconds, clients, is_greeting).await?;
            println!(
                "{clients:>3} clients, round {round}: workflows {w_rate:>7.0}/s p50 {:>6.2} ms p99 {:>6.2} ms | procedure calls {p_rate:>7.0}/s p50 {:>6.2} ms p99 {:>6.2} ms | durable step vs /rpc call: {:.1}x (p50 per step {:.2} ms)",
                ms(w.p50),
                ms(w.p99),
                ms(p.p50),
                ms(p.p99),
                ms(w.p50) / 3.0 / ms(p.p50),
                ms(w.p50) / 3.0,
            );
        }
    }
    println!("target: >= 2,000 three-step workflows/s, p50 <= 4 ms");
    Ok(())
}
