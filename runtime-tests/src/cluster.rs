//! A cluster for tests: real `tsdev serve` nodes on one PostgreSQL database made for the
//! test (`TSDEV_TEST_POSTGRES_URL`, default the local server), sharing one admin key, with
//! what a test needs to hurt them (kill -9, SIGSTOP, SIGTERM, a skewed clock through
//! Debian's libfaketime) and to look into the database.

use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::{Connection, Row};

use crate::{TestHost, tsdev_bin};

/// libfaketime from Debian's `faketime` package (`.ci/run` installs it).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Nodes on one PostgreSQL database.
pub struct Cluster {
    /// The nodes, in the order they were started.
    pub nodes: Vec<TestHost>,
    /// The database's URL.
    pub database_url: String,
    /// The admin key every node accepts.
    pub admin_key: String,
    /// A connection pool to the database, for looking into it.
    pub db: sqlx::AnyPool,
    base: String,
    name: String,
    data: tempfile::TempDir,
}

impl Cluster {
    /// A fresh database and `nodes` nodes on it.
    pub async fn start(nodes: usize) -> Cluster {
        sqlx::any::install_default_drivers();
        let base = std::env::var("TSDEV_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string());
        let name = format!("tsdev_cluster_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::AnyConnection::connect(&format!("{base}/postgres"))
            .await
            .expect("connecting to PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        let database_url = format!("{base}/{name}");
        let key = Command::new(tsdev_bin())
            .args(["key", "generate"])
            .output()
            .expect("tsdev key generate");
        let admin_key = String::from_utf8_lossy(&key.stdout).trim().to_string();
        assert!(admin_key.starts_with("tsdev_"), "{admin_key}");
        let db = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&database_url)
            .await
            .expect("connecting to the test database");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            database_url,
            admin_key,
            db,
            base,
            name,
            data: tempfile::tempdir().expect("a data directory"),
        };
        // One at a time: the first stores the admin key, the others find it.
        for _ in 0..nodes {
            cluster.add_node(&[]);
        }
        cluster
    }

    /// Start one more node with extra environment variables; its index.
    pub fn add_node(&mut self, env: &[(&str, &str)]) -> usize {
        let index = self.nodes.len();
        let data = self.data.path().join(format!("node-{index}"));
        std::fs::create_dir_all(&data).expect("the node's data directory");
        let mut all = vec![
            ("TSDEV_DATABASE_URL", self.database_url.as_str()),
            ("TSDEV_ADMIN_KEY", self.admin_key.as_str()),
        ];
        all.extend_from_slice(env);
        self.nodes.push(TestHost::start_with(&data, &[], &all));
        index
    }

    /// Start one more node whose clock is `skew` off (libfaketime's syntax: `+30s`,
    /// `-30s`); its index.
    pub fn add_skewed_node(&mut self, skew: &str) -> usize {
        assert!(
            Path::new(LIBFAKETIME).exists(),
            "{LIBFAKETIME} is missing: apt-get install faketime (.ci/run does)"
        );
        self.add_node(&[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME", skew),
            // Timers run on the monotonic clock, which a skew does not concern.
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ])
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> &TestHost {
        &self.nodes[index]
    }

    /// How many journal entries execution `id` has.
    pub async fn journal_len(&self, id: &str) -> i64 {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM journal WHERE execution_id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .expect("counting journal entries");
        row.try_get("n").expect("a count")
    }

    /// When journal entry `seq` of execution `id` was written (ms, database time).
    pub async fn journaled_at(&self, id: &str, seq: i64) -> Option<i64> {
        sqlx::query("SELECT finished_at FROM journal WHERE execution_id = $1 AND seq = $2")
            .bind(id)
            .bind(seq)
            .fetch_optional(&self.db)
            .await
            .expect("reading a journal entry")
            .map(|row| row.try_get("finished_at").expect("a time"))
    }

    /// The lease epoch of execution `id`: each claim of it takes the next.
    pub async fn lease_epoch(&self, id: &str) -> i64 {
        sqlx::query("SELECT lease_epoch FROM executions WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .expect("reading an execution")
            .try_get("lease_epoch")
            .expect("an epoch")
    }

    /// The database's clock, in ms since the Unix epoch.
    pub async fn database_now(&self) -> i64 {
        let row = sqlx::query(
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) AS now",
        )
        .fetch_one(&self.db)
        .await
        .expect("reading the database's clock");
        row.try_get("now").expect("a time")
    }

    /// Stop every node and drop the database.
    pub async fn finish(mut self) {
        self.nodes.clear();
        self.db.close().await;
        let mut admin = sqlx::AnyConnection::connect(&format!("{}/postgres", self.base))
            .await
            .expect("connecting to PostgreSQL");
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut admin)
            .await
            .expect("dropping the test database");
    }
}

/// Ask `probe` every 20 ms until it answers `Some`, for at most `within`; panics naming
/// `what` if it never does. A bounded wait, not a timing assertion.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
