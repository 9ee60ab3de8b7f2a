//! Loopback load: `tsdev serve` with the hello example against a minimal native axum handler
//! that returns the same JSON, and a second such handler (the noise of the run). Same load
//! generator, same connection count, alternating rounds, one run; reports requests/s of
//! each, the median of its per-round ratios to native, and each server's CPU per request.
//!
//! `cargo build --release -p tsdev -p bench && target/release/rpc_load [SECONDS CONNECTIONS ROUNDS]`

use std::process::Command;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::post;

async fn native_server() -> anyhow::Result<()> {
    let app = Router::new().route(
        "/rpc/greeter.hello",
        post(|body: Bytes| async move {
            (
                [(header::CONTENT_TYPE, "application/json")],
                bench::hello_native(&body),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--native-server") {
        return native_server().await;
    }
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4.0);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(8);

    let native = || -> anyhow::Result<bench::Server> {
        let mut native = Command::new(std::env::current_exe()?);
        native.arg("--native-server");
        bench::spawn(native)
    };
    let data = tempfile::tempdir()?;
    let tsdev = bench::spawn(bench::tsdev_serving(
        runtime_tests::guests::HELLO,
        data.path(),
    ))?;
    // A second native server, the same as the first: its ratio to it is this run's noise.
    let mut servers = vec![
        ("native axum handler", native()?, Vec::new(), Vec::new()),
        ("native again", native()?, Vec::new(), Vec::new()),
        ("tsdev serve (hello)", tsdev, Vec::new(), Vec::new()),
    ];
    for (_, server, _, _) in &servers {
        bench::hello_rpc_load(&server.url, 1.0, connections).await?;
    }
    // Every server once a round, the order reversed every other round, so that drift
    // hits all alike.
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..servers.len()).collect()
        } else {
            (0..servers.len()).rev().collect()
        };
        for i in order {
            let (_, server, rps, cpu_us) = &mut servers[i];
            let cpu_before = server.cpu_seconds()?;
            let served = bench::hello_rpc_load(&server.url, seconds, connections).await?;
            rps.push(served);
            cpu_us.push((server.cpu_seconds()? - cpu_before) * 1e6 / (served * seconds));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "loopback POST /rpc/greeter.hello, {connections} connections, {rounds} rounds of {seconds} s each"
    );
    let native_rps = servers[0].2.clone();
    for (label, _, rps, cpu_us) in &servers {
        // The median of the rounds' ratios: a round the machine was busy elsewhere does
        // not decide.
        let mut ratios: Vec<f64> = rps.iter().zip(&native_rps).map(|(r, n)| r / n).collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "{label:<20} {:>8.0} requests/s  ratio to native: median {:.2} (rounds {:.2} .. {:.2})  server CPU {:.1} µs/request",
            mean(rps),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1],
            mean(cpu_us),
        );
    }
    println!("target: tsdev / native >= 0.5");
    Ok(())
}
