//! The same storage tests on both backends: embedded SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `TSDEV_TEST_POSTGRES_URL` (default: the local server at
//! 127.0.0.1:5432, which `.ci/run` starts). Each run creates and drops its own database.

use sqlx::Connection;
use tsdev::limits::CallLimits;
use tsdev::store::{self, Store, StoredComponent};

fn component(name: &str, version: &str, wasm: &[u8], deployed_at: i64) -> StoredComponent {
    StoredComponent {
        tenant: "default".into(),
        name: name.into(),
        version: version.into(),
        wasm: wasm.to_vec(),
        limits: CallLimits {
            fuel: 123,
            memory_bytes: 456 << 20,
            timeout_ms: 789,
        },
        deployed_at,
    }
}

/// The contract every backend must keep.
async fn exercise(store: &dyn Store) {
    store.ping().await.expect("ping");
    assert!(
        store
            .load_components("default")
            .await
            .expect("load")
            .is_empty()
    );

    let big = vec![7u8; 3 << 20];
    let a1 = component("alpha", "v1", &big, 1);
    let b1 = component("beta", "v1", b"\0asm-beta", 2);
    store.save_component(&a1).await.expect("save a1");
    store.save_component(&b1).await.expect("save b1");
    assert_eq!(
        store.load_components("default").await.expect("load"),
        vec![a1.clone(), b1.clone()]
    );
    assert!(
        store
            .load_components("other-tenant")
            .await
            .expect("load")
            .is_empty()
    );

    // A new version replaces the old one whole; saving the same version again is harmless.
    let a2 = component("alpha", "v2", b"\0asm-alpha-2", 3);
    store.save_component(&a2).await.expect("save a2");
    store.save_component(&a2).await.expect("save a2 again");
    assert_eq!(
        store.load_components("default").await.expect("load"),
        vec![a2.clone(), b1.clone()]
    );

    assert!(
        store
            .delete_component("default", "alpha")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_component("default", "alpha")
            .await
            .expect("delete again")
    );
    assert_eq!(
        store.load_components("default").await.expect("load"),
        vec![b1]
    );
}

#[tokio::test]
async fn sqlite_store_keeps_its_contract_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise(store.as_ref()).await;
    drop(store);
    // Reopening runs the migrations again (a no-op) and sees the same data.
    let store = store::open(None, dir.path()).await.expect("reopen sqlite");
    assert_eq!(
        store.load_components("default").await.expect("load").len(),
        1
    );
}

#[tokio::test]
async fn postgres_store_keeps_its_contract() {
    let base = std::env::var("TSDEV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string());
    sqlx::any::install_default_drivers();
    let database = format!("tsdev_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::AnyConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL must be reachable (set TSDEV_TEST_POSTGRES_URL); .ci/run starts it");
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .expect("create database");

    let url = format!("{base}/{database}");
    let store = store::open(Some(&url), std::path::Path::new("."))
        .await
        .expect("open postgres");
    exercise(store.as_ref()).await;
    drop(store);
    let store = store::open(Some(&url), std::path::Path::new("."))
        .await
        .expect("reopen postgres");
    assert_eq!(
        store.load_components("default").await.expect("load").len(),
        1
    );
    drop(store);

    sqlx::query(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop database");
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = store::open(Some("mysql://localhost/x"), dir.path())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
}
