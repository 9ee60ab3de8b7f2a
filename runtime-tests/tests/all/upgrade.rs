//! A database written by the previous release opens with this host, and its unfinished
//! executions complete. The test writes that database itself, as the previous release did:
//! its schema (migrations up to 0003, no journal format column, versions without limits)
//! and rows in journal format 1, for a sleeping execution, one waiting for a signal and one
//! between two attempts of a retried step. Then the real binary opens it, on SQLite and on
//! PostgreSQL.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runtime_tests::{TestHost, guests};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection};

/// The last migration of the previous release.
const PREVIOUS_SCHEMA: i64 = 3;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Bring a new database to the previous release's schema with its own migration files.
async fn previous_schema(url: &str, backend: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await.expect("connecting");
    let dir = std::path::Path::new(guests::ROOT)
        .join("host/migrations")
        .join(backend);
    let mut migrator = sqlx::migrate::Migrator::new(dir)
        .await
        .expect("reading the migrations");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= PREVIOUS_SCHEMA)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator
        .run(&mut conn)
        .await
        .expect("migrating to the previous schema");
    conn
}

async fn exec(conn: &mut AnyConnection, sql: &str, binds: Vec<Value>) {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match bind {
            Value::String(s) => query.bind(s),
            Value::Number(n) => query.bind(n.as_i64().expect("an integer")),
            Value::Null => query.bind(Option::<String>::None),
            other => query.bind(other.to_string()),
        };
    }
    query.execute(conn).await.expect(sql);
}

/// The ids of the three executions written.
struct Written {
    sleeper: String,
    waiter: String,
    retrier: String,
}

/// Rows exactly as the previous release wrote them.
async fn write_previous_release_data(conn: &mut AnyConnection) -> Written {
    let now = now_ms();
    let mut versions = std::collections::HashMap::new();
    for (name, path) in [("hello", guests::HELLO), ("flows", guests::FLOWS)] {
        let wasm = std::fs::read(path).expect("a built guest");
        let version = hex::encode(Sha256::digest(&wasm));
        sqlx::query(
            "INSERT INTO component_versions (tenant, name, version, wasm, created_at) \
             VALUES ('default', $1, $2, $3, $4)",
        )
        .bind(name)
        .bind(&version)
        .bind(wasm)
        .bind(now)
        .execute(&mut *conn)
        .await
        .expect("a component version");
        exec(
            conn,
            "INSERT INTO components (tenant, name, version, fuel, memory_bytes, timeout_ms, deployed_at) \
             VALUES ('default', $1, $2, 7000000000, 67108864, 10000, $3)",
            vec![json!(name), json!(version), json!(now)],
        )
        .await;
        versions.insert(name, version);
    }
    let flows = versions["flows"].clone();
    let execution = |id: &str, workflow: &str, args: Value, status: &str, wake_at: Option<i64>| {
        (
            "INSERT INTO executions (id, tenant, workflow, component, component_version, args, \
             idempotency_key, status, result, error, wake_at, lease_owner, lease_expires_at, created_at, updated_at) \
             VALUES ($1, 'default', $2, 'flows', $3, $4, NULL, $5, NULL, NULL, $6, NULL, NULL, $7, $7)",
            vec![
                json!(id),
                json!(workflow),
                json!(flows),
                json!(args.to_string()),
                json!(status),
                json!(wake_at),
                json!(now - 5_000),
            ],
        )
    };
    let journal = |id: &str,
                   seq: i64,
                   kind: &str,
                   name: &str,
                   request: Value,
                   outcome: Value,
                   attempts: i64| {
        (
            "INSERT INTO journal (execution_id, seq, kind, name, request, outcome, attempts, started_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            vec![
                json!(id),
                json!(seq),
                json!(kind),
                json!(name),
                json!(request.to_string()),
                json!(outcome.to_string()),
                json!(attempts),
                json!(now - 4_000),
            ],
        )
    };
    let written = Written {
        sleeper: uuid(),
        waiter: uuid(),
        retrier: uuid(),
    };
    let rows = vec![
        // Slept after its first step; due since a second ago. The journaled greeting is
        // not what hello says: the result shows the replay answered from the journal.
        execution(
            &written.sleeper,
            "flows.greet-twice",
            json!({ "first": "ada", "second": "bob", "sleep-ms": 60_000 }),
            "sleeping",
            Some(now - 1_000),
        ),
        journal(
            &written.sleeper,
            1,
            "call",
            "greeter.hello",
            json!({ "name": "ada" }),
            json!({ "ok": { "message": "Hello from the journal, ada!", "name-length": 3 } }),
            1,
        ),
        journal(
            &written.sleeper,
            2,
            "sleep",
            "sleep",
            json!({ "ms": 60_000 }),
            json!({ "wake_at": now - 1_000 }),
            1,
        ),
        // Waits for signal `approve`, with ten minutes left.
        execution(
            &written.waiter,
            "flows.approval",
            json!({ "timeout-ms": 600_000 }),
            "waiting",
            Some(now + 595_000),
        ),
        journal(
            &written.waiter,
            1,
            "signal-wait",
            "approve",
            json!({ "timeout_ms": 600_000 }),
            json!({ "deadline": now + 595_000 }),
            1,
        ),
        // Its first attempt trapped; the second is due.
        execution(
            &written.retrier,
            "flows.retried",
            json!({ "procedure": "greeter.hello", "args-json": "{\"name\":\"cy\"}", "max-attempts": 3, "interval-ms": 10 }),
            "sleeping",
            Some(now - 1_000),
        ),
        journal(
            &written.retrier,
            1,
            "call",
            "retried",
            json!({ "procedure": "greeter.hello", "args": { "name": "cy" } }),
            json!({ "err": { "kind": "trap", "message": "the guest trapped: boom", "error": null }, "retry_at": now - 1_000 }),
            1,
        ),
    ];
    for (sql, binds) in rows {
        exec(conn, sql, binds).await;
    }
    written
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn wait_for_status(host: &TestHost, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, execution) = host.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(status, 200, "{execution}");
        if execution["status"] == want {
            return execution;
        }
        assert!(
            Instant::now() < deadline,
            "execution never became {want}: {execution}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Open the written database with this host and see every execution through.
async fn executions_complete(host: &TestHost, written: &Written) {
    let sleeper = wait_for_status(host, &written.sleeper, "completed").await;
    assert_eq!(
        sleeper["result"], "Hello from the journal, ada! | Hello, bob!",
        "{sleeper}"
    );
    let kinds: Vec<&str> = sleeper["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["call", "sleep", "call"]);

    let retrier = wait_for_status(host, &written.retrier, "completed").await;
    let greeting: Value =
        serde_json::from_str(retrier["result"].as_str().expect("a JSON string")).expect("JSON");
    assert_eq!(greeting["message"], "Hello, cy!");
    assert_eq!(retrier["steps"][1]["attempts"], 2, "{retrier}");

    let (status, _) = host
        .client
        .post(format!(
            "{}/v1/executions/{}/signals/approve",
            host.url, written.waiter
        ))
        .body(r#"{"ok":true}"#)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("signal");
    assert_eq!(status, 202);
    let waiter = wait_for_status(host, &written.waiter, "completed").await;
    assert_eq!(waiter["result"], r#"approved: {"ok":true}"#, "{waiter}");
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_release_opens_and_its_executions_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tsdev.db").display()
    );
    let mut conn = previous_schema(&url, "sqlite").await;
    let written = write_previous_release_data(&mut conn).await;
    conn.close().await.expect("closing");
    let host = TestHost::start_on(dir.path(), &[]);
    executions_complete(&host, &written).await;
}

#[tokio::test]
async fn a_postgres_database_of_the_previous_release_opens_and_its_executions_complete() {
    let base = std::env::var("TSDEV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string());
    sqlx::any::install_default_drivers();
    let name = format!("tsdev_upgrade_{}", uuid());
    let mut admin = AnyConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL must be reachable (set TSDEV_TEST_POSTGRES_URL); .ci/run starts it");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let url = format!("{base}/{name}");
    let mut conn = previous_schema(&url, "postgres").await;
    let written = write_previous_release_data(&mut conn).await;
    conn.close().await.expect("closing");
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let host = TestHost::start_on(dir.path(), &["--database-url", &url]);
        executions_complete(&host, &written).await;
    }
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop database");
}
