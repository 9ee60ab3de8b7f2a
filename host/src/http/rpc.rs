//! `POST /rpc/{procedure}` and the procedure catalogue.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};

use super::auth::Caller;
use super::{AppState, Problem};
use crate::access::Scope;
use crate::api::{Catalogue, CatalogueEntry};
use crate::host::Host;
use crate::limits;

/// The path of `/rpc/{procedure}` and `/t/{tenant}/rpc/{procedure}` (the tenant is the
/// caller's, see [`Caller`]).
#[derive(serde::Deserialize)]
pub(crate) struct RpcPath {
    procedure: String,
}

/// Call a procedure with a JSON object of arguments (see [`super::exposure::call`]).
pub(crate) async fn call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(RpcPath { procedure }): Path<RpcPath>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let args = super::json_args(body, limits::MAX_ARGS_BYTES)?;
    let registry = state.host.registry(&caller.tenant);
    // A private procedure is, to a caller who may not see it, one that is not there: the
    // same 404, the same suggestions (none of them private).
    let found = registry
        .procedure(&procedure)
        .filter(|found| super::exposure::visible_to(&caller, found.procedure()));
    let Some(found) = found else {
        return Err(no_such_procedure(&registry, &procedure, |p| {
            super::exposure::visible_to(&caller, p)
        }));
    };
    super::exposure::call(&state, &caller, &found, args, &headers).await
}

/// 404 for a procedure `name` the registry does not have, with the closest name among
/// those `visible` to the caller, if one is close.
pub(crate) fn no_such_procedure(
    registry: &crate::registry::Registry,
    name: &str,
    visible: impl Fn(&crate::registry::Procedure) -> bool,
) -> Problem {
    let printable = crate::runtime::output::printable(name);
    Problem::not_found(match registry.closest_procedure(name, visible) {
        Some(close) => format!("no procedure named {printable}; did you mean {close}?"),
        None => format!("no procedure named {printable}"),
    })
}

/// `GET /procedures`: every procedure of the caller's tenant with its component, signature
/// and schemas; public ones only for a caller without scope `read`.
pub(crate) async fn procedures(
    State(host): State<Arc<Host>>,
    Extension(caller): Extension<Caller>,
) -> Json<Catalogue> {
    let mut procedures = Vec::new();
    let everything = caller.has(Scope::Read);
    for deployment in host.registry(&caller.tenant).list() {
        for p in deployment
            .procedures
            .iter()
            .filter(|p| everything || p.is_public())
        {
            let policy = &p.enforcement.policy;
            procedures.push(CatalogueEntry {
                name: p.name.clone(),
                route: policy.route.as_ref().map(ToString::to_string),
                public: policy.public,
                workflow: deployment.workflows,
                component: deployment.name.clone(),
                version: deployment.version.clone(),
                signature: p.signature.clone(),
                description: p.description.clone(),
                params_schema: p.params_schema.clone(),
                result_schema: p.result_schema.clone(),
            });
        }
    }
    Json(Catalogue { procedures })
}
