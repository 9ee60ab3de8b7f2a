//! Requests for wasi:http components: a component exporting `wasi:http/incoming-handler`
//! is served under its prefix (`/site/...` of tenant default, `/t/T/site/...` of tenant T).
//! The handler sees the path after the prefix, the query, the method, the headers and the
//! body as sent (streamed, up to [`limits::MAX_INCOMING_HTTP_BODY_BYTES`]), plus
//! `X-Forwarded-Prefix` naming where it is mounted, minus a tsdev API key (an
//! `Authorization` that is not one is the component's own and passes); what it answers
//! goes back as it is.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::auth::Caller;
use super::{AppState, Problem};
use crate::access::Scope;
use crate::error_kind::ErrorKind;
use crate::host::ServeError;
use crate::limits;
use crate::registry::Deployment;
use crate::runtime::CallContext;

/// The header telling a handler the path it is mounted under, for links it writes.
const X_FORWARDED_PREFIX: &str = "x-forwarded-prefix";

/// One request for `deployment`'s handler. `within` is the path after its prefix; `mounted`
/// the path prefix as the caller addressed it (`/site`, `/t/acme/site`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve(
    state: &AppState,
    caller: &Caller,
    deployment: Arc<Deployment>,
    within: &str,
    mounted: &str,
    method: Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let public = deployment.http.as_ref().is_some_and(|h| h.public);
    if !public && !caller.has(Scope::Call) {
        return Err(Problem::of(
            ErrorKind::PrivateProcedure,
            format!(
                "component {} is private ([http] public = false in its manifest): send the \
                 request with an API key that has scope call",
                deployment.name
            ),
        ));
    }
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.parse::<axum::http::uri::Authority>().is_ok())
        .unwrap_or("localhost")
        .to_string();
    let path_and_query = match uri.query() {
        Some(query) => format!("{within}?{query}"),
        None => within.to_string(),
    };
    let handler_uri = Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| {
            Problem::of(
                ErrorKind::InvalidQuery,
                format!("the request's URI cannot be passed on: {e}"),
            )
        })?;
    if let Ok(prefix) = HeaderValue::from_str(mounted) {
        headers.insert(X_FORWARDED_PREFIX, prefix);
    }
    // A tsdev API key is for the host, never for a guest; other authorization is the
    // component's own and passes.
    if headers
        .get(header::AUTHORIZATION)
        .is_some_and(|a| super::auth::tsdev_key(a).is_some())
    {
        headers.remove(header::AUTHORIZATION);
    }
    let context = CallContext::new(super::request_id::of(&headers), None);
    let body = http_body_util::Limited::new(body, limits::MAX_INCOMING_HTTP_BODY_BYTES as usize)
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                wasmtime_wasi_http::Error::HttpRequestBodySize(Some(
                    limits::MAX_INCOMING_HTTP_BODY_BYTES,
                ))
            } else {
                wasmtime_wasi_http::Error::InternalError(Some(e.to_string()))
            }
        });
    let mut request = hyper::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = handler_uri;
    *request.headers_mut() = headers;
    match state
        .host
        .serve_http(&caller.tenant, deployment, request, context)
        .await
    {
        Ok(response) => Ok(response.map(Body::new).into_response()),
        Err(ServeError::Call(e)) => Err(e.into()),
        Err(ServeError::NoResponse(detail)) => Err(Problem::of(ErrorKind::NoResponse, detail)),
    }
}
