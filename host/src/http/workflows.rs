//! Workflow executions over HTTP: start one, see where it stands, cancel, signal, follow
//! its events. Everything goes through the [`WorkflowEngine`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::Problem;
use super::auth::Caller;
use crate::api::{ExecutionInfo, ExecutionList, SignalInfo, StartedInfo, StatusEvent, StepInfo};
use crate::error_kind::ErrorKind;
use crate::limits;
use crate::store::{Execution, ExecutionFilter, ExecutionStatus, JournalEntry, SignalSent};
use crate::workflow::WorkflowEngine;
use crate::workflow::engine::{Cancelled, StartError};

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

impl From<StartError> for Problem {
    fn from(error: StartError) -> Problem {
        match error {
            StartError::NotFound(_) => Problem::not_found(error.to_string()),
            StartError::Quota { quota, detail } => Problem::of(ErrorKind::QuotaExceeded, detail)
                .with("quota", json!(quota))
                .with("retry_after", json!(1)),
            // There is no workflow of that name, only a procedure: not found, said precisely.
            StartError::NotAWorkflow(_) => Problem::of(ErrorKind::NotAWorkflow, error.to_string()),
            StartError::InvalidArgs(e) => {
                Problem::invalid_args(e.to_string()).with("path", json!(e.path))
            }
            StartError::IdempotencyConflict(ref id) => {
                Problem::of(ErrorKind::IdempotencyConflict, error.to_string())
                    .with("execution", json!(id))
            }
            StartError::VersionGone => {
                Problem::of(ErrorKind::ComponentUnavailable, error.to_string())
                    .with("retry_after", json!(1))
            }
            StartError::Store(e) => Problem::internal(&e),
        }
    }
}

/// The `Idempotency-Key` header, checked.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    Ok(match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_LEN);
            Some(
                key.ok_or_else(|| {
                    Problem::of(ErrorKind::InvalidIdempotencyKey, format!("an Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
                    )
                })?
                .to_string(),
            )
        }
    })
}

/// `POST /v1/workflows/{name}/executions` with the JSON arguments; `Idempotency-Key` optional.
pub(crate) async fn start(
    State(workflows): State<Arc<WorkflowEngine>>,
    Extension(caller): Extension<Caller>,
    Path(workflow): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let args = super::json_args(body, limits::MAX_ARGS_BYTES)?;
    let key = idempotency_key(&headers)?;
    let started = workflows
        .start_workflow(&caller.tenant, &workflow, &args, key)
        .await?;
    let status = if started.existing {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let location = format!("/v1/executions/{}", started.id);
    let mut response = (
        status,
        Json(StartedInfo {
            id: started.id,
            existing: started.existing,
        }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// JSON text as stored (absent: `null`).
pub(super) fn parse(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn execution_info(execution: &Execution, steps: Vec<StepInfo>) -> ExecutionInfo {
    ExecutionInfo {
        id: execution.id.clone(),
        workflow: execution.workflow.clone(),
        component: execution.component.clone(),
        version: execution.component_version.clone(),
        status: execution.status,
        args: parse(Some(&execution.args)),
        result: parse(execution.result.as_deref()),
        error: parse(execution.error.as_deref()),
        wake_at: execution.wake_at,
        created_at: execution.created_at,
        updated_at: execution.updated_at,
        steps,
    }
}

/// One journal entry as the API shows it.
fn step_info(entry: &JournalEntry) -> StepInfo {
    StepInfo {
        seq: entry.seq,
        kind: entry.step.kind,
        name: entry.step.name.clone(),
        request: entry.step.request.clone(),
        attempts: entry.attempts,
        started_at: entry.started_at,
        finished_at: entry.finished_at,
        outcome: entry.outcome.to_json(),
    }
}

fn no_execution(id: &str) -> Problem {
    Problem::not_found(format!("no execution {id}"))
}

/// An execution with its steps.
async fn execution_with_steps(
    workflows: &WorkflowEngine,
    execution: &Execution,
) -> Result<ExecutionInfo, Problem> {
    let steps = workflows
        .journal(&execution.id, 0)
        .await?
        .iter()
        .map(step_info)
        .collect();
    Ok(execution_info(execution, steps))
}

/// `GET /v1/executions/{id}`: status, result or error, and the journaled steps.
pub(crate) async fn show(
    State(workflows): State<Arc<WorkflowEngine>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionInfo>, Problem> {
    let execution = workflows
        .execution(&caller.tenant, &id)
        .await?
        .ok_or_else(|| no_execution(&id))?;
    Ok(Json(execution_with_steps(&workflows, &execution).await?))
}

/// Executions listed at most per page.
pub(crate) const MAX_PAGE: i64 = 100;

/// Query of `GET /v1/executions`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ListQuery {
    workflow: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
}

/// `GET /v1/executions?workflow=&status=&limit=&after=`: newest first, paged.
pub(crate) async fn list(
    State(workflows): State<Arc<WorkflowEngine>>,
    Extension(caller): Extension<Caller>,
    query: Result<axum::extract::Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ExecutionList>, Problem> {
    let invalid = |detail: String| Problem::of(ErrorKind::InvalidQuery, detail);
    let axum::extract::Query(query) = query.map_err(|e| invalid(e.body_text()))?;
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(ExecutionStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect();
            invalid(format!(
                "unknown status {text:?}; one of {}",
                known.join(", ")
            ))
        })?),
    };
    // The cursor is the last execution of the previous page; the page goes on after it.
    let before =
        match query.after.as_deref() {
            None | Some("") => None,
            Some(after) => {
                let last = workflows.execution(&caller.tenant, after).await?.ok_or_else(|| {
                Problem::not_found(format!(
                    "no execution {after} to page after; use the `next` of the previous page"
                ))
            })?;
                Some((last.created_at, last.id))
            }
        };
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let executions = workflows
        .list(&ExecutionFilter {
            tenant: caller.tenant.clone(),
            workflow: query.workflow,
            status,
            limit,
            before,
        })
        .await?;
    let next = (executions.len() as i64 == limit)
        .then(|| executions.last().map(|e| e.id.clone()))
        .flatten();
    let executions = executions
        .iter()
        .map(|e| execution_info(e, Vec::new()))
        .collect();
    Ok(Json(ExecutionList { executions, next }))
}

/// `POST /v1/executions/{id}/cancel`: the cancelled execution, with its steps.
pub(crate) async fn cancel(
    State(workflows): State<Arc<WorkflowEngine>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionInfo>, Problem> {
    match workflows.cancel(&caller.tenant, &id).await? {
        Cancelled::Now(execution) => Ok(Json(execution_with_steps(&workflows, &execution).await?)),
        Cancelled::AlreadyFinished(execution) => Err(Problem::of(
            ErrorKind::AlreadyFinished,
            format!(
                "execution {id} is {} and cannot be cancelled",
                execution.status.as_str()
            ),
        )),
        Cancelled::NotFound => Err(no_execution(&id)),
    }
}

/// `POST /v1/executions/{id}/signals/{name}` with a JSON body (empty: `null`): kept for the
/// execution's next `wait-signal(name)`; 202.
pub(crate) async fn signal(
    State(workflows): State<Arc<WorkflowEngine>>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SignalInfo>), Problem> {
    let payload = super::json_body(body, limits::MAX_ARGS_BYTES)?;
    if name.is_empty() || name.len() > MAX_SIGNAL_NAME_LEN {
        return Err(Problem::invalid_args(format!(
            "a signal name has 1 to {MAX_SIGNAL_NAME_LEN} characters"
        )));
    }
    let payload = payload.to_string();
    if payload.len() > limits::MAX_STEP_PAYLOAD_BYTES {
        return Err(Problem::of(
            ErrorKind::TooLarge,
            format!(
                "a signal's payload is journaled: at most {} bytes of JSON",
                limits::MAX_STEP_PAYLOAD_BYTES
            ),
        ));
    }
    match workflows
        .signal(&caller.tenant, &id, &name, &payload)
        .await?
    {
        SignalSent::Sent => Ok((
            StatusCode::ACCEPTED,
            Json(SignalInfo {
                execution: id,
                signal: name,
            }),
        )),
        SignalSent::NoSuchExecution => Err(no_execution(&id)),
        SignalSent::Finished => Err(Problem::of(
            ErrorKind::AlreadyFinished,
            format!("execution {id} has finished; nothing will receive the signal"),
        )),
    }
}

/// Longest signal name accepted.
pub(crate) const MAX_SIGNAL_NAME_LEN: usize = 128;

/// How often an event stream looks for news when no run has ended meanwhile.
pub(crate) const EVENTS_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Where an event stream stands.
struct EventCursor {
    workflows: Arc<WorkflowEngine>,
    tenant: String,
    id: String,
    last_seq: i64,
    last_status: Option<ExecutionStatus>,
    queued: std::collections::VecDeque<Event>,
    finished: bool,
    /// The stream's place among [`crate::workflow::engine::MAX_EVENT_STREAMS`].
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl EventCursor {
    /// The next event, waiting for one; None once the execution has finished and its last
    /// event went out.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            // Wait, then look: a run ending in between is not missed.
            let run_ended = self.workflows.run_end(&self.id);
            if let Err(error) = self.look().await {
                // A stream cannot answer a problem any more; say so and end it.
                self.finished = true;
                return Some(Event::default().event("error").data(error.to_string()));
            }
            if self.queued.is_empty() {
                tokio::select! {
                    _ = run_ended.ended() => {}
                    () = tokio::time::sleep(EVENTS_POLL) => {}
                }
            }
        }
    }

    /// Queue the steps journaled since the last look (only those: the journal is read
    /// from the last sequence seen), then the status if it changed.
    async fn look(&mut self) -> Result<(), crate::store::StoreError> {
        // Status first: a step journaled after this read is caught at the next look.
        let Some(execution) = self.workflows.execution(&self.tenant, &self.id).await? else {
            self.finished = true;
            return Ok(());
        };
        for entry in self.workflows.journal(&self.id, self.last_seq).await? {
            self.last_seq = self.last_seq.max(entry.seq);
            let data = serde_json::to_string(&step_info(&entry)).unwrap_or_default();
            self.queued
                .push_back(Event::default().event("step").data(data));
        }
        if self.last_status != Some(execution.status) {
            self.last_status = Some(execution.status);
            let data = StatusEvent {
                status: execution.status,
                result: parse(execution.result.as_deref()),
                error: parse(execution.error.as_deref()),
                wake_at: execution.wake_at,
            };
            let data = serde_json::to_string(&data).unwrap_or_default();
            self.queued
                .push_back(Event::default().event("status").data(data));
        }
        self.finished = execution.status.is_finished();
        Ok(())
    }
}

/// `GET /v1/executions/{id}/events`: Server-Sent Events as the execution moves: `step`
/// (a journal entry) and `status` (with the result or error once finished). A finished
/// execution gets its history, then the stream closes. At most
/// [`crate::workflow::engine::MAX_EVENT_STREAMS`] streams are open at once (503 `busy`).
pub(crate) async fn events(
    State(workflows): State<Arc<WorkflowEngine>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>>, Problem> {
    if workflows.execution(&caller.tenant, &id).await?.is_none() {
        return Err(no_execution(&id));
    }
    let slot = workflows.event_stream_slot().ok_or_else(|| {
        Problem::of(
            ErrorKind::Busy,
            format!(
                "{} event streams are open, the most this host serves; retry later",
                crate::workflow::engine::MAX_EVENT_STREAMS
            ),
        )
    })?;
    let cursor = EventCursor {
        workflows,
        tenant: caller.tenant,
        id,
        last_seq: 0,
        last_status: None,
        queued: std::collections::VecDeque::new(),
        finished: false,
        _slot: slot,
    };
    let stream = futures::stream::unfold(cursor, |mut cursor| async move {
        cursor.next().await.map(|event| (Ok(event), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
