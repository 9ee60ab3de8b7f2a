//! REST routes declared in manifests (`GET /items/{id}`). Path parameters, query
//! parameters and the members of a JSON object body become the procedure's arguments by
//! name; from there a call is the same as over `/rpc` (same JSON <-> WIT mapping, same
//! problems). A path no REST route takes may lie under a wasi:http component's prefix
//! ([`super::wasi_http`]).

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use wasmtime::component::Type;

use super::auth::{Caller, path_tenant};
use super::{AppState, Problem};
use crate::error_kind::ErrorKind;
use crate::limits;
use crate::registry::routes::NoRoute;

/// Serve a request no built-in route took: a REST route (of tenant `default` at the root,
/// of tenant T under `/t/T/`), or 404/405.
pub(crate) async fn call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let registry = state.host.registry(&caller.tenant);
    let routes = registry.routes();
    let path = match path_tenant(uri.path()) {
        Some(tenant) => &uri.path()["/t/".len() + tenant.len()..],
        None => uri.path(),
    };
    let found = routes.find(method.as_str(), path);
    // REST routes first; then the wasi:http component whose prefix takes the path.
    if matches!(found, Err(NoRoute::NotFound))
        && let Some((deployment, within)) = registry.http_handler(path)
    {
        let tenant_part = uri.path().len() - path.len();
        let prefix_len = deployment.http.as_ref().map_or(0, |h| h.prefix.len());
        let mounted = uri.path()[..tenant_part + prefix_len].to_string();
        return super::wasi_http::serve(
            &state, &caller, deployment, &within, &mounted, method, &uri, headers, body,
        )
        .await;
    }
    let matched = match found {
        // A private procedure's route, to a caller who may not see it, is no route.
        Ok(matched) if !super::exposure::visible_to(&caller, matched.procedure.procedure()) => {
            return Err(no_route(&method, &uri));
        }
        Ok(matched) => matched,
        Err(NoRoute::NotFound)
            if method == Method::GET && path.trim_end_matches('/').is_empty() =>
        {
            // The root of a host (or of a tenant) with no route of its own: a browser is sent
            // to the dashboard (a tenant's root: to its procedures' page); anything else is
            // told where the procedures are described.
            let docs = format!("{}/docs", uri.path().trim_end_matches('/'));
            let page = if uri.path().starts_with("/t/") {
                docs.clone()
            } else {
                "/ui".to_string()
            };
            let browser = headers
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
            if browser {
                return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, page)]).into_response());
            }
            return Err(Problem::not_found(format!(
                "no route GET {}; the procedures are described at {docs} (a page) and \
                 /openapi.json",
                uri.path()
            )));
        }
        Err(NoRoute::NotFound) => return Err(no_route(&method, &uri)),
        Err(NoRoute::MethodNotAllowed(allowed)) => {
            let allowed: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            let mut response = Problem::of(
                ErrorKind::MethodNotAllowed,
                format!("{} allows {}", uri.path(), allowed.join(", ")),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Ok(response);
        }
    };
    let body = axum::body::to_bytes(body, limits::MAX_ARGS_BYTES)
        .await
        .map_err(|_| {
            Problem::of(
                ErrorKind::TooLarge,
                format!(
                    "the body is over this route's limit of {} bytes",
                    limits::MAX_ARGS_BYTES
                ),
            )
        })?;
    let params = &matched.procedure.procedure().params;
    let args = arguments(params, &matched.path_params, uri.query(), &body)?;
    super::exposure::call(&state, &caller, &matched.procedure, args, &headers).await
}

fn no_route(method: &Method, uri: &Uri) -> Problem {
    Problem::not_found(format!(
        "no route {method} {}; see GET /openapi.json",
        uri.path()
    ))
}

/// The arguments object: path parameters, then query parameters, then body members. A
/// parameter given twice is refused rather than silently picked.
fn arguments(
    params: &[(String, Type)],
    path: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> Result<Value, Problem> {
    let mut args = Map::new();
    for (name, raw) in path {
        args.insert(name.clone(), from_text(param_type(params, name), raw));
    }
    let mut query_values: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match query_values.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value.into_owned()),
            None => query_values.push((name.into_owned(), vec![value.into_owned()])),
        }
    }
    for (name, values) in query_values {
        if args.contains_key(&name) {
            return Err(given_twice(&name, "the path and the query"));
        }
        let ty = param_type(params, &name);
        let value = match (ty.map(unwrap_option), values.as_slice()) {
            (Some(Type::List(list)), _) => Value::Array(
                values
                    .iter()
                    .map(|v| from_text(Some(&list.ty()), v))
                    .collect(),
            ),
            (_, [one]) => from_text(ty, one),
            _ => {
                return Err(Problem::invalid_args(format!(
                    "query parameter {name} is given {} times but is not a list",
                    values.len()
                ))
                .with("path", Value::String(name)));
            }
        };
        args.insert(name, value);
    }
    if !body.is_empty() {
        let members = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(members)) => members,
            Ok(_) => {
                return Err(Problem::invalid_args(
                    "the body must be a JSON object whose members are parameters by name",
                ));
            }
            Err(e) => {
                return Err(Problem::invalid_args(format!(
                    "the body is not valid JSON: {e}"
                )));
            }
        };
        for (name, value) in members {
            if args.contains_key(&name) {
                return Err(given_twice(&name, "the body and the path or query"));
            }
            args.insert(name, value);
        }
    }
    Ok(Value::Object(args))
}

fn given_twice(name: &str, places: &str) -> Problem {
    Problem::invalid_args(format!("parameter {name} is given in both {places}"))
        .with("path", Value::String(name.to_string()))
}

fn param_type<'a>(params: &'a [(String, Type)], name: &str) -> Option<&'a Type> {
    params.iter().find(|(n, _)| n == name).map(|(_, ty)| ty)
}

fn unwrap_option(ty: &Type) -> Type {
    match ty {
        Type::Option(inner) => unwrap_option(&inner.ty()),
        other => other.clone(),
    }
}

/// Text from a path or query: a string parameter takes it as it is; anything else reads
/// it as JSON (`42`, `true`, `[1,2]`), falling back to the string so the type check names
/// the parameter.
fn from_text(ty: Option<&Type>, text: &str) -> Value {
    let textual = matches!(
        ty.map(unwrap_option),
        Some(Type::String | Type::Char | Type::Enum(_)) | None
    );
    if textual {
        return Value::String(text.to_string());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_query_and_body_fill_parameters_by_name() {
        let params = vec![
            ("id".to_string(), Type::U32),
            ("name".to_string(), Type::String),
            ("flag".to_string(), Type::Bool),
        ];
        let args = arguments(
            &params,
            &[("id".into(), "42".into())],
            Some("name=007&flag=true"),
            b"",
        )
        .expect("valid");
        assert_eq!(
            args,
            serde_json::json!({"id": 42, "name": "007", "flag": true})
        );
        let args = arguments(&params, &[], None, br#"{"name": "x", "id": 1}"#).expect("valid");
        assert_eq!(args, serde_json::json!({"name": "x", "id": 1}));
        let twice = arguments(&params, &[("id".into(), "1".into())], Some("id=2"), b"");
        assert!(twice.is_err());
        let twice = arguments(&params, &[("id".into(), "1".into())], None, br#"{"id": 3}"#);
        assert!(twice.is_err());
        assert!(arguments(&params, &[], None, b"[1]").is_err());
        assert!(arguments(&params, &[], Some("flag=true&flag=false"), b"").is_err());
    }
}
