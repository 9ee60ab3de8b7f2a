//! The reproducers of a probe from outside (a release build attacked with bad uploads and
//! bad input), each held to its fix.

use runtime_tests::{TestHost, guests};

/// A component whose one function takes a type that doubles 17 times: 377 bytes of WAT
/// describing 2^18 leaves.
fn type_bomb() -> Vec<u8> {
    let mut types = String::from("(type $t0 (tuple u8 u8))\n");
    for level in 1..=17 {
        types.push_str(&format!(
            "(type $t{level} (tuple $t{prev} $t{prev}))\n",
            prev = level - 1
        ));
    }
    let wat = format!(
        r#"(component
  (core module $m
    (memory (export "mem") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "f") (param i32)))
  (core instance $i (instantiate $m))
  {types}
  (func $f (param "x" $t17)
    (canon lift (core func $i "f") (memory (core memory $i "mem")) (realloc (core func $i "realloc"))))
  (export "bomb" (func $f)))"#
    );
    wat::parse_str(&wat).expect("valid WAT")
}

#[tokio::test]
async fn a_type_that_doubles_itself_is_refused_before_any_expensive_work() {
    let host = TestHost::start();
    let (status, problem) = host.upload("name=bomb", type_bomb()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["kind"], "type-too-complex", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("bomb"),
        "{problem}"
    );
    // Nothing of it stays: not in the catalogue, not compiled on disk.
    let (_, components) = host.get("/v1/components").await;
    assert_eq!(components["components"], serde_json::json!([]));
    let compiled = std::fs::read_dir(host.data.join("compiled"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(compiled, 0, "a refused upload left a compiled artifact");
}

#[tokio::test]
async fn an_import_the_host_lacks_is_refused_from_the_import_section() {
    let host = TestHost::start();
    let wasm =
        wat::parse_str(r#"(component (import "wasi:blobstore/container@0.2.0-draft" (instance)))"#)
            .expect("valid WAT");
    let (status, problem) = host.upload("name=needs-blobs", wasm).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["kind"], "unsupported-import");
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("wasi:blobstore/container@0.2.0-draft")
            && detail.contains("provides no wasi:blobstore"),
        "{detail}"
    );
}

#[tokio::test]
async fn compiled_artifacts_are_kept_only_for_stored_versions() {
    let host = TestHost::start();
    let compiled = |host: &TestHost| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(host.data.join("compiled"))
            .expect("the compiled directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    let first = compiled(&host);
    assert_eq!(first.len(), 1, "{first:?}");
    // Refused uploads leave nothing behind: a conflict, a bad manifest.
    assert_eq!(host.deploy("hello-again", guests::HELLO).await.0, 409);
    assert_eq!(compiled(&host), first);
    // A new version adds its artifact; the old one's stays while that version is kept for
    // rollback; a delete removes both.
    let wasm = std::fs::read(guests::HELLO).expect("hello");
    let v2 = runtime_tests::with_manifest(&wasm, "[component]\ndescription = \"v2\"\n");
    assert_eq!(host.upload("name=hello", v2).await.0, 201);
    let second = compiled(&host);
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(second.contains(&first[0]), "{second:?}");
    let response = host
        .client
        .delete(format!("{}/v1/components/hello", host.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 204);
    assert!(compiled(&host).is_empty());
}

#[tokio::test]
async fn guests_and_callers_cannot_forge_host_log_lines() {
    let host = TestHost::start();
    let hello = std::fs::read(guests::HELLO).expect("hello");
    let routed = runtime_tests::with_manifest(
        &hello,
        "[procedures.\"greeter.hello\"]\nroute = \"GET /hello/{name}\"\n",
    );
    assert_eq!(host.upload("name=hello", routed).await.0, 201);
    // The reproducer: a newline through tsdev:host/log, by way of the REST route.
    let forged = "2026-11-21T00:00:00.000000Z ERROR tsdev::store: forged";
    let response = host
        .client
        .get(format!(
            "{}/hello/ada%0A{}%0D%00",
            host.url,
            forged.replace(' ', "%20")
        ))
        .send()
        .await
        .expect("calling");
    assert_eq!(response.status().as_u16(), 200);
    // A request id with spaces would add fields of its own: it is replaced.
    let response = host
        .client
        .post(format!("{}/rpc/greeter.hello", host.url))
        .header("x-request-id", "x level=ERROR msg=forged")
        .body(r#"{"name":"eve"}"#)
        .send()
        .await
        .expect("calling");
    assert_eq!(response.status().as_u16(), 200);
    let returned = response.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_string();
    assert_ne!(returned, "x level=ERROR msg=forged");
    let log = host.log();
    assert!(
        log.lines()
            .all(|line| !line.starts_with("2026-11-21T00:00:00")),
        "a forged line reached the log:\n{log}"
    );
    assert!(log.contains("ada\\n2026-11-21T00:00:00"), "{log}");
    assert!(!log.contains("level=ERROR msg=forged"), "{log}");
}

#[tokio::test]
async fn ready_answers_503_while_writes_do_not_commit() {
    let host = TestHost::start();
    assert_eq!(host.get("/ready").await.0, 200);
    let files = ["tsdev.db", "tsdev.db-wal"].map(|f| host.data.join(f));
    let chattr = |flag: &str| {
        for file in &files {
            let status = std::process::Command::new("chattr")
                .arg(flag)
                .arg(file)
                .status()
                .expect("running chattr (e2fsprogs)");
            assert!(status.success(), "chattr {flag} {file:?} (needs root)");
        }
    };
    chattr("+i");
    // Past the cached answer of the last check.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let (status, problem) = host.get("/ready").await;
    chattr("-i");
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["kind"], "not-ready");
    assert_eq!(host.get("/health").await.0, 200, "the process itself is up");
    // Writable again: ready again, once the cached answer is old.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while host.get("/ready").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn event_streams_are_capped_per_host() {
    let host = TestHost::start();
    assert_eq!(host.deploy("hello", guests::HELLO).await.0, 201);
    assert_eq!(host.deploy("flows", guests::FLOWS).await.0, 201);
    // An execution that waits for a signal that never comes: its stream stays open.
    let response = host
        .client
        .post(format!(
            "{}/v1/workflows/flows.approval/executions",
            host.url
        ))
        .body("{}")
        .send()
        .await
        .expect("start");
    assert_eq!(response.status().as_u16(), 201);
    let started: serde_json::Value = response.json().await.expect("JSON");
    let url = format!(
        "{}/v1/executions/{}/events",
        host.url,
        started["id"].as_str().expect("an id")
    );
    // MAX_EVENT_STREAMS is 256: that many stay open, one more is refused.
    let mut open = Vec::new();
    for _ in 0..256 {
        let stream = host.client.get(&url).send().await.expect("a stream");
        assert_eq!(stream.status().as_u16(), 200);
        open.push(stream);
    }
    let refused = host.client.get(&url).send().await.expect("an answer");
    assert_eq!(refused.status().as_u16(), 503);
    let problem: serde_json::Value = refused.json().await.expect("a problem");
    assert_eq!(problem["kind"], "busy");
    // A stream that closes gives its place back (once the host notices the closed
    // connection: at the latest at the stream's next keep-alive, every 15 s).
    drop(open.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let again = host.client.get(&url).send().await.expect("an answer");
        if again.status().as_u16() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
