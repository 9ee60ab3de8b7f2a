//! Loopback load: `tsdev serve` with the hello example against a minimal native axum handler
//! that returns the same JSON. Same load generator, same connection count, alternating
//! rounds, one run; reports requests/s of each and the ratio.
//!
//! `cargo build --release -p tsdev -p bench && target/release/rpc_load [SECONDS CONNECTIONS]`

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
    let seconds: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(32);

    let mut native = Command::new(std::env::current_exe()?);
    native.arg("--native-server");
    let native = bench::spawn(native)?;

    let data = tempfile::tempdir()?;
    let tsdev = bench::tsdev_serving(runtime_tests::guests::HELLO, data.path());
    let tsdev = bench::spawn(tsdev)?;

    // Warm both, then alternate rounds so drift hits both alike.
    bench::hello_rpc_load(&native.url, 1.0, connections).await?;
    bench::hello_rpc_load(&tsdev.url, 1.0, connections).await?;
    let (mut native_rps, mut tsdev_rps) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        native_rps.push(bench::hello_rpc_load(&native.url, seconds, connections).await?);
        tsdev_rps.push(bench::hello_rpc_load(&tsdev.url, seconds, connections).await?);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (native_mean, tsdev_mean) = (mean(&native_rps), mean(&tsdev_rps));
    println!(
        "loopback POST /rpc/greeter.hello, {connections} connections, 2 x {seconds} s rounds each"
    );
    println!("native axum handler: {native_mean:>10.0} requests/s  {native_rps:.0?}");
    println!("tsdev serve (hello): {tsdev_mean:>10.0} requests/s  {tsdev_rps:.0?}");
    println!(
        "ratio tsdev / native: {:.2} (target >= 0.5)",
        tsdev_mean / native_mean
    );
    Ok(())
}
