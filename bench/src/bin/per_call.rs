//! Per-call cost in one process, three ways, on the hello example:
//!
//! - tsdev: `Host::call` = lookup + JSON->WIT + instantiate + call + WIT->JSON + drop;
//! - floor: raw wasmtime through `bindgen!` on the same engine: new store + instantiate from
//!   `InstancePre` + typed call + drop;
//! - native: the same function in Rust, JSON in and out.
//!
//! `cargo run --release -p bench --bin per_call [-- ITERATIONS]`

use std::time::Instant;

use bench::{hello_native, micros, summarize};
use serde_json::json;
use tsdev::limits::CallLimits;
use tsdev::runtime::CallContext;
use tsdev::runtime::CallLabel;
use tsdev::runtime::StoreState;
use tsdev::store::DEFAULT_TENANT;
use tsdev::{Host, HostConfig};
use wasmtime::component::Component;

wasmtime::component::bindgen!({
    path: "../examples/hello/wit",
    world: "hello",
    exports: { default: async },
});

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let wasm = std::fs::read(runtime_tests::guests::HELLO)?;
    let data = tempfile::tempdir()?;
    let host = Host::open(
        &HostConfig {
            data_dir: data.path().to_path_buf(),
            database_url: None,
            secrets_key_file: None,
        },
        tsdev::workflow::IMPORTS,
    )
    .await?;
    host.deploy(
        DEFAULT_TENANT,
        "hello",
        wasm.clone(),
        CallLimits::default(),
        None,
    )
    .await?;
    let args = json!({ "name": "bench" });
    let args_bytes = serde_json::to_vec(&args)?;
    let context = CallContext::new("bench".into(), None);

    // tsdev, end to end in process.
    let tsdev_call = || async {
        let args: serde_json::Value = serde_json::from_slice(&args_bytes).expect("valid JSON");
        host.call(DEFAULT_TENANT, "greeter.hello", &args, &context)
            .await
            .expect("call succeeds")
    };
    // The floor: the same component, pre-linked on the same engine, called through bindgen.
    let runtime = host.runtime().clone();
    let component = Component::new(runtime.engine(), &wasm)?;
    let pre = HelloPre::new(runtime.link(&component)?)?;
    let limits = CallLimits::default();
    let floor_call = || async {
        let label = CallLabel {
            request_id: "bench".into(),
            procedure: "greeter.hello".into(),
            idempotency_key: None,
        };
        let mut store = wasmtime::Store::new(
            runtime.engine(),
            StoreState::new(label, limits.memory_bytes, None),
        );
        store.set_fuel(limits.fuel).expect("fuel is enabled");
        store.set_epoch_deadline(1_000_000);
        let hello = pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiate");
        hello
            .example_hello_greeter()
            .call_hello(&mut store, "bench")
            .await
            .expect("call")
    };

    for _ in 0..1_000 {
        tsdev_call().await;
        floor_call().await;
    }
    let mut tsdev_samples = Vec::with_capacity(iterations);
    let mut floor_samples = Vec::with_capacity(iterations);
    let mut native_samples = Vec::with_capacity(iterations);
    // Interleave the three so drift (thermal, other load) hits them alike.
    for _ in 0..iterations {
        let start = Instant::now();
        std::hint::black_box(tsdev_call().await);
        tsdev_samples.push(start.elapsed());
        let start = Instant::now();
        std::hint::black_box(floor_call().await);
        floor_samples.push(start.elapsed());
        let start = Instant::now();
        std::hint::black_box(hello_native(std::hint::black_box(&args_bytes)));
        native_samples.push(start.elapsed());
    }
    let tsdev = summarize(&mut tsdev_samples);
    let floor = summarize(&mut floor_samples);
    let native = summarize(&mut native_samples);
    println!("per-call cost, hello example, {iterations} calls each (µs)");
    println!("{:<28} {:>9} {:>9} {:>9}", "", "p50", "p99", "mean");
    for (name, s) in [
        ("tsdev Host::call", tsdev),
        ("raw wasmtime floor", floor),
        ("native Rust function", native),
    ] {
        println!(
            "{name:<28} {:>9.2} {:>9.2} {:>9.2}",
            micros(s.p50),
            micros(s.p99),
            micros(s.mean)
        );
    }
    println!(
        "ratio tsdev / floor: p50 {:.2}x, mean {:.2}x (target <= 2x)",
        micros(tsdev.p50) / micros(floor.p50),
        micros(tsdev.mean) / micros(floor.mean)
    );
    println!(
        "ratio tsdev / native: p50 {:.0}x",
        micros(tsdev.p50) / micros(native.p50).max(0.001)
    );
    Ok(())
}
