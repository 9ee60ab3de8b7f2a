//! Who is asking: the request's API key (`Authorization: Bearer KEY`), the tenant it acts
//! in and its scopes, as a [`Caller`] every handler reads. With keys off (`tsdev dev`,
//! `serve --insecure-no-auth`) a request without a key acts in tenant `default` with every
//! scope but `admin`; one with a valid key acts as that key (the admin key reaches
//! `/metrics` and the tenants there too).
//!
//! - No key: an anonymous caller, who reaches public procedures only (of `default` at the
//!   root paths, of tenant T under `/t/T/`).
//! - A key that is malformed, unknown, expired or revoked: 401 `unauthenticated`, with
//!   `WWW-Authenticate: Bearer`, wherever it is sent.
//! - A tenant's key acts in its tenant; an admin key acts in `default` and on every tenant.
//!   Under `/t/T/` a key of another tenant counts for nothing (anonymous).
//!
//! Keys are looked up in the store and remembered for a second at most; a revocation
//! works at once all the same (see [`crate::keys`]).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Problem, audit};
use crate::access::{self, Scope};
use crate::clock::now_ms;
use crate::error_kind::ErrorKind;
use crate::host::Host;
use crate::store::{DEFAULT_TENANT, StoredKey};

/// Whether requests must carry keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Keys are checked; without one, only public procedures answer.
    #[default]
    Keys,
    /// No keys: everything is tenant `default` (local development only).
    Off,
}

/// Who is asking, and what they may do. Put in every request's extensions by
/// [`authenticate`].
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The tenant the request acts in.
    pub(crate) tenant: String,
    /// The key's public id, when a key was given.
    pub(crate) key_id: Option<String>,
    scopes: Vec<Scope>,
    /// No key was given and keys are required.
    anonymous: bool,
}

impl Caller {
    /// Whether the caller may act with `scope` (an admin key may do everything).
    pub(crate) fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Refuse unless the caller has `scope`: 401 without a key, 403 naming the scope.
    pub(crate) fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.has(scope) {
            return Ok(());
        }
        if self.anonymous {
            return Err(unauthenticated(format!(
                "this needs an API key with scope {scope}: send Authorization: Bearer KEY"
            )));
        }
        Err(Problem::of(
            ErrorKind::Forbidden,
            format!("this needs scope {scope}, which the key does not have"),
        )
        .with("scope", serde_json::json!(scope.as_str())))
    }

    /// Whether the caller sees `tenant`'s objects: its own tenant, or any as admin.
    pub(crate) fn sees_tenant(&self, tenant: &str) -> bool {
        self.tenant == tenant || self.has(Scope::Admin)
    }
}

/// A 401 with `WWW-Authenticate: Bearer` (see [`Problem::into_response`]).
fn unauthenticated(detail: impl Into<String>) -> Problem {
    Problem::of(ErrorKind::Unauthenticated, detail)
}

/// What [`authenticate`] needs.
#[derive(Clone)]
pub(crate) struct Auth {
    pub(crate) mode: AuthMode,
    pub(crate) host: Arc<Host>,
    /// The audit action of a method on a matched route, and whether it writes (the
    /// endpoint table's: `endpoints::action_of`).
    pub(crate) action_of: fn(&axum::http::Method, &str) -> Option<(&'static str, bool)>,
    /// Strangers' refusals, counted (see [`audit::Strangers`]).
    pub(crate) strangers: Arc<audit::Strangers>,
}

/// The tenant named by a `/t/{tenant}/…` path, if the path is one.
pub(crate) fn path_tenant(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/t/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// The middleware: find the [`Caller`], put it in the request's extensions, and keep the
/// audit entry of a management request (see [`super::audit`]).
pub(crate) async fn authenticate(
    State(auth): State<Auth>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let asked = route
        .as_ref()
        .and_then(|route| {
            (auth.action_of)(request.method(), route.as_str()).map(|found| (route, found))
        })
        .map(|(route, (action, write))| audit::Asked {
            tenant: audit::Asked::tenant_of(route.as_str(), request.uri()),
            action,
            write,
            target: audit::Asked::target_of(request.uri()),
            request_id: super::request_id::of(request.headers()),
        });
    // Owned copies: the request (its body) must not be borrowed across the key lookup.
    let path = request.uri().path().to_string();
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let (response, caller) = match admitted(&auth, &path, caller(&auth, &path, authorization).await)
    {
        Ok(caller) => {
            request.extensions_mut().insert(caller.clone());
            (next.run(request).await, Some(caller))
        }
        Err(problem) => (problem.into_response(), None),
    };
    if let Some(asked) = asked {
        let kind = response.extensions().get::<ErrorKind>().copied();
        let who = caller
            .as_ref()
            .map(|c| (c.tenant.as_str(), c.key_id.as_deref()));
        audit::record(
            &auth.host,
            &auth.strangers,
            who,
            asked,
            response.status(),
            kind,
        )
        .await;
    }
    let mut response = response;
    if let Some(caller) = caller {
        response
            .extensions_mut()
            .insert(CallerTenant(caller.tenant));
    }
    response
}

/// The tenant a request acted in, on its response: for the request's log event.
#[derive(Clone, Debug)]
pub(crate) struct CallerTenant(pub(crate) String);

async fn caller(
    auth: &Auth,
    path: &str,
    authorization: Option<HeaderValue>,
) -> Result<Caller, Problem> {
    let in_path = path_tenant(path);
    if let Some(tenant) = in_path
        && access::check_tenant_name(tenant).is_err()
    {
        return Err(Problem::not_found(format!(
            "no tenant named {:?}",
            crate::runtime::output::printable(tenant)
        )));
    }
    let tenant = in_path.unwrap_or(DEFAULT_TENANT).to_string();
    if auth.mode == AuthMode::Off {
        // A request without a key acts as `default` with every scope but admin; one with a
        // valid key (the admin key of DATA/admin.key, say) acts as that key.
        let key = match authorization.as_ref().and_then(tsdev_key) {
            Some(token) => live_key(auth, token).await.ok(),
            None => None,
        };
        let as_key = key
            .map(|key| acting_as(key, in_path, tenant.clone()))
            .filter(|caller| !caller.anonymous);
        return Ok(as_key.unwrap_or(Caller {
            tenant,
            key_id: None,
            scopes: Scope::ALL
                .into_iter()
                .filter(|s| *s != Scope::Admin)
                .collect(),
            anonymous: false,
        }));
    }
    let anonymous = Caller {
        tenant,
        key_id: None,
        scopes: Vec::new(),
        anonymous: true,
    };
    let Some(authorization) = authorization else {
        return Ok(anonymous);
    };
    let Some(token) = tsdev_key(&authorization) else {
        // A wasi:http component may have authorization of its own (Basic, its own
        // tokens): that header is its business, and the caller is anonymous to tsdev.
        if serves_http(auth, &anonymous.tenant, path) {
            return Ok(anonymous);
        }
        let bearer = authorization.to_str().is_ok_and(|v| {
            v.get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        });
        return Err(unauthenticated(if bearer {
            "that is not a tsdev API key (tsdev_…, with a valid checksum)"
        } else {
            "send the key as Authorization: Bearer KEY"
        }));
    };
    let key = live_key(auth, token).await?;
    Ok(acting_as(key, in_path, anonymous.tenant))
}

/// The live key `token` is, or why not (401; a store failure is 500).
async fn live_key(auth: &Auth, token: &str) -> Result<StoredKey, Problem> {
    let key = auth
        .host
        .tenants()
        .key_by_hash(&access::hash_key(token))
        .await
        .map_err(|e| Problem::internal(&e))?
        .ok_or_else(|| unauthenticated("unknown API key"))?;
    if !key.is_live(now_ms()) {
        return Err(unauthenticated(format!(
            "API key {} is {}",
            key.id,
            if key.revoked_at.is_some() {
                "revoked"
            } else {
                "expired"
            }
        )));
    }
    Ok(key)
}

/// The caller a live `key` makes of a request to `in_path`'s tenant (`tenant` when the path
/// names none, anonymous under another tenant's `/t/`).
fn acting_as(key: StoredKey, in_path: Option<&str>, tenant: String) -> Caller {
    let admin = key.scopes.contains(&Scope::Admin);
    let key_tenant = key.tenant.clone().unwrap_or_else(|| DEFAULT_TENANT.into());
    match in_path {
        // Under /t/{tenant}/ a key of another tenant counts for nothing.
        Some(in_path) if in_path != key_tenant && !admin => Caller {
            tenant,
            key_id: None,
            scopes: Vec::new(),
            anonymous: true,
        },
        _ => Caller {
            tenant: in_path.map_or(key_tenant, str::to_string),
            key_id: Some(key.id),
            scopes: key.scopes,
            anonymous: false,
        },
    }
}

/// The tsdev API key an `Authorization` header carries (`Bearer tsdev_…`, well formed), if
/// it carries one.
pub(crate) fn tsdev_key(authorization: &HeaderValue) -> Option<&str> {
    authorization
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| access::is_well_formed_key(token))
}

/// Whether `path` (of `tenant`) lies under a wasi:http component's prefix.
fn serves_http(auth: &Auth, tenant: &str, path: &str) -> bool {
    let within = match path_tenant(path) {
        Some(in_path) => &path["/t/".len() + in_path.len()..],
        None => path,
    };
    auth.host.registry(tenant).http_handler(within).is_some()
}

/// The caller, unless its tenant is past its requests per second. Probes of the host's own
/// health are not the tenant's, and the admin is not held to it: the operator who sets a
/// quota can always set it back (schemathesis once set `default` to 1 per second, and the
/// admin's own requests were refused).
fn admitted(auth: &Auth, path: &str, caller: Result<Caller, Problem>) -> Result<Caller, Problem> {
    let caller = caller?;
    if path == "/health"
        || path == "/ready"
        || caller.has(Scope::Admin)
        || auth.host.tenants().admit_request(&caller.tenant)
    {
        return Ok(caller);
    }
    Err(Problem::of(
        ErrorKind::QuotaExceeded,
        format!(
            "tenant {} makes more requests per second than its quota ({})",
            caller.tenant,
            auth.host
                .tenants()
                .quotas(&caller.tenant)
                .requests_per_second
        ),
    )
    .with("quota", serde_json::json!("requests_per_second"))
    .with("retry_after", serde_json::json!(1)))
}

/// `WWW-Authenticate: Bearer` on every 401 (RFC 6750).
pub(crate) fn add_challenge(response: &mut Response) {
    if response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
}
