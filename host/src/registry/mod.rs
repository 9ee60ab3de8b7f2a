//! Deployed components and the procedures they export.
//!
//! - [`reflect`]: procedures from a component's own types.
//! - [`docs`]: descriptions from WIT doc comments, when the component carries them.
//! - [`json`]: JSON <-> WIT values.
//! - [`schema`]: JSON Schema for WIT types.
//!
//! A [`Deployment`] is one version of one named component, compiled and pre-linked. The
//! [`Registry`] maps names to deployments and procedure names to the deployment that owns
//! them, and REST routes to procedures; replacing a deployment swaps all of it under one
//! lock, so a caller sees either the old version or the new one, never a mix.

pub(crate) mod docs;
pub(crate) mod json;
pub(crate) mod reflect;
pub(crate) mod routes;
pub(crate) mod schema;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{ComponentExportIndex, InstancePre, Type};

use crate::capabilities::catalogue;
use crate::grants::Grants;
use crate::limits::CallLimits;
use crate::manifest::{ComponentSection, Manifest, ManifestError, check_http_prefix};
use crate::policy::Enforcement;
use crate::runtime::Runtime;
use crate::runtime::StoreState;
use crate::runtime::engine::RuntimeError;

pub(crate) use reflect::Unexposed;
pub(crate) use routes::Routes;

/// Longest component name accepted.
pub(crate) const MAX_COMPONENT_NAME_LEN: usize = 64;

/// Why a component cannot be deployed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "invalid component name {0:?}: use 1 to {MAX_COMPONENT_NAME_LEN} characters from a-z, 0-9 and '-' (no '_' or capitals: names stand in URLs), starting with a letter"
    )]
    InvalidName(String),
    #[error("the upload is not WebAssembly (it does not start with the \\0asm magic bytes)")]
    NotWasm,
    #[error(
        "the upload is a core WebAssembly module, not a component; build for wasm32-wasip2 (`tsdev build`) or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    #[error("the component does not compile: {0}")]
    Invalid(String),
    #[error("the component imports something this host does not provide: {0}")]
    UnsupportedImport(String),
    #[error(
        "the component imports {interface}, which its manifest does not grant; add {grant} to its tsdev.toml"
    )]
    NotGranted { interface: String, grant: String },
    #[error("{0}")]
    Reflect(String),
    #[error(transparent)]
    TypeTooComplex(#[from] reflect::TypeTooComplex),
    #[error(
        "procedure {procedure} is already exported by component {owner}; remove or rename one of them"
    )]
    Conflict { procedure: String, owner: String },
    #[error("invalid tsdev manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error(
        "route {route} of procedure {procedure} conflicts with route {other_route} of procedure {other_procedure} (component {other_component})"
    )]
    RouteConflict {
        route: String,
        procedure: String,
        other_route: String,
        other_procedure: String,
        other_component: String,
    },
    #[error(
        "component {other_component} is served under {prefix} already; give this one another [http] prefix in its tsdev.toml"
    )]
    PrefixConflict {
        prefix: String,
        other_component: String,
    },
}

/// One callable function of a deployment.
pub struct Procedure {
    pub name: String,
    pub export: ComponentExportIndex,
    pub params: Vec<(String, Type)>,
    pub result: Option<Type>,
    pub signature: String,
    pub params_schema: Value,
    pub result_schema: Value,
    /// From the manifest, else from the WIT doc comments.
    pub description: Option<String>,
    /// Route, exposure, cache, rate limit and call limits, from the manifest.
    pub enforcement: Enforcement,
}

impl Procedure {
    /// The limits a call of this procedure runs under.
    pub fn limits(&self) -> CallLimits {
        self.enforcement.policy.limits
    }

    /// Callable over HTTP.
    pub fn is_public(&self) -> bool {
        self.enforcement.policy.public
    }
}

/// One version of one named component, compiled and pre-linked.
pub struct Deployment {
    pub name: String,
    /// Hex SHA-256 of the component bytes.
    pub version: String,
    pub size_bytes: usize,
    pub limits: CallLimits,
    /// Milliseconds since the Unix epoch.
    pub deployed_at: i64,
    pub pre: InstancePre<StoreState>,
    pub procedures: Vec<Procedure>,
    pub unexposed: Vec<Unexposed>,
    /// The component imports `tsdev:workflow/durable`: its functions are workflows.
    pub workflows: bool,
    /// The manifest's `[component]` (version and description), when it has one.
    pub about: ComponentSection,
    /// What its manifest grants it (`[grants]`).
    pub grants: Arc<Grants>,
    /// How it is served over HTTP, when it exports `wasi:http/incoming-handler`.
    pub http: Option<HttpHandler>,
    /// It imports a capability (key-value, config, invoke, wasi:http): its calls need
    /// their grants and scope at hand.
    pub uses_capabilities: bool,
    /// The cron schedules its manifest declares (`[[schedule]]`), checked.
    pub schedules: Vec<crate::schedule::Spec>,
}

/// A component exporting `wasi:http/incoming-handler`, served under a path prefix: each
/// request runs its `handle` in a fresh instance.
pub struct HttpHandler {
    /// Its `handle` function.
    pub export: ComponentExportIndex,
    /// The path it is served under, e.g. `/site`: `/site/...` of tenant default and
    /// `/t/T/site/...` of tenant T. The handler sees the path after it.
    pub prefix: String,
    /// Anyone may send it requests; else only callers with scope call.
    pub public: bool,
}

impl HttpHandler {
    /// The rest of `path` if it lies under this handler's prefix (`/site` takes `/site`
    /// and `/site/...`, not `/sites`): what the handler sees, always starting with `/`.
    pub fn path_within<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        if rest.is_empty() {
            Some("/")
        } else if rest.starts_with('/') {
            Some(rest)
        } else {
            None
        }
    }
}

/// Hex SHA-256 of `bytes`: a component's version.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Component names are used in URLs and logs: keep them plain.
pub(crate) fn check_name(name: &str) -> Result<(), DeployError> {
    if crate::access::is_plain_name(name, MAX_COMPONENT_NAME_LEN) {
        Ok(())
    } else {
        Err(DeployError::InvalidName(name.to_string()))
    }
}

/// Tell a component from a core module or from something that is not wasm at all.
pub(crate) fn check_component_bytes(wasm: &[u8]) -> Result<(), DeployError> {
    if !wasm.starts_with(b"\0asm") {
        return Err(DeployError::NotWasm);
    }
    if wasmparser::Parser::is_core_wasm(wasm) {
        return Err(DeployError::CoreModule);
    }
    Ok(())
}

/// Refuse a component that imports a capability its manifest does not grant, naming the
/// interface and the grant that would allow it (the grants: `capabilities::catalogue`).
fn check_grants<'a>(
    imports: impl IntoIterator<Item = &'a str>,
    grants: &Grants,
) -> Result<(), DeployError> {
    for import in imports {
        if let Some(grant) = catalogue::grant_needed(import, grants) {
            return Err(DeployError::NotGranted {
                interface: import.to_string(),
                grant: format!("[grants] {grant}"),
            });
        }
    }
    Ok(())
}

/// Refuse a component that imports an interface of a package this host does not provide,
/// from its import section alone, before anything is compiled.
pub(crate) fn check_imports(wasm: &[u8]) -> Result<(), DeployError> {
    use wasmparser::{Parser, Payload};
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| DeployError::Invalid(e.to_string()))?;
        match payload {
            // Every module and component, nested ones too, starts with a version and
            // ends with an end: only the outermost component's imports are the host's.
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(imports) if depth == 1 => {
                for import in imports {
                    let import = import.map_err(|e| DeployError::Invalid(e.to_string()))?;
                    let name = import.name.name;
                    let package = name.split('/').next().unwrap_or(name);
                    if name.contains('/') && !catalogue::provides(package) {
                        return Err(DeployError::UnsupportedImport(format!(
                            "{name}: this host provides no {package} (it provides {})",
                            catalogue::provided_packages().join(", ")
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl Deployment {
    /// Validate, compile (or load from the cache), link and reflect a component.
    /// CPU-heavy: call from a blocking thread.
    pub fn prepare(
        runtime: &Runtime,
        name: &str,
        wasm: &[u8],
        limits: CallLimits,
        deployed_at: i64,
    ) -> Result<Deployment, DeployError> {
        check_name(name)?;
        check_component_bytes(wasm)?;
        // Cheap checks first: a big component takes seconds to compile.
        check_imports(wasm)?;
        let version = content_hash(wasm);
        let component = runtime.compile(wasm, &version).map_err(|e| match e {
            RuntimeError::Compile(m) | RuntimeError::Engine(m) | RuntimeError::Link(m) => {
                DeployError::Invalid(with_hint(m))
            }
        })?;
        let pre = runtime
            .link(&component)
            .map_err(|e| DeployError::UnsupportedImport(e.to_string()))?;
        let (found, unexposed) =
            reflect::procedures(runtime.engine(), &component).map_err(|e| match e {
                reflect::ReflectError::TypeTooComplex(e) => DeployError::TypeTooComplex(e),
                reflect::ReflectError::Exports(m) => DeployError::Reflect(m),
            })?;
        let mut descriptions = docs::descriptions(wasm);
        let manifest = Manifest::from_component(wasm)?.unwrap_or_default();
        manifest.check_names(|name| found.iter().any(|p| p.name == name))?;
        let schedules = manifest
            .schedules
            .iter()
            .map(|s| {
                let args = s.args_json();
                if let Some(p) = found.iter().find(|p| p.name == s.procedure) {
                    json::args_from_json(&p.params, &args).map_err(|e| {
                        ManifestError::Schedule {
                            name: s.name.clone(),
                            message: format!("args for {}: {e}", s.procedure),
                        }
                    })?;
                }
                Ok(crate::schedule::Spec {
                    name: s.name.clone(),
                    cron: s.cron.clone(),
                    timezone: s.timezone().to_string(),
                    procedure: s.procedure.clone(),
                    args,
                    missed: s.missed,
                })
            })
            .collect::<Result<Vec<_>, ManifestError>>()?;
        let imports: Vec<String> = component
            .component_type()
            .imports(runtime.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        check_grants(imports.iter().map(String::as_str), &manifest.grants)?;
        let http = match (
            reflect::http_handler(runtime.engine(), &component),
            &manifest.http,
        ) {
            (Some(export), section) => {
                let section = section.clone().unwrap_or_default();
                let prefix = match section.prefix {
                    Some(prefix) => prefix,
                    None => {
                        let prefix = format!("/{name}");
                        check_http_prefix(&prefix).map_err(|e| {
                            let e = match e {
                                ManifestError::Http(message) => message,
                                other => other.to_string(),
                            };
                            ManifestError::Http(format!(
                                "{e}; that is the default prefix, from the component's name: \
                                 set another with [http] prefix in its tsdev.toml"
                            ))
                        })?;
                        prefix
                    }
                };
                Some(HttpHandler {
                    export,
                    prefix,
                    public: section.public.unwrap_or(true),
                })
            }
            (None, Some(_)) => {
                return Err(ManifestError::Http(
                    "the component exports no wasi:http/incoming-handler to serve".into(),
                )
                .into());
            }
            (None, None) => None,
        };
        let workflows = imports
            .iter()
            .any(|name| name.starts_with("tsdev:workflow/durable"));
        let procedures = found
            .into_iter()
            .map(|p| {
                let policy = manifest.policy(&p.name, limits)?;
                routes::check_route_params(&p.name, &policy, &p.params)?;
                Ok(Procedure {
                    description: policy
                        .description
                        .clone()
                        .or_else(|| descriptions.remove(&p.name)),
                    params_schema: schema::params_schema(&p.params),
                    result_schema: schema::result_schema(p.result.as_ref()),
                    enforcement: Enforcement::new(policy),
                    name: p.name,
                    export: p.export,
                    params: p.params,
                    result: p.result,
                    signature: p.signature,
                })
            })
            .collect::<Result<Vec<_>, DeployError>>()?;
        Ok(Deployment {
            name: name.to_string(),
            version,
            size_bytes: wasm.len(),
            limits,
            deployed_at,
            pre,
            procedures,
            unexposed,
            workflows,
            about: manifest.component,
            grants: Arc::new(manifest.grants),
            http,
            uses_capabilities: imports.iter().any(|i| catalogue::is_scoped(i)),
            schedules,
        })
    }
}

/// A compile error, with what to do about the ones a toolchain's defaults cause.
fn with_hint(message: String) -> String {
    if message.contains("component model async feature") {
        // Experimental in wasmtime 48, so not enabled: docs/procedures-and-wit.md.
        format!(
            "{message}; this host does not run the component model's async ABI yet: build \
             without it (componentize-qjs: --sync)"
        )
    } else {
        message
    }
}

/// A procedure together with the deployment that owns it.
#[derive(Clone)]
pub struct ProcedureRef {
    pub deployment: Arc<Deployment>,
    index: usize,
}

impl ProcedureRef {
    pub fn procedure(&self) -> &Procedure {
        &self.deployment.procedures[self.index]
    }
}

/// Deployed components by name and procedures by name.
#[derive(Default)]
pub struct Registry {
    index: RwLock<Index>,
    /// Counts changes, so that what is derived from the registry (the OpenAPI document)
    /// is rebuilt once per change, not per request.
    generation: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Index {
    deployments: BTreeMap<String, Arc<Deployment>>,
    procedures: HashMap<String, ProcedureRef>,
    routes: Arc<Routes>,
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        // The index is only ever swapped whole, so a poisoned lock still holds a valid index.
        self.index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refuse `deployment` if another component already exports one of its procedures or
    /// serves one of its routes.
    pub fn check_conflicts(&self, deployment: &Arc<Deployment>) -> Result<(), DeployError> {
        let index = self.read();
        index.conflict(deployment)?;
        index.routes_with(Some(deployment), None).map(|_| ())
    }

    /// Install `deployment`, replacing any deployment of the same name. Returns the old one.
    pub fn install(
        &self,
        deployment: Arc<Deployment>,
    ) -> Result<Option<Arc<Deployment>>, DeployError> {
        let mut index = self.write();
        index.conflict(&deployment)?;
        let routes = index.routes_with(Some(&deployment), None)?;
        index.routes = Arc::new(routes);
        let old = index
            .deployments
            .insert(deployment.name.clone(), deployment.clone());
        if let Some(old) = &old {
            for procedure in &old.procedures {
                index.procedures.remove(&procedure.name);
            }
        }
        self.changed();
        for (i, procedure) in deployment.procedures.iter().enumerate() {
            index.procedures.insert(
                procedure.name.clone(),
                ProcedureRef {
                    deployment: deployment.clone(),
                    index: i,
                },
            );
        }
        Ok(old)
    }

    /// Replace everything with `deployments` at once (a node following what another node
    /// deployed): refused, with nothing changed, if they conflict among themselves.
    pub fn replace_all(&self, deployments: Vec<Arc<Deployment>>) -> Result<(), DeployError> {
        let mut fresh = Index::default();
        for deployment in deployments {
            fresh.conflict(&deployment)?;
            for (i, procedure) in deployment.procedures.iter().enumerate() {
                fresh.procedures.insert(
                    procedure.name.clone(),
                    ProcedureRef {
                        deployment: deployment.clone(),
                        index: i,
                    },
                );
            }
            fresh
                .deployments
                .insert(deployment.name.clone(), deployment);
        }
        fresh.routes = Arc::new(fresh.routes_with(None, None)?);
        *self.write() = fresh;
        self.changed();
        Ok(())
    }

    /// Remove the deployment called `name`; returns it if there was one.
    pub fn remove(&self, name: &str) -> Option<Arc<Deployment>> {
        let mut index = self.write();
        if let Ok(routes) = index.routes_with(None, Some(name)) {
            index.routes = Arc::new(routes);
        }
        let old = index.deployments.remove(name)?;
        for procedure in &old.procedures {
            index.procedures.remove(&procedure.name);
        }
        self.changed();
        Some(old)
    }

    fn changed(&self) {
        // Drawn from one counter for the process: a registry made anew (a tenant deleted
        // and created again) never repeats a generation another one had.
        static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let next = GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        self.generation
            .store(next, std::sync::atomic::Ordering::SeqCst);
    }

    /// A number that changes whenever a deployment is installed or removed; an empty,
    /// never-changed registry has 0.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Deployment>> {
        self.read().deployments.get(name).cloned()
    }

    /// All deployments, by name.
    pub fn list(&self) -> Vec<Arc<Deployment>> {
        self.read().deployments.values().cloned().collect()
    }

    pub fn procedure(&self, name: &str) -> Option<ProcedureRef> {
        self.read().procedures.get(name).cloned()
    }

    /// The procedure named most like `name` (a misspelling, a wrong case, a missing
    /// interface), among those `visible` to the caller: a suggestion for a name not found.
    pub fn closest_procedure(
        &self,
        name: &str,
        visible: impl Fn(&Procedure) -> bool,
    ) -> Option<String> {
        let index = self.read();
        index
            .procedures
            .iter()
            .filter(|(_, found)| visible(found.procedure()))
            .map(|(candidate, _)| {
                let distance =
                    strsim::jaro_winkler(&name.to_lowercase(), &candidate.to_lowercase());
                // A bare function name matches `interface.function`.
                let tail = candidate.rsplit('.').next().unwrap_or(candidate);
                let bare = if tail.eq_ignore_ascii_case(name) {
                    1.0
                } else {
                    0.0
                };
                (distance.max(bare), candidate)
            })
            .filter(|(similarity, _)| *similarity >= CLOSE_ENOUGH)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| candidate.clone())
    }

    /// The wasi:http component serving `path` (the longest prefix that takes it), and the
    /// path as the component sees it.
    pub fn http_handler(&self, path: &str) -> Option<(Arc<Deployment>, String)> {
        let index = self.read();
        index
            .deployments
            .values()
            .filter_map(|d| {
                let within = d.http.as_ref()?.path_within(path)?;
                Some((d, within))
            })
            .max_by_key(|(d, _)| d.http.as_ref().map_or(0, |h| h.prefix.len()))
            .map(|(d, within)| (d.clone(), within.to_string()))
    }

    /// The REST routes of everything deployed, as one snapshot.
    pub fn routes(&self) -> Arc<Routes> {
        self.read().routes.clone()
    }
}

/// How alike (Jaro-Winkler, 0 to 1) a name must be to another to be suggested for it.
const CLOSE_ENOUGH: f64 = 0.85;

impl Index {
    /// The route table with `added` installed (replacing its namesake) and `removed` gone.
    fn routes_with(
        &self,
        added: Option<&Arc<Deployment>>,
        removed: Option<&str>,
    ) -> Result<Routes, DeployError> {
        let replaced = added.map(|d| d.name.as_str()).or(removed);
        let kept = self
            .deployments
            .values()
            .filter(|d| Some(d.name.as_str()) != replaced);
        Routes::build(kept.chain(added))
    }

    fn conflict(&self, deployment: &Deployment) -> Result<(), DeployError> {
        if let Some(http) = &deployment.http
            && let Some(other) = self.deployments.values().find(|other| {
                other.name != deployment.name
                    && other.http.as_ref().is_some_and(|o| o.prefix == http.prefix)
            })
        {
            return Err(DeployError::PrefixConflict {
                prefix: http.prefix.clone(),
                other_component: other.name.clone(),
            });
        }
        for procedure in &deployment.procedures {
            if let Some(existing) = self.procedures.get(&procedure.name)
                && existing.deployment.name != deployment.name
            {
                return Err(DeployError::Conflict {
                    procedure: procedure.name.clone(),
                    owner: existing.deployment.name.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("hello-world2").is_ok());
        for bad in ["", "Hello", "1abc", "a/b", "a_b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn core_modules_and_garbage_are_told_apart() {
        assert!(matches!(
            check_component_bytes(b"hello"),
            Err(DeployError::NotWasm)
        ));
        let core = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        assert!(matches!(
            check_component_bytes(&core),
            Err(DeployError::CoreModule)
        ));
        let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        assert!(check_component_bytes(&component).is_ok());
    }
}
