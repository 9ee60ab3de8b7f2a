//! Durable workflows end to end on SQLite: `tsdev serve` with the `hello` procedures and the
//! `flows` workflows; many clients each start a three-step workflow (`flows.greet-all`
//! with three names: three `greeter.hello` steps) over `POST /rpc/flows.greet-all` and wait
//! for its result. In the same run, the same clients call the step's procedure directly
//! (`POST /rpc/greeter.hello`): the baseline a durable step is compared with.
//!
//! With `stores` as a third argument it compares, in one run and with the same clients,
//! SQLite, one node on PostgreSQL and two nodes on one PostgreSQL database (clients spread
//! over both, as a load balancer would), with the machine's CPU time per workflow.
//!
//! `cargo build --release -p tsdev -p bench && target/release/workflow_load [SECONDS CLIENTS,CLIENTS,… [stores]]`

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
    load_spread(&[url.to_string()], body, seconds, connections, check).await
}

/// [`load`] with client `i` sending to `urls[i % urls.len()]`.
async fn load_spread(
    urls: &[String],
    body: &str,
    seconds: f64,
    connections: usize,
    check: fn(&[u8]) -> bool,
) -> anyhow::Result<(f64, Summary)> {
    runtime_tests::install_tls_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(0usize));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            let (client, body) = (client.clone(), body.to_string());
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

/// CPU time the whole machine has spent (user and system, every process), in ms.
fn machine_cpu_ms() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .next()
        .ok_or_else(|| anyhow::anyhow!("/proc/stat is empty"))?;
    // cpu user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 3 | 4))
        .take(6)
        .map(|(_, t)| t)
        .sum();
    // USER_HZ is 100 on Linux.
    Ok(busy as f64 * 10.0)
}

/// One store set-up: `urls` serve the workflows.
async fn measure_store(
    name: &str,
    urls: &[String],
    seconds: f64,
    clients: usize,
) -> anyhow::Result<f64> {
    let workflow_urls: Vec<String> = urls
        .iter()
        .map(|u| format!("{u}/rpc/flows.greet-all"))
        .collect();
    let body = r#"{"names":["a","b","c"]}"#;
    load_spread(&workflow_urls, body, 1.0, clients, is_three_greetings).await?;
    let mut best = 0.0f64;
    for round in 1..=2 {
        let cpu_before = machine_cpu_ms()?;
        let (rate, w) =
            load_spread(&workflow_urls, body, seconds, clients, is_three_greetings).await?;
        let cpu = machine_cpu_ms()? - cpu_before;
        let cpu_per_workflow = cpu / (rate * seconds);
        println!(
            "{name:<22} round {round}: {rate:>7.0} workflows/s p50 {:>6.2} ms p99 {:>6.2} ms | machine CPU {cpu_per_workflow:.2} ms per workflow",
            ms(w.p50),
            ms(w.p99),
        );
        best = best.max(rate);
    }
    Ok(best)
}

/// SQLite, one node on PostgreSQL and two nodes on one PostgreSQL, in one run.
async fn compare_stores(seconds: f64, clients: usize) -> anyhow::Result<()> {
    println!(
        "loopback, {clients} clients, 2 x {seconds} s rounds per store; three-step workflow = POST /rpc/flows.greet-all; CPU: the whole machine (clients too)"
    );
    let sqlite = {
        let data = tempfile::tempdir()?;
        let tsdev = spawn_tsdev(data.path())?;
        measure_store("SQLite", std::slice::from_ref(&tsdev.url), seconds, clients).await?
    };
    let one = {
        let cluster = runtime_tests::cluster::Cluster::start(1).await;
        deploy_workflows(&cluster).await?;
        let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url.clone()).collect();
        let rate = measure_store("PostgreSQL, 1 node", &urls, seconds, clients).await?;
        cluster.finish().await;
        rate
    };
    let two = {
        let cluster = runtime_tests::cluster::Cluster::start(2).await;
        deploy_workflows(&cluster).await?;
        let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url.clone()).collect();
        let rate = measure_store("PostgreSQL, 2 nodes", &urls, seconds, clients).await?;
        cluster.finish().await;
        rate
    };
    println!(
        "PostgreSQL 1 node / SQLite: {:.2}x (target >= 0.6) | 2 nodes / 1 node: {:.2}x (same 2 cores: a lower bound)",
        one / sqlite,
        two / one
    );
    Ok(())
}

/// Deploy `hello` and `flows` on the first node and wait until every node serves them.
async fn deploy_workflows(cluster: &runtime_tests::cluster::Cluster) -> anyhow::Result<()> {
    let first = cluster.node(0);
    for (name, path) in [
        ("hello", runtime_tests::guests::HELLO),
        ("flows", runtime_tests::guests::FLOWS),
    ] {
        let (status, body) = first.deploy(name, path).await;
        anyhow::ensure!(status == 201, "deploying {name}: {body}");
    }
    for node in &cluster.nodes {
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.get("/v1/components/flows").await.0 != 200 {
            anyhow::ensure!(Instant::now() < deadline, "a node never served flows");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
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
    if args.get(3).is_some_and(|a| a == "stores") {
        for clients in client_counts {
            compare_stores(seconds, clients).await?;
        }
        return Ok(());
    }
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
