//! Cron schedules as stored (see `crate::schedule` for what they mean). The store keeps
//! each schedule's next tick; firing a tick moves it on with a compare-and-set on that
//! tick, so of several nodes looking at once exactly one takes it.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::SqlStore;
use super::{StoreError, db};

/// One schedule as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSchedule {
    /// The tenant that owns it.
    pub tenant: String,
    /// Its name: `{component}.{name}` for one from a manifest.
    pub name: String,
    /// The component whose manifest declared it; None for one made over the API.
    pub component: Option<String>,
    /// The cron expression.
    pub cron: String,
    /// The IANA time zone the expression is read in.
    pub timezone: String,
    /// The procedure or workflow it calls.
    pub procedure: String,
    /// Its arguments (JSON text).
    pub args: String,
    /// What to do about ticks missed while no node ran it: `latest` or `skip`.
    pub missed: String,
    /// The next tick to fire, ms since the Unix epoch.
    pub next_fire_at: i64,
    /// The last tick fired, if any.
    pub last_fired_at: Option<i64>,
    /// What the last firing did (an execution started, a call's outcome, an error).
    pub last_outcome: Option<String>,
    /// How many ticks it has fired.
    pub fired: i64,
    /// When it was made, ms since the Unix epoch.
    pub created_at: i64,
    /// When it was last changed.
    pub updated_at: i64,
}

/// How saving a schedule went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleSaved {
    /// It is new.
    Created,
    /// It replaced the one of the same name (keeping its history).
    Replaced,
    /// The tenant has `max` schedules already: not saved.
    AtLimit,
}

/// Cron schedules.
#[async_trait::async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Save `schedule` (made over the API), replacing one of the same name, unless that
    /// would give the tenant more than `max` schedules. A replaced schedule keeps its
    /// history, and its next tick when the expression and time zone are unchanged.
    async fn put_schedule(
        &self,
        schedule: &StoredSchedule,
        max: u64,
    ) -> Result<ScheduleSaved, StoreError>;

    /// Make `schedules` the ones `component`'s manifest declares, in one transaction: the
    /// component's others are deleted, the rest saved as [`ScheduleStore::put_schedule`] does.
    async fn replace_component_schedules(
        &self,
        tenant: &str,
        component: &str,
        schedules: Vec<StoredSchedule>,
    ) -> Result<(), StoreError>;

    /// The schedules of `tenant`, by name.
    async fn list_schedules(&self, tenant: &str) -> Result<Vec<StoredSchedule>, StoreError>;

    /// One schedule of `tenant`.
    async fn get_schedule(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<StoredSchedule>, StoreError>;

    /// Delete a schedule; false when there was none.
    async fn delete_schedule(&self, tenant: &str, name: &str) -> Result<bool, StoreError>;

    /// Up to `limit` schedules of any tenant whose next tick is at or before `now`,
    /// earliest first.
    async fn due_schedules(&self, now: i64, limit: i64) -> Result<Vec<StoredSchedule>, StoreError>;

    /// Move the next tick of the schedule `due` (as it was read) on to `next`, recording
    /// `fired` (the tick fired, if one was) and its `outcome`; false when another node moved
    /// it first (or the schedule is gone or changed): then this node fired nothing.
    async fn advance_schedule(
        &self,
        due: &StoredSchedule,
        next: i64,
        fired: Option<i64>,
        outcome: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Record the outcome of firing `tick`, once it is known (a call ends after its claim).
    async fn record_schedule_outcome(
        &self,
        tenant: &str,
        name: &str,
        tick: i64,
        outcome: &str,
    ) -> Result<(), StoreError>;
}

const COLUMNS: &str = "tenant, name, component, cron, timezone, procedure, args, missed, \
     next_fire_at, last_fired_at, last_outcome, fired, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<StoredSchedule, StoreError> {
    let read = || db("reading a schedule");
    Ok(StoredSchedule {
        tenant: row.try_get("tenant").map_err(read())?,
        name: row.try_get("name").map_err(read())?,
        component: row
            .try_get::<Option<String>, _>("component")
            .map_err(read())?,
        cron: row.try_get("cron").map_err(read())?,
        timezone: row.try_get("timezone").map_err(read())?,
        procedure: row.try_get("procedure").map_err(read())?,
        args: row.try_get("args").map_err(read())?,
        missed: row.try_get("missed").map_err(read())?,
        next_fire_at: row.try_get("next_fire_at").map_err(read())?,
        last_fired_at: row
            .try_get::<Option<i64>, _>("last_fired_at")
            .map_err(read())?,
        last_outcome: row
            .try_get::<Option<String>, _>("last_outcome")
            .map_err(read())?,
        fired: row.try_get("fired").map_err(read())?,
        created_at: row.try_get("created_at").map_err(read())?,
        updated_at: row.try_get("updated_at").map_err(read())?,
    })
}

/// Insert `s`, or replace the spec of the schedule of its name (its history stays; its
/// next tick too unless the expression or time zone changed). With `max`, only while the
/// tenant has fewer than `max` other schedules. How many rows it wrote (0: at the limit).
async fn upsert(
    conn: &mut sqlx::AnyConnection,
    s: &StoredSchedule,
    max: Option<u64>,
) -> Result<u64, StoreError> {
    let max = max.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX));
    let done = sqlx::query(
        "INSERT INTO schedules (tenant, name, component, cron, timezone, procedure, args, missed, \
         next_fire_at, last_fired_at, last_outcome, fired, created_at, updated_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, 0, $10, $10 \
         WHERE (SELECT COUNT(*) FROM schedules WHERE tenant = $1 AND name <> $2) < $11 \
         ON CONFLICT (tenant, name) DO UPDATE SET component = excluded.component, \
         next_fire_at = CASE WHEN schedules.cron = excluded.cron AND schedules.timezone = excluded.timezone \
           THEN schedules.next_fire_at ELSE excluded.next_fire_at END, \
         cron = excluded.cron, timezone = excluded.timezone, procedure = excluded.procedure, \
         args = excluded.args, missed = excluded.missed, updated_at = excluded.updated_at",
    )
    .bind(&s.tenant)
    .bind(&s.name)
    .bind(&s.component)
    .bind(&s.cron)
    .bind(&s.timezone)
    .bind(&s.procedure)
    .bind(&s.args)
    .bind(&s.missed)
    .bind(s.next_fire_at)
    .bind(s.updated_at)
    .bind(max)
    .execute(&mut *conn)
    .await
    .map_err(db("saving a schedule"))?;
    Ok(done.rows_affected())
}

#[async_trait::async_trait]
impl ScheduleStore for SqlStore {
    async fn put_schedule(
        &self,
        schedule: &StoredSchedule,
        max: u64,
    ) -> Result<ScheduleSaved, StoreError> {
        let schedule = schedule.clone();
        self.writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    let existed = sqlx::query(
                        "SELECT COUNT(*) AS n FROM schedules WHERE tenant = $1 AND name = $2",
                    )
                    .bind(&schedule.tenant)
                    .bind(&schedule.name)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db("looking for a schedule"))?
                    .try_get::<i64, _>("n")
                    .map_err(db("looking for a schedule"))?
                        > 0;
                    if upsert(conn, &schedule, Some(max)).await? == 0 {
                        return Ok(ScheduleSaved::AtLimit);
                    }
                    Ok(if existed {
                        ScheduleSaved::Replaced
                    } else {
                        ScheduleSaved::Created
                    })
                })
            })
            .await
    }

    async fn replace_component_schedules(
        &self,
        tenant: &str,
        component: &str,
        schedules: Vec<StoredSchedule>,
    ) -> Result<(), StoreError> {
        let (tenant, component) = (tenant.to_string(), component.to_string());
        self.writes
            .run_atomic(move |conn| {
                Box::pin(async move {
                    let kept: Vec<&str> = schedules.iter().map(|s| s.name.as_str()).collect();
                    let existing = sqlx::query(
                        "SELECT name FROM schedules WHERE tenant = $1 AND component = $2",
                    )
                    .bind(&tenant)
                    .bind(&component)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db("listing a component's schedules"))?;
                    for row in existing {
                        let name: String = row
                            .try_get("name")
                            .map_err(db("listing a component's schedules"))?;
                        if !kept.contains(&name.as_str()) {
                            sqlx::query("DELETE FROM schedules WHERE tenant = $1 AND name = $2")
                                .bind(&tenant)
                                .bind(&name)
                                .execute(&mut *conn)
                                .await
                                .map_err(db("deleting a component's schedule"))?;
                        }
                    }
                    for schedule in &schedules {
                        upsert(conn, schedule, None).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn list_schedules(&self, tenant: &str) -> Result<Vec<StoredSchedule>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM schedules WHERE tenant = $1 ORDER BY name"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing schedules"))?;
        rows.iter().map(from_row).collect()
    }

    async fn get_schedule(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<StoredSchedule>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM schedules WHERE tenant = $1 AND name = $2"
        ))
        .bind(tenant)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading a schedule"))?;
        row.as_ref().map(from_row).transpose()
    }

    async fn delete_schedule(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM schedules WHERE tenant = $1 AND name = $2")
                        .bind(&tenant)
                        .bind(&name)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("deleting a schedule"))?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn due_schedules(&self, now: i64, limit: i64) -> Result<Vec<StoredSchedule>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM schedules WHERE next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("finding due schedules"))?;
        rows.iter().map(from_row).collect()
    }

    async fn advance_schedule(
        &self,
        due: &StoredSchedule,
        next: i64,
        fired: Option<i64>,
        outcome: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (tenant, name) = (due.tenant.clone(), due.name.clone());
        let expected = due.next_fire_at;
        let outcome = outcome.map(str::to_string);
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE schedules SET next_fire_at = $1, \
                         last_fired_at = COALESCE($2, last_fired_at), \
                         last_outcome = COALESCE($3, last_outcome), \
                         fired = fired + $4, updated_at = $5 \
                         WHERE tenant = $6 AND name = $7 AND next_fire_at = $8",
                    )
                    .bind(next)
                    .bind(fired)
                    .bind(outcome)
                    .bind(i64::from(fired.is_some()))
                    .bind(now)
                    .bind(&tenant)
                    .bind(&name)
                    .bind(expected)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("moving a schedule to its next tick"))?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    async fn record_schedule_outcome(
        &self,
        tenant: &str,
        name: &str,
        tick: i64,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let (tenant, name, outcome) = (tenant.to_string(), name.to_string(), outcome.to_string());
        self.writes
            .run(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE schedules SET last_outcome = $1 \
                         WHERE tenant = $2 AND name = $3 AND last_fired_at = $4",
                    )
                    .bind(&outcome)
                    .bind(&tenant)
                    .bind(&name)
                    .bind(tick)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("recording a schedule's outcome"))?;
                    Ok(())
                })
            })
            .await
    }
}
