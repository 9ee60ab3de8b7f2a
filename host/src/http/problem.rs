//! `application/problem+json` (RFC 9457) answers with a stable `kind`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::host::{CallError, DeployFailure};
use crate::registry::DeployError;
use crate::runtime::CallFailure;
use crate::runtime::failure::WorkflowInterrupt;
use crate::store::StoreError;

/// An error answer. `kind` is stable and machine-readable; `detail` is for people.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// Extra members (e.g. `error` for a procedure's own error value).
    pub extra: Vec<(String, Value)>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Problem {
        self.extra.push((key.to_string(), value));
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn invalid_args(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-args",
            "Invalid arguments",
            detail,
        )
    }

    /// A failure of the host itself: logged in full, answered without internals.
    pub fn internal(error: &dyn std::fmt::Display) -> Problem {
        tracing::error!("internal error: {error}");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the host failed to handle the request; see its log",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("https://tsdev.dev/problems/{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "kind": self.kind,
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extra);
        }
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<DeployFailure> for Problem {
    fn from(failure: DeployFailure) -> Problem {
        let component = |kind, title, e: &DeployError| {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, kind, title, e.to_string())
        };
        match &failure {
            DeployFailure::Component(e) => match e {
                DeployError::InvalidName(_) => Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-name",
                    "Invalid component name",
                    e.to_string(),
                ),
                DeployError::NotWasm => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "not-wasm",
                    "Not WebAssembly",
                    e.to_string(),
                ),
                DeployError::CoreModule => component("not-a-component", "Not a component", e),
                DeployError::Invalid(_) | DeployError::Reflect(_) => {
                    component("invalid-component", "Invalid component", e)
                }
                DeployError::UnsupportedImport(_) => {
                    component("unsupported-import", "Unsupported import", e)
                }
                DeployError::Conflict { procedure, owner } => Problem::new(
                    StatusCode::CONFLICT,
                    "procedure-conflict",
                    "Procedure name taken",
                    e.to_string(),
                )
                .with("procedure", json!(procedure))
                .with("owner", json!(owner)),
                DeployError::Manifest(_) => component("invalid-manifest", "Invalid manifest", e),
                DeployError::RouteConflict {
                    route,
                    procedure,
                    other_route,
                    other_procedure,
                    other_component,
                } => Problem::new(
                    StatusCode::CONFLICT,
                    "route-conflict",
                    "Route taken",
                    e.to_string(),
                )
                .with("route", json!(route))
                .with("procedure", json!(procedure))
                .with("other_route", json!(other_route))
                .with("other_procedure", json!(other_procedure))
                .with("other_component", json!(other_component)),
            },
            DeployFailure::Store(e) => Problem::internal(e),
            DeployFailure::Join(e) => Problem::internal(e),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        Problem::internal(&e)
    }
}

impl From<CallError> for Problem {
    fn from(error: CallError) -> Problem {
        match error {
            CallError::NotFound(name) => Problem::not_found(format!("no procedure named {name}")),
            CallError::InvalidArgs(e) => {
                Problem::invalid_args(e.to_string()).with("path", json!(e.path))
            }
            CallError::ProcedureError(value) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "procedure-error",
                "The procedure returned an error",
                "the procedure returned the err case of its result; see `error`",
            )
            .with("error", value),
            CallError::Failure(failure) => {
                let detail = failure.to_string();
                let status = match failure {
                    CallFailure::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                    CallFailure::Interrupted(WorkflowInterrupt::NotAWorkflow(_)) => {
                        return Problem::new(
                            StatusCode::BAD_REQUEST,
                            "workflow-only",
                            "Not a workflow execution",
                            detail,
                        );
                    }
                    CallFailure::Interrupted(_) | CallFailure::Host(_) => {
                        return Problem::internal(&detail);
                    }
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let title = match failure {
                    CallFailure::OutOfFuel { .. } => "Out of fuel",
                    CallFailure::Timeout { .. } => "Deadline exceeded",
                    CallFailure::MemoryLimit { .. } => "Memory limit exceeded",
                    CallFailure::StackOverflow => "Stack overflow",
                    CallFailure::ResultTooLarge { .. } => "Result too large",
                    _ => "The guest trapped",
                };
                Problem::new(status, failure.kind(), title, detail)
            }
        }
    }
}
