//! `application/problem+json` (RFC 9457) answers with a stable `kind`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::api::ProblemBody;
use crate::error_kind::ErrorKind;
use crate::host::{CallError, DeployFailure, QuotaRefusal};
use crate::registry::DeployError;
use crate::runtime::CallFailure;
use crate::store::StoreError;

/// An error answer. `kind` is stable and machine-readable; `detail` is for people.
#[derive(Debug)]
pub(crate) struct Problem {
    pub status: StatusCode,
    pub kind: ErrorKind,
    pub detail: String,
    /// Extra members (e.g. `error` for a procedure's own error value).
    pub extra: Map<String, Value>,
}

impl Problem {
    /// A problem of `kind`, answered with the kind's status ([`ErrorKind::status`]).
    pub(crate) fn of(kind: ErrorKind, detail: impl Into<String>) -> Problem {
        let status =
            StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Problem::with_status(status, kind, detail)
    }

    /// A problem of `kind` answered with another status than the kind's: only where the
    /// status is another layer's (a body the HTTP layer refused keeps its status).
    pub(crate) fn with_status(
        status: StatusCode,
        kind: ErrorKind,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub(crate) fn with(mut self, key: &str, value: Value) -> Problem {
        self.extra.insert(key.to_string(), value);
        self
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Problem {
        Problem::of(ErrorKind::NotFound, detail)
    }

    pub(crate) fn invalid_args(detail: impl Into<String>) -> Problem {
        Problem::of(ErrorKind::InvalidArgs, detail)
    }

    /// A failure of the host itself: logged in full (inside the request's span, with its
    /// id), answered without internals.
    pub(crate) fn internal(error: &dyn std::fmt::Display) -> Problem {
        tracing::error!("internal error: {error}");
        Problem::of(
            ErrorKind::Internal,
            "the host failed to handle the request; see its log",
        )
    }

    /// The body as the API sends it.
    pub(crate) fn body(&self) -> ProblemBody {
        ProblemBody {
            type_uri: format!("https://tsdev.dev/problems/{}", self.kind),
            title: self.kind.title().to_string(),
            status: self.status.as_u16(),
            kind: self.kind,
            detail: self.detail.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&self.body()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        super::auth::add_challenge(&mut response);
        if let Some(seconds) = self.extra.get("retry_after").and_then(Value::as_u64) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        // For the audit log: what was refused, and why.
        response.extensions_mut().insert(self.kind);
        response
    }
}

impl From<DeployFailure> for Problem {
    fn from(failure: DeployFailure) -> Problem {
        let component = |kind, e: &DeployError| Problem::of(kind, e.to_string());
        match &failure {
            DeployFailure::Component(e) => match e {
                DeployError::InvalidName(_) => Problem::of(ErrorKind::InvalidName, e.to_string()),
                DeployError::NotWasm => Problem::of(ErrorKind::NotWasm, e.to_string()),
                DeployError::CoreModule => component(ErrorKind::NotAComponent, e),
                DeployError::Invalid(_) | DeployError::Reflect(_) => {
                    component(ErrorKind::InvalidComponent, e)
                }
                DeployError::TypeTooComplex(_) => component(ErrorKind::TypeTooComplex, e),
                DeployError::UnsupportedImport(_) => component(ErrorKind::UnsupportedImport, e),
                DeployError::NotGranted { interface, grant } => component(ErrorKind::NotGranted, e)
                    .with("interface", json!(interface))
                    .with("grant", json!(grant)),
                DeployError::Conflict { procedure, owner } => {
                    Problem::of(ErrorKind::ProcedureConflict, e.to_string())
                        .with("procedure", json!(procedure))
                        .with("owner", json!(owner))
                }
                DeployError::Manifest(_) => component(ErrorKind::InvalidManifest, e),
                DeployError::RouteConflict {
                    route,
                    procedure,
                    other_route,
                    other_procedure,
                    other_component,
                } => Problem::of(ErrorKind::RouteConflict, e.to_string())
                    .with("route", json!(route))
                    .with("procedure", json!(procedure))
                    .with("other_route", json!(other_route))
                    .with("other_procedure", json!(other_procedure))
                    .with("other_component", json!(other_component)),
                DeployError::PrefixConflict {
                    prefix,
                    other_component,
                } => Problem::of(ErrorKind::RouteConflict, e.to_string())
                    .with("prefix", json!(prefix))
                    .with("other_component", json!(other_component)),
            },
            DeployFailure::Store(e) => Problem::internal(e),
            DeployFailure::Join(e) => Problem::internal(e),
            DeployFailure::ShuttingDown => Problem::of(ErrorKind::Busy, failure.to_string()),
            DeployFailure::Quota(refusal) => refusal.into(),
            DeployFailure::NoComponent(_) | DeployFailure::NoVersion(_) => {
                Problem::not_found(failure.to_string())
            }
            DeployFailure::AmbiguousVersion { .. } => {
                Problem::of(ErrorKind::InvalidArgs, failure.to_string())
            }
        }
    }
}

impl From<&QuotaRefusal> for Problem {
    /// A ceiling: 400 `invalid-limits` (asking again will not help); a count: 429
    /// `quota-exceeded`. Both name the quota.
    fn from(refusal: &QuotaRefusal) -> Problem {
        let problem = if refusal.ceiling {
            Problem::of(ErrorKind::InvalidLimits, refusal.detail.clone())
        } else {
            Problem::of(ErrorKind::QuotaExceeded, refusal.detail.clone())
                .with("retry_after", json!(refusal.retry_after_secs.max(1)))
        };
        problem.with("quota", json!(refusal.quota))
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
            CallError::Quota(refusal) => (&refusal).into(),
            CallError::InvalidArgs(e) => {
                Problem::invalid_args(e.to_string()).with("path", json!(e.path))
            }
            CallError::ProcedureError(value) => Problem::of(
                ErrorKind::ProcedureError,
                "the procedure returned the err case of its result; see `error`",
            )
            .with("error", value),
            CallError::Failure(failure) => match &failure {
                CallFailure::Interrupted(_) | CallFailure::Host(_) => Problem::internal(&failure),
                _ => Problem::of(failure.kind(), failure.to_string()),
            },
        }
    }
}
