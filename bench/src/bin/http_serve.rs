//! wasi:http serving: the same `wasi:http/incoming-handler` component (the runtime tests'
//! `web` guest, `GET /hello`) served by `tsdev serve` (under its prefix, `/web/hello`) and by
//! `wasmtime serve` (at `/hello`). Same load generator, same connection count, alternating
//! rounds, one run; reports requests/s of each and the ratio.
//!
//! Needs `wasmtime` 48 on PATH (or in `$WASMTIME`): `cargo install wasmtime-cli --version
//! 48.0.8 --locked`.
//!
//! `cargo build --release -p tsdev -p bench && target/release/http_serve [SECONDS CONNECTIONS]`

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What `GET /hello` answers, after the path the handler saw.
const ANSWER_START: &str = "hello: GET /hello under ";

/// Requests per second against `target` over `seconds` with `connections` concurrent
/// clients.
async fn load(target: &str, seconds: f64, connections: usize) -> anyhow::Result<f64> {
    runtime_tests::install_tls_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let first = client.get(target).send().await?.text().await?;
    anyhow::ensure!(
        first.starts_with(ANSWER_START),
        "unexpected answer from {target}: {first:?}"
    );
    let target = target.to_string();
    bench::requests_per_second(&client, seconds, connections, move |client| {
        client.get(&target)
    })
    .await
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `wasmtime serve` of `component` on `port`, killed when dropped.
struct WasmtimeServe(std::process::Child);

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let component = runtime_tests::guests::WEB;

    let wasmtime = std::env::var("WASMTIME").unwrap_or_else(|_| "wasmtime".into());
    let version = Command::new(&wasmtime).arg("--version").output().map_err(|e| {
        anyhow::anyhow!(
            "running {wasmtime}: {e}; install it with `cargo install wasmtime-cli --version 48.0.8 --locked`"
        )
    })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let port = free_port()?;
    let _wasmtime_serve = WasmtimeServe(
        Command::new(&wasmtime)
            // -Scli: the guest is a Rust std component, which imports wasi:cli (its
            // environment, exit, stdio), as tsdev provides to every component.
            .args([
                "serve",
                "-Scli",
                "--addr",
                &format!("127.0.0.1:{port}"),
                component,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let wasmtime_url = format!("http://127.0.0.1:{port}/hello");

    let data = tempfile::tempdir()?;
    let tsdev = bench::tsdev_serving(component, data.path());
    let tsdev = bench::spawn(tsdev)?;
    let tsdev_url = format!("{}/web/hello", tsdev.url);

    // wasmtime serve compiles the component before it listens: wait for it.
    let started = Instant::now();
    while reqwest::get(&wasmtime_url).await.is_err() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "wasmtime serve did not answer on {wasmtime_url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Warm both, then alternate rounds so drift hits both alike.
    load(&wasmtime_url, 1.0, connections).await?;
    load(&tsdev_url, 1.0, connections).await?;
    let (mut wasmtime_rps, mut tsdev_rps) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        wasmtime_rps.push(load(&wasmtime_url, seconds, connections).await?);
        tsdev_rps.push(load(&tsdev_url, seconds, connections).await?);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (wasmtime_mean, tsdev_mean) = (mean(&wasmtime_rps), mean(&tsdev_rps));
    println!(
        "loopback GET /hello of the web guest, {connections} connections, 2 x {seconds} s rounds each"
    );
    println!("{version} serve: {wasmtime_mean:>10.0} requests/s  {wasmtime_rps:.0?}");
    println!("tsdev serve:           {tsdev_mean:>10.0} requests/s  {tsdev_rps:.0?}");
    println!(
        "ratio tsdev / wasmtime serve: {:.2} (target >= 0.8)",
        tsdev_mean / wasmtime_mean
    );
    Ok(())
}
