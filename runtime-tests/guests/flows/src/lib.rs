//! Workflows for runtime-tests.

sdk_guest::wit_bindgen::generate!({
    path: "wit",
    world: "flows-world",
    runtime_path: "sdk_guest::wit_bindgen::rt",
});

use std::time::Duration;

use exports::test::flows::flows::Guest;
use sdk_guest::workflow;

struct Flows;

fn greet(name: &str) -> Result<String, String> {
    let args = serde_json::json!({ "name": name }).to_string();
    let result = workflow::call("greeter.hello", &args).map_err(|e| format!("{}: {}", e.kind, e.message))?;
    let greeting: serde_json::Value = serde_json::from_str(&result).map_err(|e| e.to_string())?;
    Ok(greeting["message"].as_str().unwrap_or_default().to_string())
}

impl Guest for Flows {
    fn spin() -> u64 {
        let _ = greet("spinner");
        let mut turns = 0u64;
        loop {
            turns = std::hint::black_box(turns.wrapping_add(1));
        }
    }

    fn greet_twice(first: String, second: String, sleep_ms: u64) -> Result<String, String> {
        let a = greet(&first)?;
        workflow::sleep(Duration::from_millis(sleep_ms));
        let b = greet(&second)?;
        Ok(format!("{a} | {b}"))
    }

    fn call_missing() -> Result<String, String> {
        match workflow::call("nowhere.nothing", "{}") {
            Ok(result) => Ok(result),
            Err(e) => Err(e.kind),
        }
    }

    fn wander() -> String {
        use std::hash::{BuildHasher, Hasher};
        // RandomState draws its keys from WASI randomness, deterministic in workflows.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        let name = format!("wanderer-{}", hasher.finish());
        let greeting = greet(&name).unwrap_or_default();
        workflow::sleep(Duration::from_millis(100));
        greeting
    }

    fn greet_all(names: Vec<String>) -> Vec<String> {
        names.iter().map(|n| greet(n).unwrap_or_else(|e| e)).collect()
    }

    fn retried(
        procedure: String,
        args_json: String,
        max_attempts: u32,
        interval_ms: u64,
    ) -> Result<String, String> {
        let options = workflow::StepOptions {
            name: Some("retried".to_string()),
            retry: Some(workflow::RetryPolicy {
                max_attempts,
                initial_interval_ms: interval_ms,
                multiplier: 1.0,
                max_interval_ms: interval_ms,
            }),
        };
        workflow::call_with(&procedure, &args_json, &options)
            .map_err(|e| format!("{}: {}", e.kind, e.message))
    }

    fn checkout(procedure: String, args_json: String, sleep_ms: u64) -> Result<String, String> {
        let options = workflow::StepOptions {
            name: Some("restock".to_string()),
            retry: Some(workflow::RetryPolicy {
                max_attempts: 20,
                initial_interval_ms: 300,
                multiplier: 1.0,
                max_interval_ms: 300,
            }),
        };
        let restocked = workflow::call_with(&procedure, &args_json, &options)
            .map_err(|e| format!("{}: {}", e.kind, e.message))?;
        workflow::sleep(Duration::from_millis(sleep_ms));
        let payload = workflow::wait_signal("ship", None).unwrap_or_default();
        Ok(format!("shipped {payload} after {restocked}"))
    }

    fn twice(procedure: String) -> Vec<String> {
        (0..2)
            .map(|_| workflow::call(&procedure, "{}").unwrap_or_else(|e| e.kind))
            .collect()
    }

    fn approval(timeout_ms: Option<u64>) -> String {
        match workflow::wait_signal("approve", timeout_ms.map(Duration::from_millis)) {
            Some(payload) => format!("approved: {payload}"),
            None => "timed out".to_string(),
        }
    }

    fn collect(count: u32) -> Vec<String> {
        (0..count)
            .map(|_| workflow::wait_signal("item", None).unwrap_or_default())
            .collect()
    }
    fn fan_out(names: Vec<String>) -> Vec<String> {
        let calls: Vec<(String, String)> = names
            .iter()
            .map(|n| ("greeter.hello".to_string(), serde_json::json!({ "name": n }).to_string()))
            .collect();
        let results = workflow::call_all(&calls);
        workflow::sleep(Duration::from_millis(50));
        results
            .into_iter()
            .map(|r| match r {
                Ok(json) => {
                    let greeting: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                    greeting["message"].as_str().unwrap_or_default().to_string()
                }
                Err(e) => e.kind,
            })
            .collect()
    }

    fn nap_then_spin(sleep_ms: u64) -> u64 {
        workflow::sleep(Duration::from_millis(sleep_ms));
        let mut turns = 0u64;
        loop {
            turns = std::hint::black_box(turns.wrapping_add(1));
        }
    }

    fn fill_then_fan_out(fill: u32, names: Vec<String>) -> Vec<String> {
        Flows::many(fill, 1);
        Flows::fan_out(names)
    }

    fn many(count: u32, size: u32) -> u32 {
        for i in 0..count {
            let _: String = workflow::run(&format!("step-{i}"), || "x".repeat(size as usize));
        }
        count
    }

    fn draw(marker: String) -> Vec<u64> {
        let random = |name: &str| {
            use std::hash::{BuildHasher, Hasher};
            sdk_guest::info!("{marker}: drawing {name}");
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write(name.as_bytes());
            hasher.finish()
        };
        let first: u64 = workflow::run("first", || random("first"));
        workflow::sleep(Duration::from_millis(50));
        let second: u64 = workflow::run("second", || random("second"));
        vec![first, second]
    }

}

export!(Flows);
