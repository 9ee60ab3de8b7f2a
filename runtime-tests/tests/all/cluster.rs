//! Several real nodes on one PostgreSQL database: components follow deploys on any node,
//! executions survive kill -9, SIGSTOP and SIGTERM of the node running them, and a node
//! with a skewed clock neither fires sleeps early nor steals live runs.
//!
//! Waits are bounded (`eventually`); the few time bounds asserted are the documented
//! guarantees (hand-off after a kill within 2 s, after SIGTERM within a lease), with the
//! constants they follow from in host/src/workflow/engine.rs.

use std::time::{Duration, Instant};

use runtime_tests::cluster::{Cluster, eventually};
use runtime_tests::{TestHost, guests, with_custom_section};
use serde_json::{Value, json};

/// Start `workflow` on `node`; its execution id.
async fn start(node: &TestHost, workflow: &str, args: Value) -> String {
    let response = node
        .client
        .post(format!("{}/v1/workflows/{workflow}/executions", node.url))
        .body(args.to_string())
        .send()
        .await
        .expect("start");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("an id").to_string()
}

/// The execution as `node` answers it.
async fn execution(node: &TestHost, id: &str) -> Value {
    let (status, body) = node.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Wait until execution `id` has finished; as it ended.
async fn finished(node: &TestHost, id: &str) -> Value {
    eventually(
        &format!("execution {id} finishes"),
        Duration::from_secs(90),
        || async {
            let e = execution(node, id).await;
            matches!(
                e["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
            .then_some(e)
        },
    )
    .await
}

/// Deploy `hello` (the procedures) and `flows` (the workflows) on `node`.
async fn deploy_workflows(node: &TestHost) {
    assert_eq!(node.deploy("hello", guests::HELLO).await.0, 201);
    let (status, body) = node.deploy("flows", guests::FLOWS).await;
    assert_eq!(status, 201, "{body}");
}

/// Deploy the workflows on the first node and wait until every node serves them: what a
/// cluster looks like before it is hurt (a hand-off then measures the hand-off, not a
/// node compiling what was just deployed).
async fn deploy_everywhere(cluster: &Cluster) {
    deploy_workflows(cluster.node(0)).await;
    for node in &cluster.nodes {
        eventually(
            "every node serves flows",
            Duration::from_secs(30),
            || async {
                let (status, _) = node.get("/v1/components/flows").await;
                (status == 200).then_some(())
            },
        )
        .await;
    }
}

/// The `flows` component under a new version (`tag` makes its bytes, so its hash, differ).
fn flows_version(tag: &str) -> Vec<u8> {
    let wasm = std::fs::read(guests::FLOWS).expect("flows");
    with_custom_section(&wasm, "test-version", tag.as_bytes())
}

#[tokio::test]
async fn a_deploy_redeploy_or_delete_on_one_node_is_served_by_the_others() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let hello = || async {
        let (status, body) = b.rpc("greeter.hello", json!({ "name": "Ada" })).await;
        (status == 200).then_some(body)
    };

    let deployed = Instant::now();
    let (status, first) = a.deploy("hello", guests::HELLO).await;
    assert_eq!(status, 201, "{first}");
    let body = eventually("B serves what A deployed", Duration::from_secs(10), hello).await;
    assert_eq!(body["message"], "Hello, Ada!");
    eprintln!("deploy on A served by B after {:?}", deployed.elapsed());

    // A redeploy (new bytes) on A: B serves the new version.
    let wasm = std::fs::read(guests::HELLO).expect("hello");
    let (status, body) = a
        .upload("name=hello", with_custom_section(&wasm, "v", b"2"))
        .await;
    assert_eq!(status, 201, "{body}");
    let version = body["version"].as_str().expect("a version").to_string();
    eventually("B serves A's redeploy", Duration::from_secs(10), || async {
        let (_, shown) = b.get("/v1/components/hello").await;
        (shown["version"] == version.as_str()).then_some(())
    })
    .await;

    // A rollback on A: B serves the first version again.
    let (status, body) = a.post("/v1/components/hello/rollback", json!({})).await;
    assert_eq!(
        (status, &body["version"]),
        (200, &first["version"]),
        "{body}"
    );
    eventually("B serves A's rollback", Duration::from_secs(10), || async {
        let (_, shown) = b.get("/v1/components/hello").await;
        (shown["version"] == first["version"]).then_some(())
    })
    .await;
    let (_, history) = b.get("/v1/components/hello/versions").await;
    assert_eq!(history["versions"][0]["version"], first["version"]);
    assert_eq!(history["versions"][0]["current"], true);

    // A delete on A: gone from B too.
    let deleted = a
        .client
        .delete(format!("{}/v1/components/hello", a.url))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    eventually(
        "B forgets what A deleted",
        Duration::from_secs(10),
        || async {
            let (status, _) = b.rpc("greeter.hello", json!({ "name": "Ada" })).await;
            (status == 404).then_some(())
        },
    )
    .await;
    cluster.finish().await;
}

/// Nodes remember keys for a moment; a key revoked on one node is refused by the others
/// as soon as they hear of it (a notice), not after the moment has passed.
#[tokio::test]
async fn a_key_revoked_on_one_node_is_refused_by_the_others() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    assert_eq!(
        a.post("/v1/tenants", json!({ "name": "acme" })).await.0,
        201
    );
    let (status, created) = a
        .post(
            "/v1/tenants/acme/keys",
            json!({ "name": "k", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("a key");
    let acme = runtime_tests::client(Some(key));
    let status_on_b = || async {
        let response = acme
            .get(format!("{}/v1/components", b.url))
            .send()
            .await
            .expect("asking B");
        response.status().as_u16()
    };
    // B has read the key (and remembers it).
    assert_eq!(status_on_b().await, 200);
    assert_eq!(status_on_b().await, 200);
    let revoked = a
        .client
        .delete(format!(
            "{}/v1/tenants/acme/keys/{}",
            a.url,
            created["id"].as_str().expect("an id")
        ))
        .send()
        .await
        .expect("revoking");
    assert_eq!(revoked.status().as_u16(), 204);
    let at = Instant::now();
    eventually(
        "B refuses the revoked key",
        Duration::from_secs(5),
        || async { (status_on_b().await == 401).then_some(()) },
    )
    .await;
    eprintln!("revoked on A, refused by B after {:?}", at.elapsed());
    cluster.finish().await;
}

#[tokio::test]
async fn executions_complete_whichever_node_deployed_started_or_resumed_them() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    // Deployed on A, started at once on both: B finds the workflow and, after the sleep,
    // whichever node resumes a run finds the step's procedure.
    deploy_workflows(a).await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 1000 });
    let mut ids = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { a } else { b };
        ids.push(start(node, "flows.greet-twice", args.clone()).await);
    }
    // Redeployed on A while B may still hold the old version: started on B right after,
    // pinned to whichever version B found stored, and resumed by either node.
    let (status, body) = a.upload("name=flows", flows_version("2")).await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..20 {
        ids.push(start(b, "flows.greet-twice", args.clone()).await);
    }
    for id in &ids {
        let done = finished(a, id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"], "Hello, Ada! | Hello, Bob!");
        assert_eq!(cluster.journal_len(id).await, 3, "each step journaled once");
    }
    cluster.finish().await;
}

/// Long runs (many journaled steps, each a write): in progress, holding their lease, when
/// their node is hurt.
const LONG_RUN_STEPS: u32 = 1_500;

async fn start_long_runs(node: &TestHost, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let args = json!({ "count": LONG_RUN_STEPS, "size": 1 });
        ids.push(start(node, "flows.many", args).await);
    }
    ids
}

/// Wait until each of `ids` has journaled some steps: running, on the node that started it.
async fn until_running(cluster: &Cluster, ids: &[String]) {
    for id in ids {
        eventually("the run journals", Duration::from_secs(30), || async {
            (cluster.journal_len(id).await >= 20).then_some(())
        })
        .await;
    }
}

/// After `hurt_at` (database ms), how long until each of `ids` journaled its next entry.
async fn hand_off_times(cluster: &Cluster, ids: &[String], hurt_at: i64) -> Vec<i64> {
    let mut times = Vec::new();
    for id in ids {
        let last = cluster.journal_len(id).await;
        let next = eventually(
            "another node resumes the run",
            Duration::from_secs(30),
            || async { cluster.journaled_at(id, last + 1).await },
        )
        .await;
        times.push(next - hurt_at);
    }
    times
}

/// Each of `ids` completed once, with every step journaled once.
async fn all_completed_once(cluster: &Cluster, node: &TestHost, ids: &[String]) {
    for id in ids {
        let done = finished(node, id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"], LONG_RUN_STEPS);
        assert_eq!(cluster.journal_len(id).await, i64::from(LONG_RUN_STEPS));
    }
}

/// Short workflows in flight while two of three nodes are killed.
const SHORT_WORKFLOWS: usize = 500;

#[tokio::test]
async fn runs_of_a_killed_node_resume_elsewhere_within_two_seconds() {
    let mut cluster = Cluster::start(3).await;
    deploy_everywhere(&cluster).await;
    // Many short workflows started on every node, in flight through both kills.
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 500 });
    let mut short = Vec::new();
    for i in 0..SHORT_WORKFLOWS {
        short.push(start(cluster.node(i % 3), "flows.greet-twice", args.clone()).await);
    }
    // Long runs on the first two nodes; both are killed, one after the other.
    for victim in [0, 1] {
        let node = cluster.node(victim);
        // Started here, so run here: created under this node's lease.
        let ids = start_long_runs(node, 3).await;
        until_running(&cluster, &ids).await;
        node.signal("KILL");
        let killed_at = cluster.database_now().await;
        // A statement the node sent before it died may still commit; no other node can
        // claim its runs this soon, so what is journaled after this is theirs.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let times = hand_off_times(&cluster, &ids, killed_at).await;
        eprintln!("hand-off after kill -9 of node {victim}: {times:?} ms");
        for ms in &times {
            assert!(*ms < 2_000, "resumed {ms} ms after the kill: {times:?}");
        }
        all_completed_once(&cluster, cluster.node(2), &ids).await;
        let _ = cluster.nodes[victim].wait();
    }
    for id in &short {
        let done = finished(cluster.node(2), id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["result"], "Hello, Ada! | Hello, Bob!");
        assert_eq!(cluster.journal_len(id).await, 3, "each step journaled once");
    }
    cluster.finish().await;
}

#[tokio::test]
async fn a_frozen_node_writes_nothing_after_losing_its_leases() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    deploy_everywhere(&cluster).await;
    let ids = start_long_runs(a, 2).await;
    until_running(&cluster, &ids).await;
    a.signal("STOP");
    let epochs: Vec<i64> =
        futures::future::join_all(ids.iter().map(|id| cluster.lease_epoch(id))).await;
    // B takes the runs over once A's leases lapse (a claim takes the next epoch), and
    // journals on.
    for (id, epoch) in ids.iter().zip(epochs) {
        eventually(
            "B claims the frozen node's run",
            Duration::from_secs(30),
            || async { (cluster.lease_epoch(id).await > epoch).then_some(()) },
        )
        .await;
        let claimed_at = cluster.journal_len(id).await;
        eventually("B journals the run", Duration::from_secs(30), || async {
            (cluster.journal_len(id).await > claimed_at).then_some(())
        })
        .await;
    }
    a.signal("CONT");
    all_completed_once(&cluster, b, &ids).await;
    // A woke up still running them, and every write it tried was refused.
    let log = a.log();
    for id in &ids {
        assert!(
            log.lines()
                .any(|l| l.contains(id.as_str()) && l.contains("cannot journal")),
            "A's run of {id} was fenced off: {log}"
        );
    }
    cluster.finish().await;
}

#[tokio::test]
async fn nodes_with_skewed_clocks_fire_no_sleep_early_and_steal_no_run() {
    let mut cluster = Cluster::start(1).await;
    cluster.add_skewed_node("+30s");
    cluster.add_skewed_node("-30s");
    deploy_everywhere(&cluster).await;
    let sleep_ms = 2_000;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": sleep_ms });
    let mut started = Vec::new();
    for i in 0..12 {
        let node = cluster.node(i % 3);
        let at = Instant::now();
        started.push((start(node, "flows.greet-twice", args.clone()).await, at));
    }
    // Watch them all closely: one that completes before its sleep is over fired early.
    let tolerance = Duration::from_millis(150);
    let mut pending = started.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (id, at) in pending {
            let e = execution(cluster.node(0), &id).await;
            if e["status"] == "completed" {
                assert!(
                    at.elapsed() + tolerance >= Duration::from_millis(sleep_ms),
                    "{id} completed {:?} after its start, before its {sleep_ms} ms sleep",
                    at.elapsed()
                );
            } else {
                assert!(
                    !matches!(e["status"].as_str(), Some("failed" | "cancelled")),
                    "{e}"
                );
                still.push((id, at));
            }
        }
        pending = still;
        assert!(Instant::now() < deadline, "not all completed: {pending:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (id, _) in &started {
        assert_eq!(cluster.journal_len(id).await, 3, "each step journaled once");
    }
    // No node lost a live run to another (which would have had to fence it off).
    for node in &cluster.nodes {
        let log = node.log();
        assert!(
            !log.contains("cannot journal"),
            "a run was taken over: {log}"
        );
    }
    cluster.finish().await;
}

#[tokio::test]
async fn sigterm_hands_runs_over_at_once_and_nodes_are_listed_and_drained() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    deploy_everywhere(&cluster).await;

    let (status, listed) = b.get("/v1/nodes").await;
    assert_eq!(status, 200, "{listed}");
    let nodes = listed["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{listed}");
    let b_id = listed["this_node"].as_str().expect("this node").to_string();
    let a_id = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap_or_default().to_string())
        .find(|id| *id != b_id)
        .expect("A is listed");

    // SIGTERM: A hands its runs back; B resumes them well within a lease.
    let ids = start_long_runs(a, 2).await;
    until_running(&cluster, &ids).await;
    let epochs: Vec<i64> =
        futures::future::join_all(ids.iter().map(|id| cluster.lease_epoch(id))).await;
    let stopped_at = cluster.database_now().await;
    a.signal("TERM");
    // Handed over: claimed again (the next epoch) by B.
    let mut times = Vec::new();
    for (id, epoch) in ids.iter().zip(epochs) {
        let claimed_at = eventually("B claims the run", Duration::from_secs(30), || async {
            match cluster.lease_epoch(id).await > epoch {
                true => Some(cluster.database_now().await),
                false => None,
            }
        })
        .await;
        times.push(claimed_at - stopped_at);
    }
    eprintln!("hand-off after SIGTERM: {times:?} ms");
    for ms in &times {
        assert!(
            *ms < 1_000,
            "claimed {ms} ms after SIGTERM: {times:?}\n{}",
            a.log()
        );
    }
    eventually("A has exited", Duration::from_secs(15), || async {
        a.has_exited().then_some(())
    })
    .await;
    assert!(a.log().contains("leases handed back"), "{}", a.log());
    // Listed as stopped for a minute (`NODE_LISTED_FOR`): asked before the runs' ends,
    // which take long on a loaded machine.
    let (_, listed) = b.get("/v1/nodes").await;
    let a_entry = listed["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == a_id.as_str())
        .cloned()
        .expect("A is still listed");
    assert!(a_entry["stopped_at"].is_i64(), "{a_entry}");
    all_completed_once(&cluster, b, &ids).await;

    // Draining B: it starts nothing itself; a new execution waits, pending, for a node.
    let drained = b
        .client
        .post(format!("{}/v1/nodes/{b_id}/drain", b.url))
        .send()
        .await
        .expect("drain");
    assert_eq!(drained.status().as_u16(), 202);
    let unknown = b
        .client
        .post(format!("{}/v1/nodes/nobody/drain", b.url))
        .send()
        .await
        .expect("drain");
    assert_eq!(unknown.status().as_u16(), 404);
    eventually("B learns it drains", Duration::from_secs(10), || async {
        let (_, listed) = b.get("/v1/nodes").await;
        listed["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == b_id.as_str()))
            .filter(|n| n["draining"] == true)
            .map(|_| ())
    })
    .await;
    // Wait a beat, so that B has read its drain flag.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let args = json!({ "first": "Ada", "second": "Bob", "sleep-ms": 10 });
    let id = start(b, "flows.greet-twice", args).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let waiting = execution(b, &id).await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    cluster.finish().await;
}
