//! Shared pieces of the benchmarks: latency statistics, the same JSON answer the hello
//! example gives, computed natively, and a closed-loop HTTP load generator.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Latency summary of one measured series.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Their mean.
    pub mean: Duration,
    /// Their median.
    pub p50: Duration,
    /// Their 99th percentile.
    pub p99: Duration,
}

/// Summarise `samples` (sorted in place).
pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let count = samples.len().max(1);
    let total: Duration = samples.iter().sum();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Summary {
        count: samples.len(),
        mean: total / count as u32,
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// `greeter.hello` done natively, JSON in and out, as a handler would.
pub fn hello_native(args: &[u8]) -> Vec<u8> {
    let args: Value = serde_json::from_slice(args).unwrap_or(Value::Null);
    let name = args["name"].as_str().unwrap_or("");
    let answer =
        json!({ "message": format!("Hello, {name}!"), "name-length": name.chars().count() });
    serde_json::to_vec(&answer).unwrap_or_default()
}

/// `d` in microseconds.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A child server, killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// Where it listens.
    pub url: String,
}

/// The unit of CPU times in `/proc` (clock ticks): 100 a second on every architecture
/// tsdev runs on (the kernel's `USER_HZ`, fixed by its ABI).
const USER_HZ: f64 = 100.0;

impl Server {
    /// The CPU time (user and system, all its threads) the server has used so far, from
    /// `/proc`: what a request costs it, whatever the load generator beside it costs.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses and may hold spaces):
        // utime and stime are the 14th and 15th of the whole line.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow::anyhow!("unexpected /proc stat: {stat}"))?;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(i)
                .ok_or_else(|| anyhow::anyhow!("unexpected /proc stat: {stat}"))?
                .parse::<f64>()?)
        };
        Ok((ticks(11)? + ticks(12)?) / USER_HZ)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tsdev serve` on a free loopback port, its state in `data`, `component` deployed at
/// start, the log at `warn` (start it with [`spawn`]).
pub fn tsdev_serving(component: &str, data: &std::path::Path) -> std::process::Command {
    let mut tsdev = std::process::Command::new(runtime_tests::tsdev_bin());
    tsdev
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--deploy",
            component,
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "warn");
    tsdev
}

/// Start `command` and wait for its `listening on URL` line.
pub fn spawn(mut command: std::process::Command) -> anyhow::Result<Server> {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("server exited before listening"))??;
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok(Server { child, url })
}

/// Requests per second of `POST URL/rpc/greeter.hello` (the hello example, or a handler
/// answering as it does) with `connections` keep-alive connections over `seconds`, after
/// checking that the answer is hello's.
pub async fn hello_rpc_load(url: &str, seconds: f64, connections: usize) -> anyhow::Result<f64> {
    runtime_tests::install_tls_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let target = format!("{url}/rpc/greeter.hello");
    let expected = hello_native(br#"{"name":"load"}"#);
    let first = client
        .post(&target)
        .body(r#"{"name":"load"}"#)
        .send()
        .await?
        .bytes()
        .await?;
    anyhow::ensure!(
        first.as_ref() == expected.as_slice(),
        "unexpected answer: {first:?}"
    );
    requests_per_second(&client, seconds, connections, move |client| {
        client.post(&target).body(r#"{"name":"load"}"#)
    })
    .await
}

/// Requests per second that `connections` concurrent clients complete (a success status,
/// the body read) over `seconds`, each sending what `request` builds, one after another.
pub async fn requests_per_second(
    client: &reqwest::Client,
    seconds: f64,
    connections: usize,
    request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Clone + Send + 'static,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, request, done) = (client.clone(), request.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if let Ok(response) = request(&client).send().await
                        && response.status().is_success()
                        && response.bytes().await.is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    for task in tasks {
        task.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// What one server did in [`alternating_rounds`], a value per round.
#[derive(Default)]
pub struct Rounds {
    /// Requests per second.
    pub rps: Vec<f64>,
    /// Its CPU time per request, µs.
    pub cpu_us: Vec<f64>,
}

/// `POST /rpc/greeter.hello` load on each of `servers` for `seconds`, `rounds` times: every
/// round loads every server once, in turn, the order reversed every other round, so that
/// a machine getting slower or faster during the run does not favour one of them.
pub async fn alternating_rounds(
    servers: &[&Server],
    rounds: usize,
    seconds: f64,
    connections: usize,
) -> anyhow::Result<Vec<Rounds>> {
    let mut done: Vec<Rounds> = servers.iter().map(|_| Rounds::default()).collect();
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..servers.len()).collect()
        } else {
            (0..servers.len()).rev().collect()
        };
        for i in order {
            let server = servers[i];
            let cpu_before = server.cpu_seconds()?;
            let served = hello_rpc_load(&server.url, seconds, connections).await?;
            done[i].rps.push(served);
            done[i]
                .cpu_us
                .push((server.cpu_seconds()? - cpu_before) * 1e6 / (served * seconds));
        }
    }
    Ok(done)
}

/// One line of a report: the mean requests/s, the median of the rounds' ratios to
/// `baseline` (robust to a round the machine was busy elsewhere) with their range, and
/// the server's CPU per request.
pub fn report_line(label: &str, rounds: &Rounds, baseline: &Rounds) -> String {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mut ratios: Vec<f64> = rounds
        .rps
        .iter()
        .zip(&baseline.rps)
        .map(|(r, b)| r / b)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let (median, lowest, highest) = match (ratios.first(), ratios.last()) {
        (Some(lowest), Some(highest)) => (ratios[ratios.len() / 2], *lowest, *highest),
        _ => (f64::NAN, f64::NAN, f64::NAN),
    };
    format!(
        "{label:<20} {:>8.0} requests/s  ratio: median {median:.3} (rounds {lowest:.3} .. {highest:.3})  server CPU {:.1} µs/request",
        mean(&rounds.rps),
        mean(&rounds.cpu_us),
    )
}
