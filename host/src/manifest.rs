//! `tsdev.toml`: what a component says about how it is exposed and run.
//!
//! The manifest sits beside a guest crate's `Cargo.toml`. `tsdev build` checks it and
//! embeds its text in the component as the custom section [`SECTION`], so one `.wasm`
//! carries everything; the host reads it back at upload. Every field is optional and a
//! component without a manifest gets the defaults. The format is documented in
//! `docs/manifest.md`:
//!
//! ```toml
//! [component]
//! name = "catalog"
//! version = "1.2.0"
//! description = "Items for sale"
//!
//! [procedures."items.get"]
//! route = "GET /items/{id}"
//! description = "One item"
//! tags = ["items"]
//! public = true            # false: not callable over HTTP (still a workflow step)
//! cache-ttl = "30s"        # answers are cached per arguments for this long
//! rate-limit = "100/s"     # N per s, min or h; 429 with Retry-After past it
//! timeout = "2s"
//! fuel = 1_000_000
//! memory-mib = 128
//!
//! [grants]                 # capabilities (docs/capabilities.md); nothing is ambient
//! key-value = ["todos"]    # wasi:keyvalue buckets it may open
//! outbound-http = ["https://api.example.com"]
//!
//! [http]                   # a component exporting wasi:http/incoming-handler
//! prefix = "/site"         # served under /site/ (default: /{component name})
//! public = true            # false: callers need an API key with scope call
//!
//! [[schedule]]             # cron: calls a procedure or starts a workflow at each tick
//! name = "nightly"         # stored as {component}.nightly
//! cron = "0 3 * * *"       # five fields, or six with seconds first
//! timezone = "Europe/Berlin"  # default UTC
//! procedure = "reports.nightly"
//! args = { day = "yesterday" }  # the procedure's arguments by name (default none)
//! missed = "latest"        # or "skip": ticks missed while no node ran
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::grants::Grants;
use crate::limits::CallLimits;
use crate::policy::{Policy, parse_duration, parse_rate_limit, parse_route};

/// The custom section that carries the manifest's TOML text.
pub(crate) const SECTION: &str = "tsdev-manifest";

/// The manifest's file name in a guest crate.
pub(crate) const FILE_NAME: &str = "tsdev.toml";

/// Longest cache TTL a procedure may ask for.
pub(crate) const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid TOML for tsdev.toml: {0}")]
    Syntax(String),
    #[error("the manifest section is not UTF-8 text")]
    NotText,
    #[error("procedure {procedure}: {message}")]
    Procedure { procedure: String, message: String },
    #[error("the manifest names {0:?}, which the component does not export")]
    UnknownProcedure(String),
    #[error("grants: {0}")]
    Grant(#[from] crate::grants::GrantError),
    #[error("[http]: {0}")]
    Http(String),
    #[error("[[schedule]] {name:?}: {message}")]
    Schedule { name: String, message: String },
}

/// `tsdev.toml`, parsed. Field names are kebab-case in the file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    #[serde(default)]
    pub component: ComponentSection,
    /// Per procedure, by its registry name (`interface.function`).
    #[serde(default)]
    pub procedures: BTreeMap<String, ProcedureSection>,
    /// What the component may use beyond computing.
    #[serde(default)]
    pub grants: Grants,
    /// How a `wasi:http/incoming-handler` component is served.
    pub http: Option<HttpSection>,
    /// Cron schedules of its procedures and workflows (`[[schedule]]`).
    #[serde(default, rename = "schedule")]
    pub schedules: Vec<ScheduleSection>,
}

/// `[[schedule]]`: one cron schedule of one of the component's procedures or workflows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleSection {
    /// Unique within the component; stored as `{component}.{name}`.
    pub name: String,
    pub cron: String,
    /// An IANA time zone; UTC by default.
    pub timezone: Option<String>,
    /// The procedure or workflow it calls (one of the component's own).
    pub procedure: String,
    /// Its arguments by name.
    pub args: Option<toml::Table>,
    #[serde(default)]
    pub missed: crate::schedule::Missed,
}

impl ScheduleSection {
    /// The schedule's time zone: UTC unless it names one.
    pub(crate) fn timezone(&self) -> &str {
        self.timezone.as_deref().unwrap_or("UTC")
    }

    /// Its arguments as the JSON object a call takes.
    pub(crate) fn args_json(&self) -> serde_json::Value {
        serde_json::to_value(self.args.clone().unwrap_or_default())
            .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()))
    }

    fn check(&self) -> Result<(), ManifestError> {
        let bad = |message: String| ManifestError::Schedule {
            name: self.name.clone(),
            message,
        };
        crate::schedule::check_name(&self.name).map_err(|e| bad(e.to_string()))?;
        crate::schedule::Ticks::parse(&self.cron, self.timezone())
            .map_err(|e| bad(e.to_string()))?;
        Ok(())
    }
}
/// `[http]`: where and to whom a component exporting `wasi:http/incoming-handler` is served.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSection {
    /// The path it is served under, e.g. `/site`; by default `/{component name}`.
    pub prefix: Option<String>,
    /// Anyone may send it requests (the default), or only callers with scope call.
    pub public: Option<bool>,
}

/// Longest `[http] prefix`.
pub(crate) const MAX_HTTP_PREFIX_LEN: usize = 128;

/// First path segments the host's own routes use: no `[http] prefix` may start with one.
pub(crate) const RESERVED_PATH_SEGMENTS: &[&str] = &[
    "docs",
    "health",
    "metrics",
    "openapi.json",
    "procedures",
    "ready",
    "rpc",
    "t",
    "ui",
    "v1",
];

/// Check a path prefix a wasi:http component is served under: `/` then one or more
/// segments of letters, digits and `-._~`, none of them `.` or `..`, the first not one of
/// [`RESERVED_PATH_SEGMENTS`].
pub(crate) fn check_http_prefix(prefix: &str) -> Result<(), ManifestError> {
    let bad = |why: String| ManifestError::Http(format!("prefix {prefix:?} {why}"));
    if prefix.len() > MAX_HTTP_PREFIX_LEN {
        return Err(bad(format!("is over {MAX_HTTP_PREFIX_LEN} characters")));
    }
    let Some(path) = prefix.strip_prefix('/') else {
        return Err(bad("must start with /".into()));
    };
    if path.is_empty() {
        return Err(bad(
            "is the root, which the host's own pages and REST routes use; name a path such as /site"
                .into(),
        ));
    }
    for segment in path.split('/') {
        let plain = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
        if !plain {
            return Err(bad(format!(
                "has the segment {segment:?}: use letters, digits and -._~, no empty segment and no trailing /"
            )));
        }
    }
    let first = path.split('/').next().unwrap_or(path);
    if RESERVED_PATH_SEGMENTS.contains(&first) {
        return Err(bad(format!(
            "starts with /{first}, which the host's own routes use (reserved: {})",
            RESERVED_PATH_SEGMENTS.join(", ")
        )));
    }
    Ok(())
}

/// `[component]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSection {
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
}

/// `[procedures."interface.function"]`, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ProcedureSection {
    pub route: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub public: Option<bool>,
    pub cache_ttl: Option<String>,
    pub rate_limit: Option<String>,
    pub timeout: Option<String>,
    pub fuel: Option<u64>,
    pub memory_mib: Option<u64>,
}

impl Manifest {
    /// Parse a manifest's TOML text.
    pub(crate) fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        // Check what can be checked without the component, so `tsdev build` fails early.
        for (name, section) in &manifest.procedures {
            section.policy(name, CallLimits::default())?;
        }
        manifest.grants.check()?;
        if let Some(prefix) = manifest.http.as_ref().and_then(|h| h.prefix.as_deref()) {
            check_http_prefix(prefix)?;
        }
        let mut names = std::collections::BTreeSet::new();
        for schedule in &manifest.schedules {
            schedule.check()?;
            if !names.insert(schedule.name.as_str()) {
                return Err(ManifestError::Schedule {
                    name: schedule.name.clone(),
                    message: "two schedules have this name".into(),
                });
            }
        }
        if manifest.schedules.len() as u64 > crate::schedule::MAX_SCHEDULES_PER_TENANT {
            return Err(ManifestError::Schedule {
                name: manifest.schedules[0].name.clone(),
                message: format!(
                    "a manifest declares at most {} schedules",
                    crate::schedule::MAX_SCHEDULES_PER_TENANT
                ),
            });
        }
        Ok(manifest)
    }

    /// The manifest embedded in `wasm`, if any.
    pub(crate) fn from_component(wasm: &[u8]) -> Result<Option<Manifest>, ManifestError> {
        match crate::sections::top_level_custom_section(wasm, SECTION) {
            None => Ok(None),
            Some(data) => {
                let text = std::str::from_utf8(data).map_err(|_| ManifestError::NotText)?;
                Manifest::parse(text).map(Some)
            }
        }
    }

    /// The policy of procedure `name`, over the deployment's `limits`.
    pub(crate) fn policy(&self, name: &str, limits: CallLimits) -> Result<Policy, ManifestError> {
        match self.procedures.get(name) {
            Some(section) => section.policy(name, limits),
            None => Ok(Policy::default_for(limits)),
        }
    }

    /// Refuse a manifest that configures procedures the component does not export.
    pub(crate) fn check_names(
        &self,
        mut exported: impl FnMut(&str) -> bool,
    ) -> Result<(), ManifestError> {
        if let Some(unknown) = self.procedures.keys().find(|name| !exported(name)) {
            return Err(ManifestError::UnknownProcedure(unknown.clone()));
        }
        match self.schedules.iter().find(|s| !exported(&s.procedure)) {
            Some(schedule) => Err(ManifestError::Schedule {
                name: schedule.name.clone(),
                message: format!(
                    "procedure {:?} is not one the component exports",
                    schedule.procedure
                ),
            }),
            None => Ok(()),
        }
    }
}

impl ProcedureSection {
    fn policy(&self, procedure: &str, limits: CallLimits) -> Result<Policy, ManifestError> {
        let bad = |message: String| ManifestError::Procedure {
            procedure: procedure.to_string(),
            message,
        };
        let route = self
            .route
            .as_deref()
            .map(parse_route)
            .transpose()
            .map_err(bad)?;
        let cache_ttl = self
            .cache_ttl
            .as_deref()
            .map(|t| parse_duration("cache-ttl", t))
            .transpose()
            .map_err(bad)?;
        if let Some(ttl) = cache_ttl
            && ttl > MAX_CACHE_TTL
        {
            return Err(bad(format!(
                "cache-ttl {} is above the maximum of {}",
                humantime::format_duration(ttl),
                humantime::format_duration(MAX_CACHE_TTL)
            )));
        }
        let rate_limit = self
            .rate_limit
            .as_deref()
            .map(parse_rate_limit)
            .transpose()
            .map_err(bad)?;
        let timeout_ms = self
            .timeout
            .as_deref()
            .map(|t| parse_duration("timeout", t).map(|d| d.as_millis() as u64))
            .transpose()
            .map_err(bad)?;
        let limits = CallLimits {
            fuel: self.fuel.unwrap_or(limits.fuel),
            memory_bytes: self
                .memory_mib
                .map_or(limits.memory_bytes, |mib| mib.saturating_mul(1 << 20)),
            timeout_ms: timeout_ms.unwrap_or(limits.timeout_ms),
        };
        let limits = CallLimits::with_overrides(
            Some(limits.fuel),
            Some(limits.memory_bytes),
            Some(limits.timeout_ms),
        )
        .map_err(|e| bad(e.to_string()))?;
        Ok(Policy {
            route,
            description: self.description.clone(),
            tags: self.tags.clone(),
            public: self.public.unwrap_or(true),
            cache_ttl,
            rate_limit,
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RouteMethod;

    #[test]
    fn http_prefixes_are_plain_paths_outside_the_hosts_own() {
        for good in ["/site", "/a/b-c/d.e_f~g", "/docs2", "/T1"] {
            assert!(
                check_http_prefix(good).is_ok(),
                "{good:?} should be accepted"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_HTTP_PREFIX_LEN));
        for bad in [
            "",
            "/",
            "site",
            "/site/",
            "//site",
            "/a/../b",
            "/a/./b",
            "/a b",
            "/a%2fb",
            "/v1",
            "/t/x",
            "/docs",
            "/rpc/x",
            "/openapi.json",
            &long,
        ] {
            assert!(check_http_prefix(bad).is_err(), "{bad:?} should be refused");
        }
        let manifest = Manifest::parse("[http]\nprefix = \"/v1/x\"\n");
        assert!(
            matches!(&manifest, Err(ManifestError::Http(m)) if m.contains("reserved")),
            "{manifest:?}"
        );
    }

    #[test]
    fn a_full_manifest_parses_into_policies() {
        let manifest = Manifest::parse(
            r#"
            [component]
            name = "catalog"
            version = "1.0.0"

            [procedures."items.get"]
            route = "GET /items/{id}"
            tags = ["items"]
            cache-ttl = "30s"
            rate-limit = "5/min"
            timeout = "250ms"
            fuel = 1000
            memory-mib = 8
            "#,
        )
        .expect("valid");
        assert_eq!(manifest.component.name.as_deref(), Some("catalog"));
        let policy = manifest
            .policy("items.get", CallLimits::default())
            .expect("valid policy");
        let route = policy.route.expect("a route");
        assert_eq!(route.method, RouteMethod::Get);
        assert_eq!(route.path_params, vec!["id".to_string()]);
        assert_eq!(policy.cache_ttl, Some(Duration::from_secs(30)));
        assert_eq!(
            policy.rate_limit.map(|r| (r.requests.get(), r.per)),
            Some((5, Duration::from_secs(60)))
        );
        assert_eq!(policy.limits.timeout_ms, 250);
        assert_eq!(policy.limits.fuel, 1000);
        assert_eq!(policy.limits.memory_bytes, 8 << 20);
        let other = manifest
            .policy("items.other", CallLimits::default())
            .expect("defaults");
        assert!(other.public && other.route.is_none());
    }

    #[test]
    fn grants_name_buckets() {
        let manifest =
            Manifest::parse("[grants]\nkey-value = [\"todos\", \"v1.cache\"]").expect("valid");
        assert!(manifest.grants.allows_bucket("todos"));
        assert!(manifest.grants.allows_bucket("v1.cache"));
        assert!(!manifest.grants.allows_bucket("other"));
        assert!(!Manifest::default().grants.allows_bucket("todos"));
    }

    #[test]
    fn bad_manifests_name_the_problem() {
        for (text, expected) in [
            ("[grants]\nkey-value = [\"a/b\"]", "bucket name"),
            ("[grants]\nkey-value = [\"\"]", "bucket name"),
            ("[grants]\nsockets = true", "unknown field"),
            ("[procedures.x]\nroute = \"FETCH /a\"", "method"),
            (
                "[procedures.x]\nroute = \"GET /v1/things\"",
                "host's own API",
            ),
            ("[procedures.x]\nroute = \"GET /a/{id}/{id}\"", "twice"),
            ("[procedures.x]\nroute = \"GET /a/x{id}\"", "characters"),
            ("[procedures.x]\ncache-ttl = \"soon\"", "duration"),
            (
                "[procedures.x]\nrate-limit = \"10/fortnight\"",
                "rate-limit",
            ),
            ("[procedures.x]\nmemory-mib = 999999", "maximum"),
            ("[procedures.x]\ncolour = \"red\"", "unknown field"),
        ] {
            let error = Manifest::parse(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn unknown_procedures_are_refused() {
        let manifest = Manifest::parse("[procedures.\"a.b\"]\npublic = false").expect("valid");
        assert!(manifest.check_names(|n| n == "a.b").is_ok());
        assert!(matches!(
            manifest.check_names(|_| false),
            Err(ManifestError::UnknownProcedure(name)) if name == "a.b"
        ));
    }
}
