//! Retention: finished workflow executions (with their journals and signals) and audit
//! entries are deleted once they are older than their retention period, by a background
//! task that deletes a bounded batch at a time so that it never holds the store's writer
//! for long. Components keep their newest versions by count instead
//! ([`crate::limits::KEPT_VERSIONS`]), and compiled artifacts go with the last version that
//! uses them.
//!
//! Every node of a cluster sweeps; deleting what another node has just deleted deletes
//! nothing, so no coordination is needed.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::store::Store;

/// How long a finished execution is kept by default: 30 days after it finished.
pub const DEFAULT_EXECUTION_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How long an audit entry is kept by default: 365 days.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// The longest time between two sweeps (a short retention period sweeps more often: four
/// times per period, but not more than every [`MIN_SWEEP_INTERVAL`]).
pub const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest time between two sweeps.
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(250);
/// Executions (each with its journal and signals) or audit entries one delete statement
/// removes at the most; a sweep repeats it until less is left. Small, because an
/// execution's journal may hold up to `limits::MAX_JOURNAL_ENTRIES` entries.
pub const DELETE_BATCH: u64 = 100;

/// How long what is kept is kept; `None`: for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Finished executions, from the time they finished.
    pub executions: Option<Duration>,
    /// Audit entries, from the time they were made.
    pub audit: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            executions: Some(DEFAULT_EXECUTION_RETENTION),
            audit: Some(DEFAULT_AUDIT_RETENTION),
        }
    }
}

impl Retention {
    /// How often to sweep: a quarter of the shorter period, within
    /// [`MIN_SWEEP_INTERVAL`]..=[`MAX_SWEEP_INTERVAL`]; `None` when everything is kept.
    fn sweep_interval(&self) -> Option<Duration> {
        let shortest = [self.executions, self.audit].into_iter().flatten().min()?;
        Some((shortest / 4).clamp(MIN_SWEEP_INTERVAL, MAX_SWEEP_INTERVAL))
    }
}

/// Sweep `store` by `retention` in the background, for as long as the process runs.
pub(crate) fn spawn(store: Arc<dyn Store>, retention: Retention) {
    let Some(interval) = retention.sweep_interval() else {
        return;
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = sweep(store.as_ref(), &retention).await {
                tracing::warn!("retention: {e}");
            }
        }
    });
}

/// Delete what `retention` no longer keeps, a batch at a time; how many executions and
/// audit entries were deleted.
pub(crate) async fn sweep(
    store: &dyn Store,
    retention: &Retention,
) -> Result<(u64, u64), crate::store::StoreError> {
    let now = now_ms();
    let before = |period: Duration| {
        now.saturating_sub(i64::try_from(period.as_millis()).unwrap_or(i64::MAX))
    };
    let executions = match retention.executions {
        Some(period) => {
            in_batches(|| store.delete_finished_executions(before(period), DELETE_BATCH)).await?
        }
        None => 0,
    };
    let audit = match retention.audit {
        Some(period) => {
            in_batches(|| store.delete_audit_entries(before(period), DELETE_BATCH)).await?
        }
        None => 0,
    };
    if executions + audit > 0 {
        tracing::info!(
            executions,
            audit,
            "retention: deleted what is past its keeping"
        );
    }
    Ok((executions, audit))
}

/// A retention period as the flags give it: `None` is for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period(pub Option<Duration>);

/// Run `delete` (a batch of at most [`DELETE_BATCH`]) until it deletes less than a batch;
/// how many it deleted in all.
async fn in_batches<F, Fut>(mut delete: F) -> Result<u64, crate::store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::store::StoreError>>,
{
    let mut total = 0;
    loop {
        let deleted = delete().await?;
        total += deleted;
        if deleted < DELETE_BATCH {
            return Ok(total);
        }
        // Let other writes in between two batches.
        tokio::task::yield_now().await;
    }
}

/// Parse a retention period as the flags take it: a duration (`30d`, `12h`, `90s`) or
/// `forever`.
pub fn parse_period(text: &str) -> Result<Period, String> {
    if text.trim() == "forever" {
        return Ok(Period(None));
    }
    let period = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{text:?} is not a duration such as 30d or 12h, nor `forever`: {e}")
    })?;
    if period.is_zero() {
        return Err("a retention period of zero would delete what has just finished; say `forever` to keep everything".into());
    }
    Ok(Period(Some(period)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_set_how_often_to_sweep() {
        assert_eq!(
            parse_period("30d"),
            Ok(Period(Some(DEFAULT_EXECUTION_RETENTION)))
        );
        assert_eq!(parse_period("forever"), Ok(Period(None)));
        assert!(parse_period("0s").is_err());
        assert!(parse_period("soon").is_err());
        let sweep = |executions, audit| Retention { executions, audit }.sweep_interval();
        assert_eq!(sweep(None, None), None, "nothing to delete: no sweep");
        assert_eq!(
            sweep(Some(Duration::from_secs(2)), None),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            sweep(None, Some(Duration::from_millis(100))),
            Some(MIN_SWEEP_INTERVAL)
        );
        assert_eq!(
            Retention::default().sweep_interval(),
            Some(MAX_SWEEP_INTERVAL)
        );
    }
}
