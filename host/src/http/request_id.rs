//! Every request gets an id: the caller's `X-Request-Id` when it sent a usable one, else a
//! new UUID. The id is passed to handlers in the request's header, returned in the
//! response's header, and added to every problem body as `request_id`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Problem;
use crate::error_kind::ErrorKind;

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a caller.
const MAX_REQUEST_ID_LEN: usize = 128;
/// Problems are small; a larger body is not a problem we wrote.
const MAX_PROBLEM_BYTES: usize = 1 << 20;

/// The request's id, as the middleware left it in the headers.
pub(crate) fn of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A caller's id is used when it is 1 to [`MAX_REQUEST_ID_LEN`] characters from
/// `A-Z a-z 0-9 - _ . : / + =`: it goes into log records and answers, so it cannot carry
/// spaces, quotes or control characters. Any other is replaced by a new UUID.
pub(crate) fn is_usable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(b))
}

/// The middleware: take or make the id, pass it on, return it, add it to problems.
pub(crate) async fn request_ids(mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| is_usable(v.as_bytes()))
        .cloned();
    let id = given.unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    });
    request.headers_mut().insert(X_REQUEST_ID, id.clone());
    let response = as_problem(next.run(request).await);
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json");
    let mut response = if is_problem {
        with_request_id(response, id.to_str().unwrap_or_default()).await
    } else {
        response
    };
    response.headers_mut().insert(X_REQUEST_ID, id);
    response
}

/// An error answer that axum or a layer made without a body (405 from a method router,
/// 413, …) as a problem like every other, its headers (`Allow`) kept.
fn as_problem(response: Response) -> Response {
    let status = response.status();
    let failed = status.is_client_error() || status.is_server_error();
    if !failed || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let (kind, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = response
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            (
                ErrorKind::MethodNotAllowed,
                format!("this route allows {allowed}"),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorKind::TooLarge, "the body is too large".into()),
        StatusCode::URI_TOO_LONG => (ErrorKind::UriTooLong, "the URI is too long".into()),
        StatusCode::NOT_FOUND => (ErrorKind::NotFound, "no such route".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorKind::UnsupportedMediaType,
            "unsupported media type".into(),
        ),
        status if status.is_server_error() => (ErrorKind::Internal, "the host failed".into()),
        status => (
            ErrorKind::BadBody,
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_lowercase(),
        ),
    };
    let (parts, _) = response.into_parts();
    let mut problem = Problem::with_status(status, kind, detail).into_response();
    for (name, value) in &parts.headers {
        problem
            .headers_mut()
            .entry(name)
            .or_insert_with(|| value.clone());
    }
    problem
}

async fn with_request_id(response: Response, id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Problem::internal(&format!("reading a problem body: {e}")).into_response();
        }
    };
    let Ok(Value::Object(mut problem)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    problem
        .entry("request_id")
        .or_insert_with(|| Value::String(id.to_string()));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(Value::Object(problem).to_string()))
}

#[cfg(test)]
mod tests {
    use super::is_usable;

    #[test]
    fn only_plain_ids_are_taken_from_callers() {
        for good in ["abc", "7f1c-22:x/y+z=", "0123456789abcdef.trace_1"] {
            assert!(is_usable(good.as_bytes()), "{good}");
        }
        let long = "x".repeat(129);
        for bad in ["", "a b", "a\"b", "id=1 level=ERROR", "a\tb", long.as_str()] {
            assert!(!is_usable(bad.as_bytes()), "{bad:?}");
        }
    }
}
