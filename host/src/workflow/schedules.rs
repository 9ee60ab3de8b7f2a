//! Firing cron schedules (`crate::schedule`). Every node looks for due schedules every
//! [`SCHEDULE_POLL`] and fires each due tick once across all of them:
//!
//! - a **workflow** tick starts an execution whose idempotency key is
//!   `schedule:{name}:{tick}`, then moves the schedule on. Two nodes firing the same tick,
//!   or a node that crashed between the two steps and the one firing after it, start the
//!   same execution: a second firing is a no-op. Exactly once.
//! - a **procedure** tick is claimed first (the schedule's next tick moved on with a
//!   compare-and-set: one node wins), then called. A node that dies during the call does
//!   not call it again: at most once, as a call (not durable) can be. The call's
//!   idempotency key (`tsdev:host/context`) is the same `schedule:{name}:{tick}`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::engine::{StartError, WorkflowEngine};
use crate::clock::now_ms;
use crate::runtime::CallContext;
use crate::schedule::{self, Missed, Ticks};
use crate::store::{StoreError, StoredSchedule};

/// How often each node looks for due schedules: the most a tick fires late on a healthy
/// node (plus the time to start what it starts).
pub(crate) const SCHEDULE_POLL: Duration = Duration::from_millis(250);

/// Due schedules one look takes at the most; the rest wait for the next look.
const DUE_BATCH: i64 = 100;

/// A next tick that never comes: for an expression that fires no more.
const NEVER: i64 = i64::MAX;

/// Fire due schedules for as long as `engine` lives and is not stopping.
pub fn spawn(engine: &Arc<WorkflowEngine>) {
    let engine = Arc::downgrade(engine);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SCHEDULE_POLL).await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            if engine.is_stopping() {
                continue;
            }
            if let Err(e) = fire_due(&engine).await {
                tracing::warn!("firing schedules: {e}");
            }
        }
    });
}

/// Fire every schedule due now (a batch of them).
async fn fire_due(engine: &Arc<WorkflowEngine>) -> Result<(), StoreError> {
    let now = now_ms();
    let due = engine.host().store().due_schedules(now, DUE_BATCH).await?;
    for schedule in due {
        if let Err(e) = fire(engine, &schedule, now).await {
            tracing::warn!(tenant = %schedule.tenant, schedule = %schedule.name, "firing: {e}");
        }
    }
    Ok(())
}

/// The key that makes a second firing of `tick` a no-op.
fn tick_key(name: &str, tick: i64) -> String {
    format!("schedule:{name}:{tick}")
}

async fn fire(
    engine: &Arc<WorkflowEngine>,
    s: &StoredSchedule,
    now: i64,
) -> Result<(), StoreError> {
    let store = engine.host().store();
    let advance = |next: i64, fired: Option<i64>, outcome: String| async move {
        store
            .advance_schedule(s, next, fired, Some(&outcome), now)
            .await
    };
    let ticks = match Ticks::parse(&s.cron, &s.timezone) {
        Ok(ticks) => ticks,
        Err(e) => {
            advance(NEVER, None, format!("stopped: {e}")).await?;
            return Ok(());
        }
    };
    let missed = Missed::from_name(&s.missed).unwrap_or_default();
    let firing = schedule::firing(&ticks, s.next_fire_at, now, missed);
    let next = firing.next.unwrap_or(NEVER);
    let Some(tick) = firing.tick else {
        advance(next, None, "missed ticks skipped".into()).await?;
        return Ok(());
    };
    let args: Value = serde_json::from_str(&s.args).unwrap_or_else(|_| serde_json::json!({}));
    let key = tick_key(&s.name, tick);
    let host = engine.host();
    if host.registry(&s.tenant).procedure(&s.procedure).is_none() {
        // Deployed by another node a moment ago, perhaps.
        host.sync_from_store(Some(&s.tenant)).await?;
    }
    let is_workflow = host
        .registry(&s.tenant)
        .procedure(&s.procedure)
        .is_some_and(|found| found.deployment.workflows);
    if is_workflow {
        let outcome = match engine
            .start_workflow(&s.tenant, &s.procedure, &args, Some(key))
            .await
        {
            Ok(started) if started.existing => format!("execution {} (started before)", started.id),
            Ok(started) => format!("started execution {}", started.id),
            // Not started and not refused: the next look tries again.
            Err(StartError::Store(e)) => return Err(e),
            Err(e) => format!("not started: {e}"),
        };
        advance(next, Some(tick), outcome).await?;
        return Ok(());
    }
    if !advance(next, Some(tick), "calling".into()).await? {
        return Ok(()); // another node took this tick
    }
    let (host, s) = (host.clone(), s.clone());
    tokio::spawn(async move {
        let context = CallContext::new(key.clone(), Some(key));
        let outcome = match host
            .call_current(&s.tenant, &s.procedure, &args, &context)
            .await
        {
            Ok(_) => "called: ok".to_string(),
            Err(e) => format!("call failed: {e}"),
        };
        if let Err(e) = host
            .store()
            .record_schedule_outcome(&s.tenant, &s.name, tick, &outcome)
            .await
        {
            tracing::warn!(tenant = %s.tenant, schedule = %s.name, "recording the outcome: {e}");
        }
    });
    Ok(())
}
