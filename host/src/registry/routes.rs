//! REST routes from the manifests of everything deployed: `GET /items/{id}` -> a
//! procedure. The table is built whole (matchit, the router axum uses) whenever a
//! deployment comes or goes, so conflicts are found before anything is swapped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use wasmtime::component::Type;

use super::{DeployError, Deployment, ProcedureRef};
use crate::policy::{Policy, Route, RouteMethod};

/// Every REST route, per method.
#[derive(Default)]
pub struct Routes {
    by_method: HashMap<RouteMethod, matchit::Router<ProcedureRef>>,
    /// (method, path template) -> the procedure, in a stable order for listings.
    declared: BTreeMap<(RouteMethod, String), ProcedureRef>,
}

/// A request matched to a route.
pub struct RouteMatch {
    pub procedure: ProcedureRef,
    pub route: Route,
    /// Path parameters, percent-decoded.
    pub path_params: Vec<(String, String)>,
}

/// Why a request matched no route.
pub enum NoRoute {
    /// No route has this path.
    NotFound,
    /// Routes have this path, with other methods.
    MethodNotAllowed(Vec<RouteMethod>),
}

impl Routes {
    /// The table for `deployments`; a conflict names both routes.
    pub fn build<'a>(
        deployments: impl Iterator<Item = &'a Arc<Deployment>>,
    ) -> Result<Routes, DeployError> {
        let mut routes = Routes::default();
        for deployment in deployments {
            for (index, procedure) in deployment.procedures.iter().enumerate() {
                let Some(route) = &procedure.enforcement.policy.route else {
                    continue;
                };
                let target = ProcedureRef {
                    deployment: deployment.clone(),
                    index,
                };
                let router = routes.by_method.entry(route.method).or_default();
                if let Err(error) = router.insert(route.path.clone(), target.clone()) {
                    let with = match &error {
                        matchit::InsertError::Conflict { with } => with.clone(),
                        other => {
                            return Err(DeployError::Reflect(format!(
                                "route {route} of {}: {other}",
                                procedure.name
                            )));
                        }
                    };
                    let other = routes.declared.get(&(route.method, with.clone()));
                    return Err(DeployError::RouteConflict {
                        route: route.to_string(),
                        procedure: procedure.name.clone(),
                        other_route: format!("{} {with}", route.method.as_str()),
                        other_procedure: other
                            .map_or_else(String::new, |p| p.procedure().name.clone()),
                        other_component: other
                            .map_or_else(String::new, |p| p.deployment.name.clone()),
                    });
                }
                routes
                    .declared
                    .insert((route.method, route.path.clone()), target);
            }
        }
        Ok(routes)
    }

    /// The procedure serving `method path`.
    pub fn find(&self, method: &str, path: &str) -> Result<RouteMatch, NoRoute> {
        let found = RouteMethod::parse(method)
            .and_then(|m| self.by_method.get(&m))
            .and_then(|router| router.at(path).ok());
        let Some(found) = found else {
            let mut allowed: Vec<RouteMethod> = self
                .by_method
                .iter()
                .filter(|(_, router)| router.at(path).is_ok())
                .map(|(method, _)| *method)
                .collect();
            allowed.sort();
            return Err(if allowed.is_empty() {
                NoRoute::NotFound
            } else {
                NoRoute::MethodNotAllowed(allowed)
            });
        };
        let procedure = found.value.clone();
        let route = procedure
            .procedure()
            .enforcement
            .policy
            .route
            .clone()
            .unwrap_or_else(|| Route {
                method: RouteMethod::Get,
                path: path.to_string(),
                path_params: Vec::new(),
            });
        let path_params = found
            .params
            .iter()
            .map(|(name, value)| {
                let decoded = percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned();
                (name.to_string(), decoded)
            })
            .collect();
        Ok(RouteMatch {
            procedure,
            route,
            path_params,
        })
    }

    /// Every route with its procedure, ordered by method and path.
    pub fn list(&self) -> impl Iterator<Item = (&Route, &ProcedureRef)> {
        self.declared.values().filter_map(|p| {
            p.procedure()
                .enforcement
                .policy
                .route
                .as_ref()
                .map(|route| (route, p))
        })
    }
}

/// A route's `{names}` must be parameters of its procedure, and a private procedure has no
/// route (it is not callable over HTTP).
pub(crate) fn check_route_params(
    procedure: &str,
    policy: &Policy,
    params: &[(String, Type)],
) -> Result<(), DeployError> {
    let Some(route) = &policy.route else {
        return Ok(());
    };
    let bad = |message: String| {
        DeployError::Manifest(crate::manifest::ManifestError::Procedure {
            procedure: procedure.to_string(),
            message,
        })
    };
    if !policy.public {
        return Err(bad(format!(
            "route {route} on a private procedure; make it public or drop the route"
        )));
    }
    for name in &route.path_params {
        if !params.iter().any(|(param, _)| param == name) {
            let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(bad(format!(
                "route {route}: {{{name}}} is not a parameter; the parameters are [{}]",
                names.join(", ")
            )));
        }
    }
    Ok(())
}
