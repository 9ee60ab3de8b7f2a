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
    let servers = [
        ("native axum handler", native()?),
        ("native again", native()?),
        ("tsdev serve (hello)", tsdev),
    ];
    for (_, server) in &servers {
        bench::hello_rpc_load(&server.url, 1.0, connections).await?;
    }
    let loaded: Vec<&bench::Server> = servers.iter().map(|(_, server)| server).collect();
    let done = bench::alternating_rounds(&loaded, rounds, seconds, connections).await?;
    println!(
        "loopback POST /rpc/greeter.hello, {connections} connections, {rounds} rounds of {seconds} s each; ratios to native"
    );
    for ((label, _), rounds) in servers.iter().zip(&done) {
        println!("{}", bench::report_line(label, rounds, &done[0]));
    }
    println!("target: tsdev / native >= 0.5");
    Ok(())
}
