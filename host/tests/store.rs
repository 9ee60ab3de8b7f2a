//! The same storage tests on both backends: embedded SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `TSDEV_TEST_POSTGRES_URL` (default: the local server at
//! 127.0.0.1:5432, which `.ci/run` starts). Each run creates and drops its own database.

use sqlx::Connection;
use tsdev::access::Scope;
use tsdev::limits::{CallLimits, KEPT_VERSIONS};
use tsdev::store::journal::CallOutcome;
use tsdev::store::{
    self, AuditEntry, AuditFilter, ConfigEntry, Created, ExecutionFilter, ExecutionStatus,
    ExecutionUpdate, Holder, JournalEntry, KvExpect, KvSet, KvWrite, Lease, NewExecution, Notice,
    Outcome, ScheduleSaved, SignalSent, Step, StepKind, Store, StoreError, StoredComponent,
    StoredKey, StoredSchedule, UnfinishedQuota,
};

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
        deployed_by: Some("key-1".into()),
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

fn execution(id: &str, workflow: &str, key: Option<&str>, created_at: i64) -> NewExecution {
    NewExecution {
        id: id.into(),
        tenant: "default".into(),
        workflow: workflow.into(),
        component: "orders".into(),
        component_version: "v1".into(),
        args: r#"{"order":1}"#.into(),
        idempotency_key: key.map(str::to_string),
        created_at,
        lease: None,
        max_unfinished: u64::MAX,
        max_journal_bytes: u64::MAX,
        trace_parent: key.map(|_| TRACE_PARENT.to_string()),
    }
}

/// A W3C traceparent, as a start stores it for the runs to continue.
const TRACE_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Node `owner`'s claim at `epoch`.
fn held(owner: &str, epoch: i64) -> Holder {
    Holder {
        owner: owner.into(),
        epoch,
    }
}

/// The component version [`execution`]s are pinned to: executions are recorded only
/// while it is stored.
async fn save_pinned_component(store: &dyn Store) {
    store
        .save_component(&component("orders", "v1", b"v1", 1))
        .await
        .expect("save the component executions pin");
}

fn entry(execution_id: &str, seq: i64) -> JournalEntry {
    JournalEntry {
        execution_id: execution_id.into(),
        seq,
        step: Step {
            kind: StepKind::Call,
            name: "inventory.reserve".into(),
            request: serde_json::json!({ "step": seq }),
        },
        outcome: Outcome::Call(CallOutcome::Ok {
            ok: serde_json::json!(true),
        }),
        attempts: 1,
        started_at: 10,
        finished_at: 11,
    }
}

fn update(status: ExecutionStatus, wake_at: Option<i64>, now: i64) -> ExecutionUpdate {
    ExecutionUpdate {
        status,
        result: None,
        error: None,
        wake_at,
        now,
    }
}

/// The workflow part of the contract: idempotent starts, leases, journals, pinning.
async fn exercise_workflows(store: &dyn Store) {
    save_pinned_component(store).await;
    let t0 = 1_000_000;
    assert_eq!(
        store
            .create_execution(&execution("e1", "orders.run", None, t0))
            .await
            .expect("create"),
        Created::New
    );
    assert_eq!(
        store
            .create_execution(&execution("e2", "orders.run", Some("k"), t0 + 1))
            .await
            .expect("create"),
        Created::New
    );
    // The same idempotency key finds the first execution, whatever the new id.
    match store
        .create_execution(&execution("e3", "orders.run", Some("k"), t0 + 2))
        .await
        .expect("create")
    {
        Created::Existing(existing) => {
            assert_eq!(existing.id, "e2");
            // The trace context of the start is kept with the execution.
            assert_eq!(existing.trace_parent.as_deref(), Some(TRACE_PARENT));
        }
        other => panic!("expected the existing execution, got {other:?}"),
    }
    let untraced = store
        .get_execution("default", "e1")
        .await
        .expect("get")
        .expect("e1");
    assert_eq!(untraced.trace_parent, None);
    // Keys are per workflow.
    assert_eq!(
        store
            .create_execution(&execution("e4", "other.run", Some("k"), t0 + 3))
            .await
            .expect("create"),
        Created::New
    );
    // The tenant's quota of unfinished executions is counted by the insert: three are
    // unfinished now, so a fourth is refused at three, even with a known key.
    for key in [None, Some("k")] {
        let at_quota = NewExecution {
            max_unfinished: 3,
            ..execution("e5", "orders.run", key, t0 + 4)
        };
        assert_eq!(
            store.create_execution(&at_quota).await.expect("create"),
            Created::AtQuota(UnfinishedQuota::Executions)
        );
    }
    assert_eq!(store.count_unfinished("default").await.expect("count"), 3);
    assert_eq!(
        store.get_execution("default", "e5").await.expect("get"),
        None
    );

    let e1 = store
        .get_execution("default", "e1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (e1.status, e1.args.as_str(), e1.component_version.as_str()),
        (ExecutionStatus::Pending, r#"{"order":1}"#, "v1")
    );
    assert!(
        store
            .get_execution("other-tenant", "e1")
            .await
            .expect("get")
            .is_none()
    );

    let filter = |workflow: Option<&str>, status, before| ExecutionFilter {
        tenant: "default".into(),
        workflow: workflow.map(str::to_string),
        status,
        limit: 2,
        before,
    };
    let ids =
        |list: Vec<tsdev::store::Execution>| list.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .list_executions(&filter(None, None, None))
            .await
            .expect("list")),
        ["e4", "e2"]
    );
    assert_eq!(
        ids(store
            .list_executions(&filter(None, None, Some((t0 + 1, "e2".into()))))
            .await
            .expect("list")),
        ["e1"]
    );
    assert_eq!(
        ids(store
            .list_executions(&filter(Some("orders.run"), None, None))
            .await
            .expect("list")),
        ["e2", "e1"]
    );
    assert!(
        store
            .list_executions(&filter(None, Some(ExecutionStatus::Completed), None))
            .await
            .expect("list")
            .is_empty()
    );

    // Host A claims all three pending executions; B finds nothing while A's lease lives.
    let now = t0 + 100;
    assert_eq!(
        store
            .claim_due("A", now, now + 1_000, 10)
            .await
            .expect("claim")
            .len(),
        3
    );
    assert!(
        store
            .claim_due("B", now + 500, now + 1_500, 10)
            .await
            .expect("claim")
            .is_empty()
    );

    // Journals: only the lease holder appends, each sequence once.
    let lost = store
        .append_journal(&entry("e1", 1), &held("B", 1))
        .await
        .expect_err("B holds no lease");
    assert!(matches!(lost, StoreError::LeaseLost { .. }), "{lost}");
    store
        .append_journal(&entry("e1", 1), &held("A", 1))
        .await
        .expect("append 1");
    let conflict = store
        .append_journal(&entry("e1", 1), &held("A", 1))
        .await
        .expect_err("seq 1 is taken");
    assert!(
        matches!(conflict, StoreError::JournalConflict { seq: 1, .. }),
        "{conflict}"
    );
    store
        .append_journal(&entry("e1", 2), &held("A", 1))
        .await
        .expect("append 2");
    let journal = store.load_journal("e1", 0).await.expect("journal");
    assert_eq!(journal, vec![entry("e1", 1), entry("e1", 2)]);
    // The journal_bytes quota sums the bytes of the unfinished executions' journals (the
    // requests and outcomes as stored), in the statement that records an execution.
    let held_bytes: u64 = journal
        .iter()
        .map(|e| (e.step.request.to_string().len() + e.outcome.to_json().to_string().len()) as u64)
        .sum();
    let over = NewExecution {
        max_journal_bytes: held_bytes,
        trace_parent: None,
        ..execution("e6", "orders.run", None, t0 + 5)
    };
    assert_eq!(
        store.create_execution(&over).await.expect("create"),
        Created::AtQuota(UnfinishedQuota::JournalBytes)
    );
    // One byte more is room: the known key finds its execution (the quota comes first).
    let under = NewExecution {
        max_journal_bytes: held_bytes + 1,
        trace_parent: None,
        ..execution("e6", "orders.run", Some("k"), t0 + 5)
    };
    assert!(matches!(
        store.create_execution(&under).await.expect("create"),
        Created::Existing(_)
    ));
    // Read from a sequence on: what an event stream asks for.
    let after = store.load_journal("e1", 1).await.expect("journal");
    assert_eq!(after, vec![entry("e1", 2)]);

    // A sleeping execution gives its lease up and is due only at its wake time.
    store
        .update_execution(
            "e1",
            &held("A", 1),
            &update(ExecutionStatus::Sleeping, Some(now + 5_000), now),
        )
        .await
        .expect("sleep");
    let lost = store
        .update_execution(
            "e1",
            &held("A", 1),
            &update(ExecutionStatus::Running, None, now),
        )
        .await
        .expect_err("no lease");
    assert!(matches!(lost, StoreError::LeaseLost { .. }), "{lost}");
    // A's other leases expire; B takes those over but not the sleeper.
    let taken = store
        .claim_due("B", now + 2_000, now + 10_000, 10)
        .await
        .expect("claim");
    assert_eq!(ids(taken.clone()).len(), 2);
    // Each claim takes the next epoch; A's writes to what B took are refused.
    assert!(taken.iter().all(|e| e.lease_epoch == 2), "{taken:?}");
    let fenced = store
        .append_journal(&entry("e2", 1), &held("A", 1))
        .await
        .expect_err("A lost e2");
    assert!(matches!(fenced, StoreError::LeaseLost { .. }), "{fenced}");
    let woken = store
        .claim_due("B", now + 5_000, now + 6_000, 10)
        .await
        .expect("claim");
    assert_eq!(ids(woken), ["e1"]);
    let e1 = store
        .get_execution("default", "e1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (e1.status, e1.lease_owner.as_deref()),
        (ExecutionStatus::Sleeping, Some("B"))
    );

    // Cancelling takes an execution from whoever holds it, once.
    store
        .create_execution(&execution("e5", "orders.run", None, t0 + 4))
        .await
        .expect("create");
    assert!(
        store
            .cancel_execution("default", "e5", now)
            .await
            .expect("cancel")
    );
    assert!(
        !store
            .cancel_execution("default", "e5", now)
            .await
            .expect("cancel again")
    );
    assert!(
        !store
            .cancel_execution("default", "missing", now)
            .await
            .expect("cancel missing")
    );
    let e5 = store
        .get_execution("default", "e5")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (e5.status, e5.lease_owner),
        (ExecutionStatus::Cancelled, None)
    );

    // A waiting execution without a timeout is never due by time alone.
    store
        .update_execution(
            "e4",
            &held("B", 2),
            &update(ExecutionStatus::Waiting, None, now),
        )
        .await
        .expect("wait");
    // Finished executions never come back.
    let done = ExecutionUpdate {
        result: Some("42".into()),
        ..update(ExecutionStatus::Completed, None, now + 6_000)
    };
    store
        .update_execution("e1", &held("B", 2), &done)
        .await
        .expect("complete");
    store
        .update_execution(
            "e2",
            &held("B", 2),
            &update(ExecutionStatus::Failed, None, now + 6_000),
        )
        .await
        .expect("fail");
    assert!(
        store
            .claim_due("C", now + 1_000_000, now + 1_001_000, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let e1 = store
        .get_execution("default", "e1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (e1.status, e1.result.as_deref(), e1.lease_owner),
        (ExecutionStatus::Completed, Some("42"), None)
    );
}

/// Versions pinned by unfinished executions survive redeploys; the rest are dropped.
async fn exercise_version_pinning(store: &dyn Store) {
    let save = |version: &str| component("orders", version, version.as_bytes(), 1);
    store.save_component(&save("v1")).await.expect("save v1");
    let mut pinned = execution("p1", "orders.run", None, 1);
    pinned.component_version = "v1".into();
    store.create_execution(&pinned).await.expect("create");
    store.save_component(&save("v2")).await.expect("save v2");
    // The pinned version keeps its bytes and the limits it was deployed with.
    assert_eq!(
        store
            .load_component_version("default", "orders", "v1")
            .await
            .expect("load"),
        Some((b"v1".to_vec(), save("v1").limits))
    );
    assert_eq!(
        store.load_components("default").await.expect("load")[0].version,
        "v2"
    );
    // Deleting the component keeps the pinned version too, until its execution ends.
    assert!(
        store
            .delete_component("default", "orders")
            .await
            .expect("delete")
    );
    assert!(
        store
            .load_component_version("default", "orders", "v1")
            .await
            .expect("load")
            .is_some()
    );
    assert_eq!(
        store.stored_versions().await.expect("versions"),
        vec!["v1".to_string()]
    );
    store
        .save_component(&save("v2"))
        .await
        .expect("save v2 again");

    let claimed = store.claim_due("A", 10, 1_000, 10).await.expect("claim");
    assert!(claimed.iter().any(|e| e.id == "p1"));
    store
        .update_execution(
            "p1",
            &held("A", 1),
            &update(ExecutionStatus::Completed, None, 20),
        )
        .await
        .expect("complete");
    // Unpinned, v1 and v2 go once KEPT_VERSIONS newer ones are deployed.
    for n in 3..3 + KEPT_VERSIONS as i64 {
        store
            .save_component(&component("orders", &format!("v{n}"), b"later", n))
            .await
            .expect("save a later version");
    }
    for gone in ["v1", "v2"] {
        assert_eq!(
            store
                .load_component_version("default", "orders", gone)
                .await
                .expect("load"),
            None,
            "{gone}"
        );
    }
    assert!(
        store
            .load_component_version("default", "orders", "v3")
            .await
            .expect("load")
            .is_some()
    );
}

/// Version history: the newest `KEPT_VERSIONS` are kept for rollback (and any version an
/// unfinished execution is pinned to), listed newest first; deploying a kept version again
/// makes it the newest.
async fn exercise_version_history(store: &dyn Store) {
    assert_eq!(
        store.list_versions("default", "shop").await.expect("list"),
        None
    );
    let save = |n: i64| component("shop", &format!("s{n}"), &vec![1u8; n as usize], n);
    store.save_component(&save(1)).await.expect("save s1");
    let mut pinned = execution("shop-run", "shop.run", None, 1);
    pinned.component = "shop".into();
    pinned.component_version = "s1".into();
    store.create_execution(&pinned).await.expect("create");
    for n in 2..=(KEPT_VERSIONS as i64 + 3) {
        store.save_component(&save(n)).await.expect("save");
    }
    let listed = store
        .list_versions("default", "shop")
        .await
        .expect("list")
        .expect("the component exists");
    let names: Vec<&str> = listed.iter().map(|v| v.version.as_str()).collect();
    let newest = KEPT_VERSIONS as i64 + 3;
    let mut expected: Vec<String> = (newest - KEPT_VERSIONS as i64 + 1..=newest)
        .rev()
        .map(|n| format!("s{n}"))
        .collect();
    expected.push("s1".into()); // pinned, oldest
    assert_eq!(names, expected);
    assert!(listed[0].current);
    assert!(listed.iter().skip(1).all(|v| !v.current));
    assert_eq!(listed[0].size_bytes, newest as u64);
    assert_eq!(listed[0].deployed_at, newest);
    assert_eq!(listed[0].deployed_by.as_deref(), Some("key-1"));

    // A rollback is a deploy of kept bytes: that version becomes current and newest, with
    // the key that did it.
    let again = StoredComponent {
        deployed_at: newest + 1,
        deployed_by: None,
        ..save(newest - 1)
    };
    store.save_component(&again).await.expect("roll back");
    let listed = store
        .list_versions("default", "shop")
        .await
        .expect("list")
        .expect("the component exists");
    assert_eq!(listed[0].version, again.version);
    assert!(listed[0].current);
    assert_eq!(listed[0].deployed_by, None);
    assert_eq!(listed[1].version, format!("s{newest}"));
    assert!(!listed[1].current);
    assert_eq!(listed.len(), KEPT_VERSIONS + 1);
    assert!(
        store
            .delete_component("default", "shop")
            .await
            .expect("delete")
    );
    assert_eq!(
        store.list_versions("default", "shop").await.expect("list"),
        None
    );
}

/// Signals: kept until a wait takes them, oldest first, the same one again for the same
/// journal entry, and a waiting execution is woken by one.
async fn exercise_signals(store: &dyn Store) {
    save_pinned_component(store).await;
    let t0 = 5_000_000;
    store
        .create_execution(&execution("s1", "orders.run", None, t0))
        .await
        .expect("create");
    let sent = |name: &'static str, payload: &'static str| async move {
        store
            .send_signal("default", "s1", name, payload, t0 + 1)
            .await
            .expect("send")
    };
    assert_eq!(sent("approve", "1").await, SignalSent::Sent);
    assert_eq!(sent("approve", "2").await, SignalSent::Sent);
    assert_eq!(sent("other", "3").await, SignalSent::Sent);
    assert_eq!(
        store
            .send_signal("default", "nope", "approve", "1", t0)
            .await
            .expect("send"),
        SignalSent::NoSuchExecution
    );
    let claim = |seq: i64| async move {
        store
            .claim_signal("s1", "approve", seq)
            .await
            .expect("claim")
    };
    assert_eq!(claim(4).await.as_deref(), Some("1"), "oldest first");
    assert_eq!(
        claim(4).await.as_deref(),
        Some("1"),
        "the same for the same entry"
    );
    assert_eq!(claim(6).await.as_deref(), Some("2"));
    assert_eq!(claim(8).await, None, "both taken");

    // A waiting execution with a signal for it is woken (its wake time set to now).
    let claimed = store
        .claim_due("host-a", t0 + 10, t0 + 1000, 10)
        .await
        .expect("claim");
    assert!(claimed.iter().any(|e| e.id == "s1"));
    // Renewal keeps it host-a's past the first expiry; another owner renews nothing.
    assert_eq!(
        store
            .renew_leases("host-b", t0 + 5000)
            .await
            .expect("renew"),
        0
    );
    assert!(
        store
            .renew_leases("host-a", t0 + 5000)
            .await
            .expect("renew")
            >= 1
    );
    assert!(
        !store
            .claim_due("host-b", t0 + 2000, t0 + 9000, 10)
            .await
            .expect("claim")
            .iter()
            .any(|e| e.id == "s1"),
        "a renewed lease is not taken"
    );
    store
        .update_execution(
            "s1",
            &held("host-a", 1),
            &update(ExecutionStatus::Waiting, None, t0 + 11),
        )
        .await
        .expect("wait");
    assert!(
        !store
            .claim_due("host-b", t0 + 12, t0 + 1000, 10)
            .await
            .expect("claim")
            .iter()
            .any(|e| e.id == "s1"),
        "waiting without a timeout: not due"
    );
    store
        .wake_if_signalled("s1", "other", t0 + 13)
        .await
        .expect("wake");
    let due = store
        .claim_due("host-b", t0 + 14, t0 + 1000, 10)
        .await
        .expect("claim");
    assert!(due.iter().any(|e| e.id == "s1"), "woken by its signal");
    store
        .update_execution(
            "s1",
            &held("host-b", 2),
            &update(ExecutionStatus::Completed, None, t0 + 15),
        )
        .await
        .expect("complete");
    assert_eq!(sent("approve", "9").await, SignalSent::Finished);
}

/// Writes made at once: on SQLite they share commits (group commit). Each answer is its own,
/// one write failing (a taken sequence, a lease held by another) leaves the others alone,
/// and an execution created under a lease is running and not claimable until it expires.
async fn exercise_concurrent_writes(store: &dyn Store) {
    save_pinned_component(store).await;
    let t0 = 5_000_000;
    let lease = |owner: &str| {
        Some(Lease {
            owner: owner.into(),
            until: t0 + 15_000,
        })
    };
    let created = futures::future::join_all((0..20).map(|i| {
        let mut new = execution(&format!("c{i}"), "orders.run", None, t0);
        new.lease = lease("host-a");
        async move { store.create_execution(&new).await }
    }))
    .await;
    assert!(created.iter().all(|c| matches!(c, Ok(Created::New))));
    let c0 = store
        .get_execution("default", "c0")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c0.status, c0.lease_owner.as_deref(), c0.lease_expires_at),
        (ExecutionStatus::Running, Some("host-a"), Some(t0 + 15_000))
    );
    // Leased: nobody claims them until the lease runs out.
    assert!(
        store
            .claim_due("host-b", t0 + 1, t0 + 20_000, 100)
            .await
            .expect("claim")
            .is_empty()
    );

    // Three appends per execution at once: seq 1 twice (one must fail), and seq 2 by a
    // host that holds no lease.
    let appends = (0..20).flat_map(|i| {
        let id = format!("c{i}");
        [
            (entry(&id, 1), held("host-a", store::FIRST_EPOCH)),
            (entry(&id, 1), held("host-a", store::FIRST_EPOCH)),
            (entry(&id, 2), held("host-b", store::FIRST_EPOCH)),
        ]
    });
    let answers = futures::future::join_all(
        appends.map(|(e, holder)| async move { (e.seq, store.append_journal(&e, &holder).await) }),
    )
    .await;
    let (mut appended, mut conflicts, mut lost) = (0, 0, 0);
    for (seq, answer) in answers {
        match answer {
            Ok(()) => appended += 1,
            Err(StoreError::JournalConflict { seq: 1, .. }) if seq == 1 => conflicts += 1,
            Err(StoreError::LeaseLost { .. }) if seq == 2 => lost += 1,
            Err(other) => panic!("unexpected answer for seq {seq}: {other}"),
        }
    }
    assert_eq!((appended, conflicts, lost), (20, 20, 20));
    for i in 0..20 {
        let journal = store
            .load_journal(&format!("c{i}"), 0)
            .await
            .expect("journal");
        assert_eq!(journal, vec![entry(&format!("c{i}"), 1)]);
    }

    // Past the lease, another host takes them over.
    let claimed = store
        .claim_due("host-b", t0 + 16_000, t0 + 30_000, 100)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 20);
    assert!(
        claimed
            .iter()
            .all(|e| e.lease_owner.as_deref() == Some("host-b"))
    );
}

/// What nodes sharing a store rely on: executions only for stored versions, fenced
/// claims even for the same node, leases handed back, heartbeats and drains, the current
/// components without bytes, the database's clock and (PostgreSQL) notices.
async fn exercise_cluster(store: &dyn Store, shared: bool) {
    let mut notices = store.notices();
    assert_eq!(notices.is_some(), shared, "notices exist where nodes share");
    // Nothing is recorded for a version that is not stored.
    assert_eq!(
        store
            .create_execution(&execution("x0", "orders.run", None, 1))
            .await
            .expect("create"),
        Created::VersionGone
    );
    save_pinned_component(store).await;
    assert_eq!(
        store.component_heads().await.expect("heads"),
        vec![store::ComponentHead {
            tenant: "default".into(),
            name: "orders".into(),
            version: "v1".into(),
            deployed_at: 1,
        }]
    );
    if let Some(notices) = &mut notices {
        let notice = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match notices.recv().await.expect("a notice") {
                    Notice::Missed => continue,
                    notice => return notice,
                }
            }
        })
        .await
        .expect("a notice of the deploy within 10 s");
        assert_eq!(notice, Notice::ComponentsChanged("default".into()));
    }
    let mut new = execution("x1", "orders.run", None, 1);
    new.lease = Some(Lease {
        owner: "A".into(),
        until: 1_000,
    });
    assert_eq!(
        store.create_execution(&new).await.expect("create"),
        Created::New
    );

    // A's lease lapses while A is frozen; A's own scheduler claims it again. The frozen
    // run (epoch 1) can no longer write; the new one (epoch 2) can.
    let claimed = store.claim_due("A", 2_000, 3_000, 10).await.expect("claim");
    assert_eq!(
        claimed
            .iter()
            .map(|e| (e.id.as_str(), e.lease_epoch))
            .collect::<Vec<_>>(),
        [("x1", 2)]
    );
    let fenced = store
        .append_journal(&entry("x1", 1), &held("A", store::FIRST_EPOCH))
        .await
        .expect_err("the frozen run is fenced off");
    assert!(matches!(fenced, StoreError::LeaseLost { .. }), "{fenced}");
    let stale = store
        .update_execution(
            "x1",
            &held("A", 1),
            &update(ExecutionStatus::Failed, None, 2_001),
        )
        .await
        .expect_err("the frozen run cannot end it either");
    assert!(matches!(stale, StoreError::LeaseLost { .. }), "{stale}");
    store
        .append_journal(&entry("x1", 1), &held("A", 2))
        .await
        .expect("the current claim writes");

    // A stops gracefully: its lease is handed back, and B claims it at once, long before
    // the lease would have run out.
    assert_eq!(store.release_leases("A").await.expect("release"), 1);
    assert_eq!(store.release_leases("A").await.expect("release again"), 0);
    let taken = store.claim_due("B", 2_001, 3_000, 10).await.expect("claim");
    assert_eq!(
        taken
            .iter()
            .map(|e| (e.id.as_str(), e.lease_epoch))
            .collect::<Vec<_>>(),
        [("x1", 3)]
    );

    // The end of a run is told to every node (PostgreSQL), in the statement that ends it.
    let mut y1 = execution("y1", "orders.run", None, 1);
    y1.lease = Some(Lease {
        owner: "B".into(),
        until: 3_000,
    });
    assert_eq!(
        store.create_execution(&y1).await.expect("create"),
        Created::New
    );
    store
        .update_execution(
            "y1",
            &held("B", 1),
            &update(ExecutionStatus::Completed, None, 2_002),
        )
        .await
        .expect("complete");
    if let Some(notices) = &mut notices {
        let finished = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if let Notice::ExecutionFinished(id) = notices.recv().await.expect("a notice") {
                    return id;
                }
            }
        })
        .await
        .expect("a notice of the end within 10 s");
        assert_eq!(finished, "y1");
    }

    // Heartbeats, listing with the leases each node holds, draining.
    assert!(
        !store
            .beat("A", "127.0.0.1:1", 100, 2_000)
            .await
            .expect("beat")
    );
    assert!(
        !store
            .beat("B", "127.0.0.1:2", 200, 2_000)
            .await
            .expect("beat")
    );
    assert!(
        !store
            .beat("B", "127.0.0.1:2", 200, 2_500)
            .await
            .expect("beat")
    );
    store.stopped("A", 2_100).await.expect("stopped");
    let nodes = store.list_nodes(2_050).await.expect("nodes");
    let summary: Vec<_> = nodes
        .iter()
        .map(|n| (n.id.as_str(), n.beat_at, n.stopped_at, n.leases, n.draining))
        .collect();
    assert_eq!(
        summary,
        [
            ("A", 2_000, Some(2_100), 0, false),
            ("B", 2_500, None, 1, false)
        ]
    );
    assert_eq!(
        store.list_nodes(2_200).await.expect("nodes").len(),
        1,
        "A stopped before"
    );
    // A sole node starting hands back its dead predecessor's leases, not its own.
    assert_eq!(store.release_others_leases("B").await.expect("release"), 0);
    assert_eq!(store.release_others_leases("C").await.expect("release"), 1);
    assert!(store.drain_node("B").await.expect("drain"));
    assert!(!store.drain_node("nobody").await.expect("drain"));
    assert!(
        store
            .beat("B", "127.0.0.1:2", 200, 3_000)
            .await
            .expect("beat"),
        "told to drain"
    );
    // The ends of runs are notified only while another node is alive: B is alone now (A
    // stopped), then A beats again.
    for (id, other_beats) in [("z1", false), ("z2", true)] {
        if other_beats {
            store
                .beat("A", "127.0.0.1:1", 100, 3_100)
                .await
                .expect("beat");
        }
        let mut run = execution(id, "orders.run", None, 1);
        run.lease = Some(Lease {
            owner: "B".into(),
            until: 9_000,
        });
        assert_eq!(
            store.create_execution(&run).await.expect("create"),
            Created::New
        );
        store
            .update_execution(
                id,
                &held("B", 1),
                &update(ExecutionStatus::Completed, None, 3_200),
            )
            .await
            .expect("complete");
        if let Some(notices) = &mut notices {
            let heard = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                loop {
                    if let Ok(Notice::ExecutionFinished(ended)) = notices.recv().await
                        && ended == id
                    {
                        return;
                    }
                }
            })
            .await
            .is_ok();
            assert_eq!(
                heard, other_beats,
                "{id}: notified only with another node alive"
            );
        }
    }

    // The database's clock: PostgreSQL's own; on SQLite this process's.
    let database_now = store.database_now().await.expect("clock");
    assert_eq!(database_now.is_some(), shared);
    if let Some(now) = database_now {
        let local = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64;
        // The same machine: the same clock, within a generous bound.
        assert!(
            (now - local).abs() < 60_000,
            "database {now}, local {local}"
        );
    }
}

fn key(id: &str, tenant: Option<&str>, hash: &str, expires_at: Option<i64>) -> StoredKey {
    StoredKey {
        id: id.into(),
        tenant: tenant.map(str::to_string),
        name: format!("key {id}"),
        hash: hash.into(),
        scopes: vec![Scope::Deploy, Scope::Read],
        created_at: 10,
        expires_at,
        revoked_at: None,
    }
}

/// Tenants, keys and the audit log; deleting a tenant takes its objects and nobody else's.
async fn exercise_tenants(store: &dyn Store) {
    let names =
        |tenants: Vec<store::Tenant>| tenants.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_tenants().await.expect("list")),
        ["default"]
    );
    assert!(store.create_tenant("acme", 5).await.expect("create"));
    assert!(
        !store.create_tenant("acme", 6).await.expect("again"),
        "exists"
    );
    assert!(store.create_tenant("beta", 7).await.expect("create"));
    assert_eq!(
        names(store.list_tenants().await.expect("list")),
        ["acme", "beta", "default"]
    );
    assert_eq!(
        store
            .get_tenant("acme")
            .await
            .expect("get")
            .map(|t| t.created_at),
        Some(5)
    );
    let acme = store.get_tenant("acme").await.expect("get").expect("acme");
    assert_eq!(acme.quotas, tsdev::quota::Quotas::default());
    let change = |components: Option<u64>, kv_bytes: Option<u64>| tsdev::quota::QuotaChange {
        components,
        kv_bytes,
        ..tsdev::quota::QuotaChange::default()
    };
    let changed = store
        .change_quotas("acme", &change(Some(3), None))
        .await
        .expect("change")
        .expect("acme");
    assert_eq!(changed.quotas.components, 3);
    assert!(
        store
            .change_quotas("nope", &change(Some(3), None))
            .await
            .expect("change")
            .is_none()
    );
    // Changes of different quotas at once all count: each is one conditional write, no
    // read-modify-write from outside.
    let changes: Vec<_> = (1..=16u64)
        .map(|i| {
            if i % 2 == 0 {
                change(Some(100 + i), None)
            } else {
                change(None, Some(1000 + i))
            }
        })
        .collect();
    let all = futures::future::join_all(
        changes
            .iter()
            .map(|change| store.change_quotas("acme", change)),
    )
    .await;
    assert!(all.iter().all(|c| matches!(c, Ok(Some(_)))));
    let stored = store
        .get_tenant("acme")
        .await
        .expect("get")
        .expect("acme")
        .quotas;
    let last_components = all
        .iter()
        .filter_map(|c| c.as_ref().ok().and_then(Option::as_ref))
        .map(|t| t.quotas.components)
        .collect::<std::collections::HashSet<_>>();
    assert!(
        last_components.contains(&stored.components) && stored.components > 100,
        "a components change stands: {stored:?}"
    );
    assert!(
        stored.kv_bytes > 1000,
        "and a kv_bytes change made beside it is not lost: {stored:?}"
    );

    // Keys: found by hash, live until expired or revoked, listed per tenant.
    store
        .create_key(&key("k1", Some("acme"), "h1", None))
        .await
        .expect("key");
    store
        .create_key(&key("k2", Some("acme"), "h2", Some(100)))
        .await
        .expect("key");
    store
        .create_key(&key("k3", Some("beta"), "h3", None))
        .await
        .expect("key");
    store
        .create_key(&key("a1", None, "ha", None))
        .await
        .expect("admin key");
    assert!(
        store
            .create_key(&key("k4", Some("acme"), "h1", None))
            .await
            .is_err(),
        "a hash is unique"
    );
    let k1 = store
        .key_by_hash("h1")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(
        (k1.id.as_str(), k1.scopes.as_slice()),
        ("k1", &[Scope::Deploy, Scope::Read][..])
    );
    assert!(k1.is_live(50));
    let k2 = store
        .key_by_hash("h2")
        .await
        .expect("lookup")
        .expect("found");
    assert!(k2.is_live(99) && !k2.is_live(100), "expires at 100");
    assert_eq!(store.key_by_hash("nope").await.expect("lookup"), None);
    let ids = |keys: Vec<StoredKey>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_keys(Some("acme")).await.expect("list")),
        ["k1", "k2"]
    );
    assert_eq!(
        ids(store.list_keys(None).await.expect("admin keys")),
        ["a1"]
    );
    assert!(
        !store
            .revoke_key(Some("beta"), "k1", 60)
            .await
            .expect("revoke"),
        "another tenant's key is not revoked"
    );
    assert!(
        !store.revoke_key(None, "k1", 60).await.expect("revoke"),
        "nor as an admin key"
    );
    assert!(
        store
            .revoke_key(Some("acme"), "k1", 60)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_key(Some("acme"), "k1", 61)
            .await
            .expect("revoke"),
        "once"
    );
    let k1 = store
        .key_by_hash("h1")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(k1.revoked_at, Some(60));
    assert!(!k1.is_live(61));

    // The audit log: appended, newest first, filtered, paged.
    for (i, (tenant, action)) in [
        ("acme", "component.deploy"),
        ("acme", "key.create"),
        ("beta", "component.deploy"),
        ("acme", "component.deploy"),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .append_audit(&AuditEntry {
                seq: 0,
                at: 1_000 + i as i64,
                tenant: tenant.into(),
                key_id: Some("k1".into()),
                action: action.into(),
                target: format!("/v1/components/c{i}"),
                request_id: format!("r{i}"),
                status: 201,
                outcome: "ok".into(),
                repeats: 1 + i as u64,
            })
            .await
            .expect("append");
    }
    let all = |filter: AuditFilter| async move {
        store
            .list_audit(&AuditFilter {
                limit: 10,
                ..filter
            })
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.request_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(all(AuditFilter::default()).await, ["r3", "r2", "r1", "r0"]);
    let repeats: Vec<u64> = store
        .list_audit(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .expect("audit")
        .iter()
        .map(|e| e.repeats)
        .collect();
    assert_eq!(
        repeats,
        [4, 3, 2, 1],
        "each entry keeps how many it stands for"
    );
    let acme = || AuditFilter {
        tenant: Some("acme".into()),
        ..AuditFilter::default()
    };
    assert_eq!(all(acme()).await, ["r3", "r1", "r0"]);
    assert_eq!(
        all(AuditFilter {
            action: Some("component.deploy".into()),
            ..acme()
        })
        .await,
        ["r3", "r0"]
    );
    assert_eq!(
        all(AuditFilter {
            since: Some(1_001),
            until: Some(1_003),
            ..AuditFilter::default()
        })
        .await,
        ["r2", "r1"]
    );
    let first_page = store
        .list_audit(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .expect("page");
    let before = first_page.last().map(|e| e.seq);
    assert_eq!(
        all(AuditFilter {
            before_seq: before,
            ..AuditFilter::default()
        })
        .await,
        ["r1", "r0"]
    );

    // Deleting a tenant: its components, versions and keys go, its unfinished executions
    // are cancelled; another tenant's stay; the audit log stays whole.
    for tenant in ["acme", "beta"] {
        store
            .save_component(&StoredComponent {
                tenant: tenant.into(),
                ..component("shop", "v1", b"wasm", 1)
            })
            .await
            .expect("save");
        store
            .create_execution(&NewExecution {
                id: format!("{tenant}-run"),
                tenant: tenant.into(),
                workflow: "shop.flow".into(),
                component: "shop".into(),
                component_version: "v1".into(),
                args: "{}".into(),
                idempotency_key: None,
                created_at: 1,
                lease: None,
                max_unfinished: 10,
                max_journal_bytes: u64::MAX,
                trace_parent: None,
            })
            .await
            .expect("execution");
    }
    assert!(store.delete_tenant("acme", 70).await.expect("delete"));
    assert!(!store.delete_tenant("acme", 71).await.expect("again"));
    assert_eq!(store.get_tenant("acme").await.expect("get"), None);
    assert!(
        store
            .load_components("acme")
            .await
            .expect("load")
            .is_empty()
    );
    assert_eq!(
        store
            .load_component_version("acme", "shop", "v1")
            .await
            .expect("load"),
        None
    );
    assert_eq!(store.key_by_hash("h2").await.expect("lookup"), None);
    let run = store
        .get_execution("acme", "acme-run")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(run.status, ExecutionStatus::Cancelled);
    assert_eq!(store.load_components("beta").await.expect("load").len(), 1);
    assert!(store.key_by_hash("h3").await.expect("lookup").is_some());
    let beta_run = store
        .get_execution("beta", "beta-run")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(beta_run.status, ExecutionStatus::Pending);
    assert_eq!(store.count_unfinished("beta").await.expect("count"), 1);
    assert_eq!(store.count_unfinished("acme").await.expect("count"), 0);
    assert_eq!(all(AuditFilter::default()).await.len(), 4);
}

#[tokio::test]
async fn sqlite_store_keeps_its_tenant_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_tenants(store.as_ref()).await;
}

#[tokio::test]
async fn postgres_store_keeps_its_tenant_contract() {
    let database = PostgresDatabase::create().await;
    exercise_tenants(database.open().await.as_ref()).await;
    database.drop_it().await;
}

/// Retention deletes finished executions (journals and signals with them) that finished
/// before the cut, oldest first and a batch at a time, never an unfinished one however
/// old; and audit entries made before the cut.
async fn exercise_retention(store: &dyn Store) {
    save_pinned_component(store).await;
    // Five executions started long ago; four finish at 100..=103, one sleeps on.
    for i in 0..5 {
        store
            .create_execution(&execution(&format!("r{i}"), "orders.run", None, 10 + i))
            .await
            .expect("create");
    }
    let claimed = store.claim_due("A", 50, 10_000, 10).await.expect("claim");
    assert_eq!(claimed.len(), 5);
    for i in 0..5 {
        let id = format!("r{i}");
        store
            .append_journal(&entry(&id, 1), &held("A", store::FIRST_EPOCH))
            .await
            .expect("append");
        let status = if i == 4 {
            ExecutionStatus::Sleeping
        } else {
            ExecutionStatus::Completed
        };
        store
            .update_execution(
                &id,
                &held("A", store::FIRST_EPOCH),
                &update(status, (i == 4).then_some(1_000_000), 100 + i),
            )
            .await
            .expect("finish");
    }
    // Before 103: r0, r1, r2; two at a time.
    assert_eq!(
        store
            .delete_finished_executions(103, 2)
            .await
            .expect("delete"),
        2
    );
    let left = |id: &'static str| async move {
        store
            .get_execution("default", id)
            .await
            .expect("get")
            .is_some()
    };
    assert!(
        !left("r0").await && !left("r1").await,
        "the oldest go first"
    );
    assert!(left("r2").await);
    assert!(
        store
            .load_journal("r0", 0)
            .await
            .expect("journal")
            .is_empty()
    );
    assert_eq!(
        store
            .delete_finished_executions(103, 2)
            .await
            .expect("delete"),
        1
    );
    assert!(!left("r2").await && left("r3").await);
    // However old the cut, the sleeping one stays.
    assert_eq!(
        store
            .delete_finished_executions(i64::MAX, 100)
            .await
            .expect("delete"),
        1
    );
    assert!(left("r4").await, "an unfinished execution is never deleted");
    assert_eq!(store.load_journal("r4", 0).await.expect("journal").len(), 1);

    for at in [1_000, 2_000, 3_000] {
        store
            .append_audit(&AuditEntry {
                seq: 0,
                at,
                tenant: "default".into(),
                key_id: None,
                action: "component.deploy".into(),
                target: "/v1/components/c".into(),
                request_id: format!("r{at}"),
                status: 201,
                outcome: "ok".into(),
                repeats: 1,
            })
            .await
            .expect("append");
    }
    assert_eq!(
        store
            .delete_audit_entries(2_500, 100)
            .await
            .expect("delete"),
        2
    );
    let kept = store
        .list_audit(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(kept.iter().map(|e| e.at).collect::<Vec<_>>(), [3_000]);
}

#[tokio::test]
async fn sqlite_store_keeps_its_workflow_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_workflows(store.as_ref()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_version_pinning(store.as_ref()).await;
    exercise_version_history(store.as_ref()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_signals(store.as_ref()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_cluster(store.as_ref(), false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_retention(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_are_committed_when_answered_and_checkpointed_soon_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_concurrent_writes(store.as_ref()).await;
    // Another connection, as another process would, sees every write answered.
    let other = store::open(None, dir.path()).await.expect("open again");
    assert_eq!(other.load_journal("c7", 0).await.expect("journal").len(), 1);
    // Soon the database file holds them without its write-ahead log: the checkpoints
    // beside the writer have copied them back. (A bounded wait, not a timing assertion.)
    let deadline = std::time::Instant::now() + 40 * store::CHECKPOINT_INTERVAL;
    loop {
        tokio::time::sleep(store::CHECKPOINT_INTERVAL).await;
        let copy = tempfile::tempdir().expect("tempdir");
        std::fs::copy(dir.path().join("tsdev.db"), copy.path().join("tsdev.db")).expect("copy");
        // A copy taken in the middle of a checkpoint may not open; the next one will.
        if let Ok(copied) = store::open(None, copy.path()).await {
            let c7 = copied.get_execution("default", "c7").await.ok().flatten();
            if c7.and_then(|e| e.lease_owner).as_deref() == Some("host-b") {
                assert_eq!(
                    copied.load_journal("c7", 0).await.expect("journal").len(),
                    1
                );
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file never got the writes"
        );
    }
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

/// A fresh PostgreSQL database, dropped when the test is done with it.
struct PostgresDatabase {
    admin: sqlx::AnyConnection,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create() -> PostgresDatabase {
        let base = std::env::var("TSDEV_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string());
        sqlx::any::install_default_drivers();
        let name = format!("tsdev_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::AnyConnection::connect(&format!("{base}/postgres"))
            .await
            .expect(
                "PostgreSQL must be reachable (set TSDEV_TEST_POSTGRES_URL); .ci/run starts it",
            );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        PostgresDatabase {
            admin,
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn open(&self) -> std::sync::Arc<dyn Store> {
        store::open(Some(&self.url), std::path::Path::new("."))
            .await
            .expect("open postgres")
    }

    async fn drop_it(mut self) {
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut self.admin)
            .await
            .expect("drop database");
    }
}

#[tokio::test]
async fn postgres_store_keeps_its_contract() {
    let database = PostgresDatabase::create().await;
    let store = database.open().await;
    exercise(store.as_ref()).await;
    drop(store);
    // Reopening runs the migrations again (a no-op) and sees the same data.
    let store = database.open().await;
    assert_eq!(
        store.load_components("default").await.expect("load").len(),
        1
    );
    drop(store);
    database.drop_it().await;
}

#[tokio::test]
async fn postgres_store_keeps_its_workflow_contract() {
    let database = PostgresDatabase::create().await;
    exercise_workflows(database.open().await.as_ref()).await;
    database.drop_it().await;
    let database = PostgresDatabase::create().await;
    exercise_version_pinning(database.open().await.as_ref()).await;
    exercise_version_history(database.open().await.as_ref()).await;
    database.drop_it().await;
    let database = PostgresDatabase::create().await;
    exercise_signals(database.open().await.as_ref()).await;
    database.drop_it().await;
    let database = PostgresDatabase::create().await;
    exercise_concurrent_writes(database.open().await.as_ref()).await;
    database.drop_it().await;
    let database = PostgresDatabase::create().await;
    exercise_cluster(database.open().await.as_ref(), true).await;
    database.drop_it().await;
    let database = PostgresDatabase::create().await;
    exercise_retention(database.open().await.as_ref()).await;
    database.drop_it().await;
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = store::open(Some("mysql://admin:hunter2@localhost/x"), dir.path())
        .await
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(message.contains("unsupported database URL"), "{message}");
    assert!(message.contains("mysql"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password is not repeated: {message}"
    );
}

/// Key-value entries: conditional writes on versions, tenants and buckets apart, keys
/// listed in order by prefix and page, and the bytes each tenant holds kept exactly by the
/// triggers (the `kv_bytes` quota undoes a write past it, lets one that shrinks through).
async fn exercise_key_value(store: &dyn Store) {
    const NO_QUOTA: u64 = u64::MAX;
    let write = |tenant: &str, key: &str, value: &[u8], expect, max_bytes| KvSet {
        tenant: tenant.to_string(),
        bucket: "b".to_string(),
        key: key.to_string(),
        value: value.to_vec(),
        expect,
        max_bytes,
        now: 1,
    };
    let set = |tenant: &'static str, key: &'static str, value: &'static [u8], expect| async move {
        store
            .kv_set(write(tenant, key, value, expect, NO_QUOTA))
            .await
            .expect("set")
    };
    assert_eq!(store.kv_get("acme", "b", "k").await.expect("get"), None);
    let KvWrite::Written(v1) = set("acme", "k", b"one", KvExpect::Absent).await else {
        panic!("the first write of an absent key is written");
    };
    assert_eq!(
        set("acme", "k", b"again", KvExpect::Absent).await,
        KvWrite::Conflict
    );
    let entry = store
        .kv_get("acme", "b", "k")
        .await
        .expect("get")
        .expect("an entry");
    assert_eq!((entry.value.as_slice(), entry.version), (&b"one"[..], v1));
    let KvWrite::Written(v2) = set("acme", "k", b"two", KvExpect::Version(v1)).await else {
        panic!("a write at the version read is written");
    };
    assert_ne!(v1, v2, "every write changes the version");
    assert_eq!(
        set("acme", "k", b"stale", KvExpect::Version(v1)).await,
        KvWrite::Conflict
    );
    // Deleted and written again: a compare-and-swap of the old version still fails.
    assert!(store.kv_delete("acme", "b", "k").await.expect("delete"));
    assert!(!store.kv_delete("acme", "b", "k").await.expect("delete"));
    assert!(matches!(
        set("acme", "k", b"two", KvExpect::Anything).await,
        KvWrite::Written(_)
    ));
    assert_eq!(
        set("acme", "k", b"x", KvExpect::Version(v2)).await,
        KvWrite::Conflict
    );

    // Tenants and buckets are apart.
    assert_eq!(store.kv_get("beta", "b", "k").await.expect("get"), None);
    assert_eq!(store.kv_get("acme", "other", "k").await.expect("get"), None);

    // Listing: by prefix, in order, a page at a time.
    for key in ["user/3", "user/1", "user/2", "users", "zeta"] {
        set("acme", key, b"v", KvExpect::Anything).await;
    }
    let page = store
        .kv_list("acme", "b", "user/", None, 2)
        .await
        .expect("list");
    assert_eq!(
        (page.keys.clone(), page.more),
        (vec!["user/1".to_string(), "user/2".to_string()], true)
    );
    let page = store
        .kv_list("acme", "b", "user/", Some("user/2"), 2)
        .await
        .expect("list");
    assert_eq!((page.keys, page.more), (vec!["user/3".to_string()], false));
    let all = store
        .kv_list("acme", "b", "", None, 100)
        .await
        .expect("list");
    assert_eq!(all.keys.len(), 6, "{:?}", all.keys);
    assert!(
        store
            .kv_list("beta", "b", "", None, 100)
            .await
            .expect("list")
            .keys
            .is_empty()
    );

    // Bytes held: keys and values, kept by every insert, update and delete.
    let expected: u64 = [
        ("k", 3),
        ("user/3", 1),
        ("user/1", 1),
        ("user/2", 1),
        ("users", 1),
        ("zeta", 1),
    ]
    .iter()
    .map(|(k, v)| k.len() as u64 + v)
    .sum();
    assert_eq!(store.kv_bytes("acme").await.expect("bytes"), expected);
    assert_eq!(store.kv_bytes("beta").await.expect("bytes"), 0);

    // The quota: a write past it changes nothing; one that does not grow passes.
    let quota = expected + 10;
    let past = store
        .kv_set(write("acme", "big", &[1; 20], KvExpect::Anything, quota))
        .await
        .expect("set");
    assert_eq!(
        past,
        KvWrite::OverQuota {
            would_hold: expected + 23
        }
    );
    assert_eq!(store.kv_get("acme", "b", "big").await.expect("get"), None);
    assert_eq!(store.kv_bytes("acme").await.expect("bytes"), expected);
    let fits = store
        .kv_set(write("acme", "fit", &[1; 7], KvExpect::Anything, quota))
        .await
        .expect("set");
    assert!(matches!(fits, KvWrite::Written(_)), "{fits:?}");
    let shrink = store
        .kv_set(write("acme", "k", &[1], KvExpect::Anything, expected))
        .await
        .expect("set");
    assert!(
        matches!(shrink, KvWrite::Written(_)),
        "a shrinking write passes: {shrink:?}"
    );
    assert_eq!(
        store.kv_bytes("acme").await.expect("bytes"),
        expected + 10 - 2
    );

    // A value of every byte survives both backends as it was.
    let every_byte: Vec<u8> = (0..=255).collect();
    store
        .kv_set(write(
            "acme",
            "bytes",
            &every_byte,
            KvExpect::Anything,
            NO_QUOTA,
        ))
        .await
        .expect("set");
    assert_eq!(
        store
            .kv_get("acme", "b", "bytes")
            .await
            .expect("get")
            .map(|e| e.value),
        Some(every_byte)
    );

    // Deleting the tenant deletes its entries and their count.
    store.create_tenant("acme", 1).await.expect("create");
    assert!(store.delete_tenant("acme", 5).await.expect("delete"));
    assert_eq!(store.kv_get("acme", "b", "zeta").await.expect("get"), None);
    assert_eq!(store.kv_bytes("acme").await.expect("bytes"), 0);
}

#[tokio::test]
async fn sqlite_store_keeps_its_key_value_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_key_value(store.as_ref()).await;
}

#[tokio::test]
async fn postgres_store_keeps_its_key_value_contract() {
    let database = PostgresDatabase::create().await;
    exercise_key_value(database.open().await.as_ref()).await;
    database.drop_it().await;
}

/// Config values: set, replaced, deleted in one change; per tenant and component; gone
/// with the component and with the tenant.
async fn exercise_config(store: &dyn Store) {
    let entry = |key: &str, value: &str, secret| ConfigEntry {
        key: key.into(),
        value: value.into(),
        secret,
    };
    store
        .set_config(
            "acme",
            "app",
            vec![entry("b", "2", false), entry("a", "sealed", true)],
            vec![],
            1,
        )
        .await
        .expect("set");
    assert_eq!(
        store.load_config("acme", "app").await.expect("load"),
        vec![entry("a", "sealed", true), entry("b", "2", false)]
    );
    store
        .set_config(
            "acme",
            "app",
            vec![entry("b", "3", false)],
            vec!["a".into()],
            2,
        )
        .await
        .expect("change");
    assert_eq!(
        store.load_config("acme", "app").await.expect("load"),
        vec![entry("b", "3", false)]
    );
    assert!(
        store
            .load_config("beta", "app")
            .await
            .expect("load")
            .is_empty()
    );
    assert!(
        store
            .load_config("acme", "other")
            .await
            .expect("load")
            .is_empty()
    );

    store
        .save_component(&StoredComponent {
            tenant: "acme".into(),
            ..component("app", "v1", b"\0asm-app", 3)
        })
        .await
        .expect("save");
    assert!(store.delete_component("acme", "app").await.expect("delete"));
    assert!(
        store
            .load_config("acme", "app")
            .await
            .expect("load")
            .is_empty()
    );

    store
        .set_config("acme", "app", vec![entry("c", "1", false)], vec![], 4)
        .await
        .expect("set");
    store.create_tenant("acme", 1).await.expect("create");
    assert!(store.delete_tenant("acme", 5).await.expect("delete"));
    assert!(
        store
            .load_config("acme", "app")
            .await
            .expect("load")
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_store_keeps_its_config_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_config(store.as_ref()).await;
}

#[tokio::test]
async fn postgres_store_keeps_its_config_contract() {
    let database = PostgresDatabase::create().await;
    exercise_config(database.open().await.as_ref()).await;
    database.drop_it().await;
}

fn schedule(name: &str, component: Option<&str>, cron: &str, next: i64) -> StoredSchedule {
    StoredSchedule {
        tenant: "default".into(),
        name: name.into(),
        component: component.map(str::to_string),
        cron: cron.into(),
        timezone: "UTC".into(),
        procedure: "greeter.hello".into(),
        args: "{}".into(),
        missed: "latest".into(),
        next_fire_at: next,
        last_fired_at: None,
        last_outcome: None,
        fired: 0,
        created_at: 1,
        updated_at: 1,
    }
}

/// Schedules: saved within the tenant's limit, a tick taken by one of two racing
/// advances, a manifest's set replaced whole (unchanged expressions keep their next tick).
async fn exercise_schedules(store: &dyn Store) {
    let a = schedule("a", None, "* * * * *", 60_000);
    assert_eq!(
        store.put_schedule(&a, 2).await.expect("put"),
        ScheduleSaved::Created
    );
    assert_eq!(
        store.put_schedule(&a, 2).await.expect("put"),
        ScheduleSaved::Replaced
    );
    let b = schedule("b", None, "* * * * *", 60_000);
    assert_eq!(
        store.put_schedule(&b, 2).await.expect("put"),
        ScheduleSaved::Created
    );
    let c = schedule("c", None, "* * * * *", 60_000);
    assert_eq!(
        store.put_schedule(&c, 2).await.expect("put"),
        ScheduleSaved::AtLimit
    );
    // At the limit, replacing one still works.
    assert_eq!(
        store.put_schedule(&b, 2).await.expect("put"),
        ScheduleSaved::Replaced
    );

    // Due at 60 s: two nodes race for the tick; one wins.
    let due = store.due_schedules(60_000, 10).await.expect("due");
    assert_eq!(due.len(), 2);
    assert!(
        store
            .due_schedules(59_999, 10)
            .await
            .expect("due")
            .is_empty()
    );
    let first = &due[0];
    let (one, two) = tokio::join!(
        store.advance_schedule(first, 120_000, Some(60_000), Some("one"), 60_001),
        store.advance_schedule(first, 120_000, Some(60_000), Some("two"), 60_002),
    );
    assert!(
        one.expect("advance") ^ two.expect("advance"),
        "exactly one takes the tick"
    );
    let after = store
        .get_schedule("default", &first.name)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        (after.next_fire_at, after.fired, after.last_fired_at),
        (120_000, 1, Some(60_000))
    );
    store
        .record_schedule_outcome("default", &first.name, 60_000, "called: ok")
        .await
        .expect("outcome");
    // An outcome for another tick does not overwrite the last one's.
    store
        .record_schedule_outcome("default", &first.name, 1, "stale")
        .await
        .expect("outcome");
    let after = store
        .get_schedule("default", &first.name)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(after.last_outcome.as_deref(), Some("called: ok"));
    // Replacing it with the same expression keeps its next tick and history; another
    // expression starts from the new one.
    let mut same = schedule(&first.name, None, "* * * * *", 999_000);
    store.put_schedule(&same, 2).await.expect("put");
    let kept = store
        .get_schedule("default", &first.name)
        .await
        .expect("get")
        .expect("there");
    assert_eq!((kept.next_fire_at, kept.fired), (120_000, 1));
    same.cron = "*/5 * * * *".into();
    store.put_schedule(&same, 2).await.expect("put");
    let moved = store
        .get_schedule("default", &first.name)
        .await
        .expect("get")
        .expect("there");
    assert_eq!((moved.next_fire_at, moved.fired), (999_000, 1));

    // A manifest's schedules are replaced as a set; the API's stay.
    store
        .replace_component_schedules(
            "default",
            "shop",
            vec![
                schedule("shop.x", Some("shop"), "* * * * *", 60_000),
                schedule("shop.y", Some("shop"), "* * * * *", 60_000),
            ],
        )
        .await
        .expect("replace");
    store
        .replace_component_schedules(
            "default",
            "shop",
            vec![schedule("shop.y", Some("shop"), "* * * * *", 90_000)],
        )
        .await
        .expect("replace");
    let names: Vec<String> = store
        .list_schedules("default")
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["a", "b", "shop.y"]);
    let y = store
        .get_schedule("default", "shop.y")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        y.next_fire_at, 60_000,
        "an unchanged expression keeps its next tick"
    );
    assert!(
        store
            .list_schedules("other")
            .await
            .expect("list")
            .is_empty()
    );
    assert!(store.delete_schedule("default", "a").await.expect("delete"));
    assert!(!store.delete_schedule("default", "a").await.expect("delete"));
}

#[tokio::test]
async fn sqlite_store_keeps_its_schedule_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(None, dir.path()).await.expect("open sqlite");
    exercise_schedules(store.as_ref()).await;
}

#[tokio::test]
async fn postgres_store_keeps_its_schedule_contract() {
    let database = PostgresDatabase::create().await;
    exercise_schedules(database.open().await.as_ref()).await;
    database.drop_it().await;
}
