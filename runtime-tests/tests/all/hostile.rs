//! Misbehaving guests are contained, each with its own kind, while the host keeps serving.

use runtime_tests::{TestHost, guests};
use serde_json::json;

async fn hostile_host(query: &str) -> TestHost {
    let host = TestHost::start();
    let (status, body) = host.deploy_with("hostile", guests::HOSTILE, query).await;
    assert_eq!(status, 201, "{body}");
    host
}

/// The host still answers a well-behaved call.
async fn still_serving(host: &mut TestHost) {
    let (status, body) = host.rpc("hostile.add", json!({ "a": 2, "b": 3 })).await;
    assert_eq!((status, body), (200, json!(5)));
    assert!(host.is_running());
}

async fn expect_kind(
    host: &TestHost,
    procedure: &str,
    args: serde_json::Value,
    status: u16,
    kind: &str,
) -> serde_json::Value {
    let (got, body) = host.rpc(procedure, args).await;
    assert_eq!(
        (got, body["kind"].as_str()),
        (status, Some(kind)),
        "{procedure}: {body}"
    );
    body
}

#[tokio::test]
async fn an_endless_loop_runs_out_of_fuel() {
    let mut host = hostile_host("&fuel=100000000").await;
    let body = expect_kind(&host, "hostile.spin", json!({}), 500, "out-of-fuel").await;
    assert!(
        body["detail"].as_str().unwrap_or("").contains("100000000"),
        "{body}"
    );
    still_serving(&mut host).await;
}

#[tokio::test]
async fn an_endless_loop_with_fuel_to_spare_hits_the_deadline() {
    let mut host = hostile_host("&fuel=70000000000&timeout_ms=300").await;
    let body = expect_kind(&host, "hostile.spin", json!({}), 504, "timeout").await;
    assert!(
        body["detail"].as_str().unwrap_or("").contains("300 ms"),
        "{body}"
    );
    still_serving(&mut host).await;
}

#[tokio::test]
async fn long_calls_do_not_stall_other_calls() {
    let host = hostile_host("&fuel=70000000000&timeout_ms=4000").await;
    // More spinning guests than the host has runtime threads (one per core): without
    // yielding they would hold every thread until their deadline. The deadline is far
    // beyond what five quick calls need even on a loaded machine, so the order of the two
    // finishes, not their timing, is what is checked. (A spinner burns at most one core
    // for 4 s, under half of its fuel; with a 10 s deadline one that got a whole core ran
    // out of fuel first on a CI run.)
    let spinners = futures::future::join_all((0..4).map(|_| host.rpc("hostile.spin", json!({}))));
    let quick_calls = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        for i in 0..5u32 {
            let (status, body) = host.rpc("hostile.add", json!({ "a": i, "b": 1 })).await;
            assert_eq!((status, body), (200, json!(i + 1)));
        }
        std::time::Instant::now()
    };
    let spinners = async {
        let answers = spinners.await;
        (answers, std::time::Instant::now())
    };
    let ((answers, spinners_done), quick_done) = tokio::join!(spinners, quick_calls);
    for (status, body) in answers {
        assert_eq!(
            (status, body["kind"].as_str()),
            (504, Some("timeout")),
            "{body}"
        );
    }
    assert!(
        quick_done < spinners_done,
        "the quick calls were answered while the guests spun"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let mut host = hostile_host("&memory_mib=32").await;
    let (status, body) = host.rpc("hostile.allocate", json!({ "mib": 8 })).await;
    assert_eq!((status, body), (200, json!(8)), "a small allocation fits");
    let body = expect_kind(
        &host,
        "hostile.allocate",
        json!({ "mib": 1000 }),
        500,
        "memory-limit",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap_or("").contains("33554432"),
        "{body}"
    );
    still_serving(&mut host).await;
}

#[tokio::test]
async fn a_panic_is_a_trap_with_its_message() {
    let mut host = hostile_host("").await;
    let body = expect_kind(
        &host,
        "hostile.panic",
        json!({ "message": "the sky fell" }),
        500,
        "trap",
    )
    .await;
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(detail.contains("the sky fell"), "{detail}");
    assert!(
        detail.contains("src/lib.rs"),
        "the panic location is kept: {detail}"
    );
    still_serving(&mut host).await;
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    let mut host = hostile_host("").await;
    let (status, body) = host.rpc("hostile.recurse", json!({ "depth": 1000 })).await;
    assert_eq!(status, 200, "shallow recursion is fine: {body}");
    expect_kind(
        &host,
        "hostile.recurse",
        json!({ "depth": 100000000u64 }),
        500,
        "stack-overflow",
    )
    .await;
    still_serving(&mut host).await;
}

#[tokio::test]
async fn overflowing_the_guests_own_stack_is_a_trap_that_says_so() {
    let mut host = hostile_host("").await;
    let body = expect_kind(
        &host,
        "hostile.recurse-with-buffer",
        json!({ "depth": 100000000u64 }),
        500,
        "trap",
    )
    .await;
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("out of bounds") && detail.contains("stack"),
        "{detail}"
    );
    still_serving(&mut host).await;
}

#[tokio::test]
async fn a_huge_result_is_refused() {
    let mut host = hostile_host("&memory_mib=128").await;
    let (status, body) = host.rpc("hostile.huge-result", json!({ "mib": 1 })).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_str().map(str::len), Some(1 << 20));
    let body = expect_kind(
        &host,
        "hostile.huge-result",
        json!({ "mib": 20 }),
        500,
        "result-too-large",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap_or("").contains("16777216"),
        "{body}"
    );
    still_serving(&mut host).await;
}

#[tokio::test]
async fn guest_output_and_logs_reach_the_host_log_tagged_with_request_and_procedure() {
    let mut host = hostile_host("").await;
    let response = host
        .client
        .post(format!("{}/rpc/hostile.chatter", host.url))
        .header("x-request-id", "req-chatter-1")
        .body(json!({ "message": "hi there" }).to_string())
        .send()
        .await
        .expect("call");
    assert_eq!(response.headers()["x-request-id"], "req-chatter-1");
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("JSON"),
        json!(8)
    );
    still_serving(&mut host).await;

    let log = host.log();
    let expected = [
        ("log: hi there", None),
        ("stdout: hi there", Some("stdout")),
        ("stderr: hi there", Some("stderr")),
    ];
    for (needle, stream) in expected {
        let line = log
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} is not in the host log:\n{log}"));
        assert!(line.contains("request_id=req-chatter-1"), "{line}");
        assert!(line.contains("procedure=hostile.chatter"), "{line}");
        if let Some(stream) = stream {
            assert!(line.contains(&format!("stream=\"{stream}\"")), "{line}");
        }
    }
}

#[tokio::test]
async fn guests_find_no_ambient_authority() {
    let host = hostile_host("").await;
    // The host itself has an environment, files and a PostgreSQL server on 5432.
    let (status, body) = host.rpc("hostile.ambient", json!({})).await;
    assert_eq!(
        (status, body),
        (200, json!([])),
        "no environment, arguments, files or sockets"
    );
}
