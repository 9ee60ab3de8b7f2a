//! `/v1/schedules`: a tenant's cron schedules (`crate::schedule`), those made here and
//! those its components' manifests declare (`{component}.{name}`, read-only here: they
//! change with the manifest).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::Problem;
use super::auth::Caller;
use crate::api::{ScheduleInfo, ScheduleList, ScheduleRequest};
use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::limits;
use crate::schedule::{self, MAX_SCHEDULES_PER_TENANT, Missed, ScheduleError, Spec, Ticks};
use crate::store::{ScheduleSaved, StoredSchedule};

impl From<ScheduleError> for Problem {
    fn from(error: ScheduleError) -> Problem {
        Problem::of(ErrorKind::InvalidSchedule, error.to_string())
    }
}

/// A stored schedule as the API shows it.
fn info(s: StoredSchedule) -> ScheduleInfo {
    // The next tick as stored first (it may be due now), then the ones after it.
    let next = match Ticks::parse(&s.cron, &s.timezone) {
        Ok(ticks) => std::iter::once(s.next_fire_at)
            .chain(ticks.upcoming(s.next_fire_at, schedule::UPCOMING_SHOWN - 1))
            .filter(|t| *t != i64::MAX)
            .map(schedule::rfc3339)
            .collect(),
        Err(_) => Vec::new(),
    };
    ScheduleInfo {
        args: serde_json::from_str(&s.args).unwrap_or_default(),
        missed: Missed::from_name(&s.missed).unwrap_or_default(),
        last_fired: s.last_fired_at.map(schedule::rfc3339),
        next,
        name: s.name,
        component: s.component,
        cron: s.cron,
        timezone: s.timezone,
        procedure: s.procedure,
        last_outcome: s.last_outcome,
        fired: s.fired,
    }
}

/// A manifest's schedule (its name has a dot) cannot be changed here.
fn declared_by_manifest(name: &str) -> Option<Problem> {
    let (component, _) = name.split_once('.')?;
    Some(Problem::of(
        ErrorKind::InvalidSchedule,
        format!(
            "schedule {name} is declared by component {component}'s manifest: change its \
             [[schedule]] in tsdev.toml and deploy again"
        ),
    ))
}

/// `GET /v1/schedules`.
pub(crate) async fn list(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ScheduleList>, Problem> {
    let schedules = host.schedules(&caller.tenant).await?;
    Ok(Json(ScheduleList {
        schedules: schedules.into_iter().map(info).collect(),
    }))
}

/// `GET /v1/schedules/{name}`.
pub(crate) async fn show(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleInfo>, Problem> {
    match host.schedule(&caller.tenant, &name).await? {
        Some(schedule) => Ok(Json(info(schedule))),
        None => Err(Problem::not_found(format!("no schedule named {name:?}"))),
    }
}

/// `PUT /v1/schedules/{name}`: make or replace a schedule (scope deploy: it runs code).
pub(crate) async fn put(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    if let Some(problem) = declared_by_manifest(&name) {
        return Err(problem);
    }
    schedule::check_name(&name)?;
    let body = body.map_err(|e| super::body_problem(e, limits::MAX_ARGS_BYTES))?;
    let request: ScheduleRequest = serde_json::from_slice(&body).map_err(|e| {
        Problem::of(ErrorKind::BadBody,
            format!(
                "expected {{\"cron\": EXPRESSION, \"procedure\": NAME, \"timezone\"?, \"args\"?, \"missed\"?}}: {e}"
            ),
        )
    })?;
    let spec = Spec {
        name: name.clone(),
        cron: request.cron,
        timezone: request.timezone.unwrap_or_else(|| "UTC".into()),
        procedure: request.procedure,
        args: serde_json::Value::Object(request.args.unwrap_or_default()),
        missed: request.missed.unwrap_or_default(),
    };
    // The expression first (its errors say the most), then the procedure: it must be there
    // now and take these arguments; if it goes later, each firing says so in the
    // schedule's last outcome.
    let stored = spec.stored(&caller.tenant, None, now_ms())?;
    let registry = host.registry(&caller.tenant);
    let Some(found) = registry.procedure(&spec.procedure) else {
        return Err(super::rpc::no_such_procedure(
            &registry,
            &spec.procedure,
            |_| true,
        ));
    };
    crate::registry::json::args_from_json(&found.procedure().params, &spec.args)
        .map_err(crate::host::CallError::InvalidArgs)?;
    match host.save_schedule(&stored).await? {
        ScheduleSaved::AtLimit => Err(Problem::of(
            ErrorKind::QuotaExceeded,
            format!("a tenant has at most {MAX_SCHEDULES_PER_TENANT} schedules"),
        )
        .with("quota", serde_json::json!("schedules"))),
        saved => {
            let status = match saved {
                ScheduleSaved::Created => StatusCode::CREATED,
                _ => StatusCode::OK,
            };
            let current = host.schedule(&caller.tenant, &name).await?;
            let current = current.ok_or_else(|| {
                Problem::not_found(format!("schedule {name:?} was deleted meanwhile"))
            })?;
            tracing::info!(tenant = %caller.tenant, schedule = %name, "schedule saved");
            Ok((status, Json(info(current))).into_response())
        }
    }
}

/// `DELETE /v1/schedules/{name}` (scope deploy).
pub(crate) async fn delete(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    if let Some(problem) = declared_by_manifest(&name) {
        return Err(problem);
    }
    if host.delete_schedule(&caller.tenant, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!("no schedule named {name:?}")))
    }
}
