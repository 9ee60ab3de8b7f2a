//! What a key-value round trip adds to a call, in one process, interleaved call by call:
//!
//! - hello: `Host::call` of the hello example (`greeter.hello`), the plain call;
//! - kv: `Host::call` of a procedure doing one `wasi:keyvalue` get and one set of the same
//!   key (the keeper test component's `kv.touch`), on the embedded SQLite store;
//! - store: the same get and set straight on the store, no guest: the floor of the kv call's
//!   extra.
//!
//! `cargo run --release -p bench --bin kv_call [-- ITERATIONS]`

use std::time::Instant;

use bench::{micros, summarize};
use serde_json::json;
use tsdev::limits::CallLimits;
use tsdev::runtime::CallContext;
use tsdev::store::{DEFAULT_TENANT, KvExpect, KvSet};
use tsdev::{Host, HostConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000);
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
    let hello = std::fs::read(runtime_tests::guests::HELLO)?;
    host.deploy(DEFAULT_TENANT, "hello", hello, CallLimits::default(), None)
        .await?;
    let keeper = runtime_tests::with_manifest(
        &std::fs::read(runtime_tests::guests::KEEPER)?,
        "[grants]\nkey-value = [\"bench\"]\n",
    );
    host.deploy(
        DEFAULT_TENANT,
        "keeper",
        keeper,
        CallLimits::default(),
        None,
    )
    .await?;
    let context = CallContext::new("bench".into(), None);
    let hello_args = json!({ "name": "bench" });
    let kv_args = json!({ "bucket": "bench", "key": "k" });
    let store = host.store();

    let hello_call = || async {
        host.call(DEFAULT_TENANT, "greeter.hello", &hello_args, &context)
            .await
            .expect("hello answers")
    };
    let kv_call = || async {
        host.call(DEFAULT_TENANT, "kv.touch", &kv_args, &context)
            .await
            .expect("touch answers")
    };
    let store_round_trip = || async {
        let read = store
            .kv_get(DEFAULT_TENANT, "direct", "k")
            .await
            .expect("get");
        store
            .kv_set(KvSet {
                tenant: DEFAULT_TENANT.into(),
                bucket: "direct".into(),
                key: "k".into(),
                value: b"touched".to_vec(),
                expect: KvExpect::Anything,
                max_bytes: u64::MAX,
                now: 0,
            })
            .await
            .expect("set");
        read
    };

    for _ in 0..500 {
        hello_call().await;
        kv_call().await;
        store_round_trip().await;
    }
    let (mut hello_samples, mut kv_samples, mut store_samples) = (
        Vec::with_capacity(iterations),
        Vec::with_capacity(iterations),
        Vec::with_capacity(iterations),
    );
    for _ in 0..iterations {
        let start = Instant::now();
        std::hint::black_box(hello_call().await);
        hello_samples.push(start.elapsed());
        let start = Instant::now();
        std::hint::black_box(kv_call().await);
        kv_samples.push(start.elapsed());
        let start = Instant::now();
        std::hint::black_box(store_round_trip().await);
        store_samples.push(start.elapsed());
    }
    let hello = summarize(&mut hello_samples);
    let kv = summarize(&mut kv_samples);
    let direct = summarize(&mut store_samples);
    println!("key-value get + set in a call, {iterations} calls each (µs)");
    println!("{:<34} {:>9} {:>9} {:>9}", "", "p50", "p99", "mean");
    for (name, s) in [
        ("hello call (no key-value)", hello),
        ("kv.touch call (get + set)", kv),
        ("store get + set, no guest", direct),
    ] {
        println!(
            "{name:<34} {:>9.2} {:>9.2} {:>9.2}",
            micros(s.p50),
            micros(s.p99),
            micros(s.mean)
        );
    }
    println!(
        "ratio kv call / hello call: p50 {:.2}x, mean {:.2}x",
        micros(kv.p50) / micros(hello.p50),
        micros(kv.mean) / micros(hello.mean)
    );
    println!(
        "kv call - hello call vs store alone (p50): {:.2} µs vs {:.2} µs",
        micros(kv.p50) - micros(hello.p50),
        micros(direct.p50)
    );
    Ok(())
}
