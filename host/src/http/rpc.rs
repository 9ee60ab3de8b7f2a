//! `POST /rpc/{procedure}` and the procedure catalogue.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Problem;
use crate::host::Host;
use crate::limits;
use crate::runtime::CallContext;

/// Call a procedure with a JSON object of arguments.
pub async fn call(
    State(host): State<Arc<Host>>,
    Path(procedure): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let context = CallContext {
        request_id: super::request_id::of(&headers),
    };
    let outcome = async {
        let args = super::json_body(body, limits::MAX_ARGS_BYTES)?;
        Ok::<_, Problem>(host.call(&procedure, &args, &context).await?)
    }
    .await;
    match outcome {
        Ok(output) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            output.body,
        )
            .into_response(),
        // The request-id middleware adds `request_id` to every problem.
        Err(problem) => problem.into_response(),
    }
}

/// `GET /procedures`: every procedure with its component, signature and schemas.
pub async fn procedures(State(host): State<Arc<Host>>) -> Json<Value> {
    let mut procedures = Vec::new();
    for deployment in host.registry().list() {
        for p in &deployment.procedures {
            procedures.push(json!({
                "name": p.name,
                "component": deployment.name,
                "version": deployment.version,
                "signature": p.signature,
                "description": p.description,
                "params_schema": p.params_schema,
                "result_schema": p.result_schema,
            }));
        }
    }
    Json(json!({ "procedures": procedures }))
}
