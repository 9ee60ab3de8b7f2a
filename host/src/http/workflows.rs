//! Workflow executions over HTTP: start one, see where it stands.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Problem;
use crate::host::Host;
use crate::limits;
use crate::store::{
    DEFAULT_TENANT, Execution, ExecutionFilter, ExecutionStatus, JournalEntry, SignalSent,
};
use crate::workflow::engine::StartError;

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

impl From<StartError> for Problem {
    fn from(error: StartError) -> Problem {
        match error {
            StartError::NotFound(_) => Problem::not_found(error.to_string()),
            StartError::NotAWorkflow(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                "not-a-workflow",
                "Not a workflow",
                error.to_string(),
            ),
            StartError::InvalidArgs(e) => {
                Problem::invalid_args(e.to_string()).with("path", json!(e.path))
            }
            StartError::IdempotencyConflict(ref id) => Problem::new(
                StatusCode::CONFLICT,
                "idempotency-conflict",
                "Idempotency key reused",
                error.to_string(),
            )
            .with("execution", json!(id)),
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
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid-idempotency-key",
                        "Invalid idempotency key",
                        format!("an Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
                    )
                })?
                .to_string(),
            )
        }
    })
}

/// `POST /v1/workflows/{name}/executions` with the JSON arguments; `Idempotency-Key` optional.
pub async fn start(
    State(host): State<Arc<Host>>,
    Path(workflow): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let args = super::json_body(body, limits::MAX_ARGS_BYTES)?;
    let key = idempotency_key(&headers)?;
    let started = host.start_workflow(&workflow, &args, key).await?;
    let status = if started.existing {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let location = format!("/v1/executions/{}", started.id);
    let mut response = (
        status,
        Json(json!({ "id": started.id, "existing": started.existing })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

fn parse(text: &Option<String>) -> Value {
    text.as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn execution_json(execution: &Execution, steps: Vec<Value>) -> Value {
    json!({
        "id": execution.id,
        "workflow": execution.workflow,
        "component": execution.component,
        "version": execution.component_version,
        "status": execution.status,
        "args": serde_json::from_str::<Value>(&execution.args).unwrap_or(Value::Null),
        "result": parse(&execution.result),
        "error": parse(&execution.error),
        "wake_at": execution.wake_at,
        "created_at": execution.created_at,
        "updated_at": execution.updated_at,
        "steps": steps,
    })
}

/// One journal entry as the API shows it.
fn step_json(entry: &JournalEntry) -> Value {
    json!({
        "seq": entry.seq,
        "kind": entry.kind,
        "name": entry.name,
        "request": serde_json::from_str::<Value>(&entry.request).unwrap_or(Value::Null),
        "attempts": entry.attempts,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at,
        "outcome": serde_json::from_str::<Value>(&entry.outcome).unwrap_or(Value::Null),
    })
}

/// `GET /v1/executions/{id}`: status, result or error, and the journaled steps.
pub async fn show(
    State(host): State<Arc<Host>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let execution = host
        .store()
        .get_execution(DEFAULT_TENANT, &id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no execution {id}")))?;
    let steps = host
        .store()
        .load_journal(&id)
        .await?
        .into_iter()
        .map(|entry| step_json(&entry))
        .collect();
    Ok(Json(execution_json(&execution, steps)))
}

/// Executions listed at most per page.
pub const MAX_PAGE: i64 = 100;

/// Query of `GET /v1/executions`.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    workflow: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
}

/// `GET /v1/executions?workflow=&status=&limit=&after=`: newest first, paged.
pub async fn list(
    State(host): State<Arc<Host>>,
    query: Result<axum::extract::Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let invalid = |detail: String| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
            detail,
        )
    };
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
    let before = match query.after.as_deref() {
        None => None,
        Some(cursor) => {
            let (at, id) = cursor
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad cursor {cursor:?}")))?;
            Some((
                at.parse::<i64>()
                    .map_err(|_| invalid(format!("bad cursor {cursor:?}")))?,
                id.to_string(),
            ))
        }
    };
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let executions = host
        .store()
        .list_executions(&ExecutionFilter {
            tenant: DEFAULT_TENANT.to_string(),
            workflow: query.workflow,
            status,
            limit,
            before,
        })
        .await?;
    let next = (executions.len() as i64 == limit)
        .then(|| {
            executions
                .last()
                .map(|e| format!("{}:{}", e.created_at, e.id))
        })
        .flatten();
    let listed: Vec<Value> = executions
        .iter()
        .map(|e| execution_json(e, Vec::new()))
        .collect();
    Ok(Json(json!({ "executions": listed, "next": next })))
}

/// `POST /v1/executions/{id}/cancel`.
pub async fn cancel(
    State(host): State<Arc<Host>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let now = crate::clock::now_ms();
    let cancelled = host
        .store()
        .cancel_execution(DEFAULT_TENANT, &id, now)
        .await?;
    let execution = host
        .store()
        .get_execution(DEFAULT_TENANT, &id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no execution {id}")))?;
    if !cancelled {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "already-finished",
            "Already finished",
            format!(
                "execution {id} is {} and cannot be cancelled",
                execution.status.as_str()
            ),
        ));
    }
    Ok(Json(execution_json(&execution, Vec::new())))
}

/// `POST /v1/executions/{id}/signals/{name}` with a JSON body (empty: `null`): kept for the
/// execution's next `wait-signal(name)`; 202.
pub async fn signal(
    State(host): State<Arc<Host>>,
    Path((id, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let payload = super::json_body(body, limits::MAX_ARGS_BYTES)?;
    if name.is_empty() || name.len() > MAX_SIGNAL_NAME_LEN {
        return Err(Problem::invalid_args(format!(
            "a signal name has 1 to {MAX_SIGNAL_NAME_LEN} characters"
        )));
    }
    let payload = payload.to_string();
    if payload.len() > limits::MAX_STEP_PAYLOAD_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Body too large",
            format!(
                "a signal's payload is journaled: at most {} bytes of JSON",
                limits::MAX_STEP_PAYLOAD_BYTES
            ),
        ));
    }
    let now = crate::clock::now_ms();
    let sent = host
        .store()
        .send_signal(DEFAULT_TENANT, &id, &name, &payload, now)
        .await?;
    match sent {
        SignalSent::Sent => {
            host.workflow_wake.notify_one();
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "execution": id, "signal": name })),
            ))
        }
        SignalSent::NoSuchExecution => Err(Problem::not_found(format!("no execution {id}"))),
        SignalSent::Finished => Err(Problem::new(
            StatusCode::CONFLICT,
            "already-finished",
            "Already finished",
            format!("execution {id} has finished; nothing will receive the signal"),
        )),
    }
}

/// Longest signal name accepted.
pub const MAX_SIGNAL_NAME_LEN: usize = 128;

/// How often an event stream looks for news when no run has ended meanwhile.
pub const EVENTS_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Where an event stream stands.
struct EventCursor {
    host: Arc<Host>,
    id: String,
    last_seq: i64,
    last_status: Option<ExecutionStatus>,
    queued: std::collections::VecDeque<Event>,
    finished: bool,
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
            let run_ended = self.host.run_waiters.wait(&self.id);
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

    /// Queue the steps journaled since the last look, then the status if it changed.
    async fn look(&mut self) -> Result<(), crate::store::StoreError> {
        let store = self.host.store();
        // Status first: a step journaled after this read is caught at the next look.
        let Some(execution) = store.get_execution(DEFAULT_TENANT, &self.id).await? else {
            self.finished = true;
            return Ok(());
        };
        for entry in store.load_journal(&self.id).await? {
            if entry.seq > self.last_seq {
                self.last_seq = entry.seq;
                self.queued.push_back(
                    Event::default()
                        .event("step")
                        .data(step_json(&entry).to_string()),
                );
            }
        }
        if self.last_status != Some(execution.status) {
            self.last_status = Some(execution.status);
            let data = json!({
                "status": execution.status,
                "result": parse(&execution.result),
                "error": parse(&execution.error),
                "wake_at": execution.wake_at,
            });
            self.queued
                .push_back(Event::default().event("status").data(data.to_string()));
        }
        self.finished = execution.status.is_finished();
        Ok(())
    }
}

/// `GET /v1/executions/{id}/events`: Server-Sent Events as the execution moves: `step`
/// (a journal entry) and `status` (with the result or error once finished). A finished
/// execution gets its history, then the stream closes.
pub async fn events(
    State(host): State<Arc<Host>>,
    Path(id): Path<String>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>>, Problem> {
    if host
        .store()
        .get_execution(DEFAULT_TENANT, &id)
        .await?
        .is_none()
    {
        return Err(Problem::not_found(format!("no execution {id}")));
    }
    let cursor = EventCursor {
        host,
        id,
        last_seq: 0,
        last_status: None,
        queued: std::collections::VecDeque::new(),
        finished: false,
    };
    let stream = futures::stream::unfold(cursor, |mut cursor| async move {
        cursor.next().await.map(|event| (Ok(event), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
