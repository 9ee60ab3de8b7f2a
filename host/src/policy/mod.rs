//! Exposure policies of procedures: what the host enforces for one procedure (route,
//! visibility, cache, rate limit, call limits), as a component's manifest sets them.
//!
//! - this module: the [`Policy`] values and the parsing of their manifest forms;
//! - [`enforcement`]: the response cache and rate limiter that enforce them on HTTP calls.

pub(crate) mod enforcement;

use std::num::NonZeroU32;
use std::time::Duration;

use crate::limits::CallLimits;

pub(crate) use enforcement::Enforcement;

/// First path segments REST routes may not use: the host's own API lives there.
pub(crate) const RESERVED_PREFIXES: &[&str] = &[
    "rpc",
    "v1",
    "procedures",
    "openapi.json",
    "docs",
    "health",
    "ready",
    // `/t/{tenant}/…`: tenants' public procedures.
    "t",
];

/// An HTTP method a REST route may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl RouteMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteMethod::Get => "GET",
            RouteMethod::Post => "POST",
            RouteMethod::Put => "PUT",
            RouteMethod::Patch => "PATCH",
            RouteMethod::Delete => "DELETE",
        }
    }

    pub fn parse(method: &str) -> Option<RouteMethod> {
        Some(match method {
            "GET" => RouteMethod::Get,
            "POST" => RouteMethod::Post,
            "PUT" => RouteMethod::Put,
            "PATCH" => RouteMethod::Patch,
            "DELETE" => RouteMethod::Delete,
            _ => return None,
        })
    }
}

/// A REST route: `GET /items/{id}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: RouteMethod,
    /// The path template, e.g. `/items/{id}`.
    pub path: String,
    /// The `{names}` in the path, in order.
    pub path_params: Vec<String>,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)
    }
}

/// A rate limit: `requests` per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: NonZeroU32,
    pub per: Duration,
}

/// What the host enforces for one procedure, from the manifest and the deployment.
#[derive(Clone, Debug)]
pub struct Policy {
    pub route: Option<Route>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Callable over HTTP (RPC and REST). Private procedures are workflow steps only.
    pub public: bool,
    pub cache_ttl: Option<Duration>,
    pub rate_limit: Option<RateLimit>,
    pub limits: CallLimits,
}

impl Policy {
    pub fn default_for(limits: CallLimits) -> Policy {
        Policy {
            route: None,
            description: None,
            tags: Vec::new(),
            public: true,
            cache_ttl: None,
            rate_limit: None,
            limits,
        }
    }
}

pub(crate) fn parse_duration(field: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{field} {text:?} is not a duration like \"500ms\" or \"2s\": {e}"))
}

/// `N/s`, `N/min` or `N/h`.
pub(crate) fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    let invalid = || format!("rate-limit {text:?} is not like \"10/s\", \"100/min\" or \"1000/h\"");
    let (count, unit) = text.split_once('/').ok_or_else(invalid)?;
    let requests: NonZeroU32 = count.trim().parse().map_err(|_| invalid())?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return Err(invalid()),
    };
    Ok(RateLimit { requests, per })
}

/// `METHOD /path/{param}`; parameters are whole segments.
pub(crate) fn parse_route(text: &str) -> Result<Route, String> {
    let (method, path) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("route {text:?} is not like \"GET /items/{{id}}\""))?;
    let method = RouteMethod::parse(method.trim()).ok_or_else(|| {
        format!("route {text:?}: the method must be one of GET, POST, PUT, PATCH, DELETE")
    })?;
    let path = path.trim();
    if !path.starts_with('/') {
        return Err(format!("route {text:?}: the path must start with '/'"));
    }
    let mut path_params = Vec::new();
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && !(i == segments.len() - 1 && segments.len() == 1) {
            return Err(format!("route {text:?}: empty path segment"));
        }
        if let Some(inner) = segment.strip_prefix('{') {
            let name = inner
                .strip_suffix('}')
                .filter(|n| !n.is_empty() && !n.contains(['{', '}', '*']))
                .ok_or_else(|| {
                    format!("route {text:?}: a parameter is a whole segment like {{id}}")
                })?;
            if path_params.iter().any(|p| p == name) {
                return Err(format!("route {text:?}: {{{name}}} appears twice"));
            }
            path_params.push(name.to_string());
        } else if segment.contains(['{', '}', '?', '#', ' ']) {
            return Err(format!(
                "route {text:?}: segment {segment:?} has characters a path cannot use"
            ));
        }
    }
    if let Some(first) = segments.first()
        && RESERVED_PREFIXES.contains(first)
    {
        return Err(format!(
            "route {text:?}: /{first} belongs to the host's own API; choose another path"
        ));
    }
    Ok(Route {
        method,
        path: path.to_string(),
        path_params,
    })
}
