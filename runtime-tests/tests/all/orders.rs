//! The order workflow example (examples/order over examples/shop) against the real binary:
//! its happy path and error branch over REST, and many orders surviving several kill -9s.

use std::time::{Duration, Instant};

use runtime_tests::{TestHost, guests};
use serde_json::{Value, json};

/// A host with the shop's procedures and the order workflow (built with `tsdev build`, so
/// its REST route is there).
async fn order_host() -> TestHost {
    let host = TestHost::start();
    assert_eq!(host.deploy("shop", guests::SHOP).await.0, 201);
    host.deploy_built("examples/order").await;
    host
}

fn order(id: &str, card: &str, skus: &[&str], ship_after_ms: u64) -> Value {
    let lines: Vec<Value> = skus
        .iter()
        .map(|sku| json!({ "sku": sku, "quantity": 2 }))
        .collect();
    json!({ "id": id, "lines": lines, "card": card, "ship-after-ms": ship_after_ms })
}

/// What a completed order answers: 100 cents per sku character, two of each.
fn shipped(id: &str, skus: &[&str]) -> String {
    let total: usize = skus.iter().map(|s| 200 * s.len()).sum();
    format!("order {id} shipped as track-{id}, paid pay-{id} ({total} cents)")
}

async fn execution(host: &TestHost, id: &str) -> Value {
    let (status, body) = host.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn an_order_ships_or_gives_its_reservations_back() {
    let host = order_host().await;
    let response = host
        .client
        .post(format!("{}/orders", host.url))
        .body(json!({ "order": order("o-1", "4111-flaky", &["tea", "mug"], 100) }).to_string())
        .send()
        .await
        .expect("placing an order");
    assert_eq!(response.status().as_u16(), 200);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let result: Value = response.json().await.expect("JSON");
    assert_eq!(result, json!(shipped("o-1", &["tea", "mug"])));
    let done = execution(&host, location.trim_start_matches("/v1/executions/")).await;
    let names: Vec<&str> = done["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"shop.validate"));
    assert_eq!(
        &names[1..3],
        ["shop.reserve", "shop.reserve"],
        "reserved in parallel"
    );
    assert!(names.contains(&"charge") && names.ends_with(&["sleep", "shop.ship"]));

    // A declined card: the reservations are released and the order fails.
    let response = host
        .client
        .post(format!("{}/orders", host.url))
        .body(json!({ "order": order("o-2", "4000-0000", &["tea", "pot"], 0) }).to_string())
        .send()
        .await
        .expect("placing an order");
    assert_eq!(response.status().as_u16(), 422);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let problem: Value = response.json().await.expect("a problem");
    assert_eq!(problem["kind"], "workflow-failed");
    assert_eq!(problem["error"]["error"], "payment failed: \"declined\"");
    let failed = execution(&host, location.trim_start_matches("/v1/executions/")).await;
    let released: Vec<&Value> = failed["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["name"] == "shop.release")
        .map(|s| &s["request"]["reservation"])
        .collect();
    assert_eq!(released, [&json!("res-o-2-tea"), &json!("res-o-2-pot")]);
}

#[tokio::test]
async fn orders_in_flight_survive_repeated_kill_9() {
    let mut host = order_host().await;
    let skus: [&[&str]; 3] = [&["tea"], &["mug", "pot"], &["kettle", "tea", "cup"]];
    let mut started = Vec::new();
    for i in 0..24 {
        let id = format!("o-{i}");
        let lines = skus[i % skus.len()];
        // Some fail payment at first; all sleep a while before shipping.
        let card = if i % 2 == 0 {
            "4111-flaky"
        } else {
            "4111-1111"
        };
        let (status, body) = {
            let response = host
                .client
                .post(format!("{}/v1/workflows/orders.place/executions", host.url))
                .body(json!({ "order": order(&id, card, lines, 200 + 50 * i as u64) }).to_string())
                .send()
                .await
                .expect("starting an order");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("JSON"),
            )
        };
        assert_eq!(status, 201, "{body}");
        started.push((body["id"].as_str().expect("an id").to_string(), id, lines));
    }
    // Kill the host at random moments (printed, to replay a failure): during steps,
    // retries and sleeps.
    let pauses: Vec<u64> = (0..5u64)
        .map(|i| {
            use std::hash::{BuildHasher, Hasher};
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(i);
            20 + hasher.finish() % 400
        })
        .collect();
    println!("kill -9 after these pauses (ms): {pauses:?}");
    for pause_ms in pauses {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        host = host.restart();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for (execution_id, order_id, lines) in &started {
        let done = loop {
            let e = execution(&host, execution_id).await;
            if matches!(
                e["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ) {
                break e;
            }
            assert!(Instant::now() < deadline, "never finished: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"], json!(shipped(order_id, lines)));
        let steps = done["steps"].as_array().expect("steps");
        let seqs: Vec<i64> = steps.iter().filter_map(|s| s["seq"].as_i64()).collect();
        assert_eq!(seqs, (1..=steps.len() as i64).collect::<Vec<_>>(), "{done}");
        let once = |name: &str| steps.iter().filter(|s| s["name"] == name).count();
        assert_eq!(once("shop.validate"), 1, "{done}");
        assert_eq!(once("shop.reserve"), lines.len(), "{done}");
        assert_eq!(once("shop.ship"), 1, "{done}");
        assert_eq!(once("shop.release"), 0, "{done}");
        let charges: Vec<&Value> = steps.iter().filter(|s| s["name"] == "charge").collect();
        assert!(
            charges
                .last()
                .is_some_and(|c| c["outcome"]["ok"].is_string()),
            "the last charge attempt paid: {done}"
        );
    }
}
