//! `tsdev serve`: run the host.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use std::path::Path;
use std::sync::Arc;

use crate::host::{Host, HostConfig};
use crate::http::{AppState, AuthMode};
use crate::limits::CallLimits;
use crate::registry::Deployment;
use crate::retention::{Period, Retention};
use crate::store::DEFAULT_TENANT;
use crate::workflow::WorkflowEngine;

/// After a stop signal, how long requests in progress may take before the host exits anyway.
const HTTP_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Run the host: HTTP API on `--listen`, state under `--data`.
#[derive(Args)]
pub(super) struct ServeCommand {
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, env = "TSDEV_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Data directory: embedded database and compiled-component cache.
    #[arg(long, env = "TSDEV_DATA", default_value = "./.tsdev")]
    data: PathBuf,
    /// Database URL (sqlite://… or postgres://…) instead of the embedded database.
    #[arg(long, env = "TSDEV_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Build (if a crate directory) and deploy this component at start; repeatable.
    /// A directory is built with `tsdev build`; a .wasm file is deployed as it is.
    #[arg(
        long = "deploy",
        env = "TSDEV_DEPLOY",
        value_name = "PATH",
        value_delimiter = ','
    )]
    deploy: Vec<PathBuf>,
    /// Allow browsers on this origin to call the API (CORS); repeatable, `*` for any.
    #[arg(
        long = "cors-origin",
        env = "TSDEV_CORS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Take the host admin key from this file (one line) instead of making one at the
    /// first start (DATA/admin.key).
    #[arg(
        long,
        env = "TSDEV_ADMIN_KEY_FILE",
        value_name = "PATH",
        conflicts_with = "insecure_no_auth"
    )]
    admin_key_file: Option<PathBuf>,
    /// The key that seals component secrets (base64 of 32 random bytes, one line): every
    /// node of a cluster needs the same. Default: DATA/secrets.key, made at the first start.
    #[arg(long, env = "TSDEV_SECRETS_KEY_FILE", value_name = "PATH")]
    secrets_key_file: Option<PathBuf>,
    /// The host admin key itself (prefer --admin-key-file: the environment is easy to leak).
    #[arg(
        long,
        env = "TSDEV_ADMIN_KEY",
        hide_env_values = true,
        hide = true,
        conflicts_with = "admin_key_file"
    )]
    admin_key: Option<String>,
    /// No API keys: everything is tenant `default`, for local development. Refused unless
    /// --listen is a loopback address.
    #[arg(long, env = "TSDEV_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// How the log (stderr) is written: text for people, JSON lines for log pipelines.
    #[arg(long, env = "TSDEV_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: crate::telemetry::LogFormat,
    /// Send traces as OpenTelemetry (OTLP over HTTP/protobuf) to the collector at this base
    /// URL (`http://collector:4318`; spans go to its /v1/traces). Without it, the standard
    /// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used when set;
    /// with neither, no traces are made.
    #[arg(long, env = "TSDEV_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Record at most this many new traces a second (a caller's sampled trace counts as
    /// one); the rest are not recorded, which bounds what traces cost under load. The
    /// standard OTEL_TRACES_SAMPLER, when set, wins (parentbased_always_on: every trace).
    #[arg(long, env = "TSDEV_TRACES_PER_SECOND", value_name = "N", default_value_t = crate::telemetry::traces::DEFAULT_TRACES_PER_SECOND)]
    traces_per_second: std::num::NonZeroU32,
    /// How long finished workflow executions (with their journals and signals) are kept
    /// after they finish: a duration (30d, 12h) or `forever`.
    #[arg(long, env = "TSDEV_RETAIN_EXECUTIONS", value_name = "PERIOD", default_value = "30d", value_parser = crate::retention::parse_period)]
    retain_executions: Period,
    /// How long audit entries are kept: a duration (365d) or `forever`.
    #[arg(long, env = "TSDEV_RETAIN_AUDIT", value_name = "PERIOD", default_value = "365d", value_parser = crate::retention::parse_period)]
    retain_audit: Period,
    /// After SIGTERM or SIGINT, keep serving this long with /ready answering 503 before
    /// the listener closes, so that load balancers stop sending new requests first (in
    /// Kubernetes, a few seconds more than the readiness probe's period).
    #[arg(long, env = "TSDEV_SHUTDOWN_DELAY", value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    shutdown_delay: std::time::Duration,
    /// Take settings from this TOML file, keyed by these flags' long names (a flag or its
    /// TSDEV_* variable wins over the file).
    #[arg(long, env = "TSDEV_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (secrets hidden) as such a file, and exit.
    #[arg(long)]
    print_config: bool,
}

impl ServeCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        if self.print_config {
            print!("{}", self.effective_config()?);
            return Ok(());
        }
        let export = crate::telemetry::TraceExport::from_flag(
            self.otlp_endpoint.as_deref(),
            self.traces_per_second,
        )?;
        let traces = crate::telemetry::init(self.log_format, export.as_ref())?;
        let served = self.serve().await;
        // Spans still queued are sent before the process ends.
        let _ = tokio::task::spawn_blocking(move || traces.flush()).await;
        served
    }

    async fn serve(self) -> anyhow::Result<()> {
        if self.insecure_no_auth && !self.listen.ip().is_loopback() {
            anyhow::bail!(
                "--insecure-no-auth serves everyone who can reach {} without keys: it is \
                 refused unless --listen is a loopback address (127.0.0.1, [::1])",
                self.listen
            );
        }
        let host = Host::open(
            &HostConfig {
                data_dir: self.data.clone(),
                database_url: self.database_url.clone(),
                secrets_key_file: self.secrets_key_file.clone(),
            },
            crate::workflow::IMPORTS,
        )
        .await
        .context("opening the host")?;
        let auth = if self.insecure_no_auth {
            tracing::warn!(
                "API keys are off (--insecure-no-auth): every request acts as tenant default"
            );
            AuthMode::Off
        } else {
            let given = match (&self.admin_key_file, &self.admin_key) {
                (Some(path), _) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading the admin key file {}", path.display()))?
                        .trim()
                        .to_string(),
                ),
                (None, Some(key)) => Some(key.trim().to_string()),
                (None, None) => None,
            };
            super::bootstrap::admin_key(host.store(), &self.data, given).await?;
            AuthMode::Keys
        };
        for path in &self.deploy {
            deploy_path(&host, path).await?;
        }
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let addr = listener.local_addr()?;
        // Follow other nodes on the same database, then resume unfinished workflow
        // executions: every one is due.
        crate::cluster::follow(&host).await;
        let workflows = WorkflowEngine::new(host.clone());
        workflows.spawn_scheduler(&addr.to_string());
        crate::workflow::fire_schedules(&workflows);
        crate::retention::spawn(
            host.shared_store(),
            Retention {
                executions: self.retain_executions.0,
                audit: self.retain_audit.0,
            },
        );
        // Runtime tests read this line to find the port.
        super::say!("listening on http://{addr}");
        for deployment in host.registry(DEFAULT_TENANT).list() {
            print_urls(addr, &deployment);
        }
        if auth == AuthMode::Keys {
            super::say!(
                "  API keys are required for everything but public procedures; the admin key is in {}",
                self.data.join(super::bootstrap::ADMIN_KEY_FILE).display()
            );
        }
        let app = crate::http::app(
            AppState::new(workflows.clone()),
            &crate::http::HttpConfig {
                cors_origins: self.cors_origins.clone(),
                loopback_only: addr.ip().is_loopback(),
                auth,
            },
        )?;
        let stopping = Arc::new(tokio::sync::Notify::new());
        let signalled = stopping.clone();
        let (delay, stopping_host) = (self.shutdown_delay, host.clone());
        let mut server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    shutdown_signal().await;
                    stopping_host.begin_stopping();
                    if !delay.is_zero() {
                        tracing::info!(
                            "not ready; the listener closes in {}",
                            humantime::format_duration(delay)
                        );
                        tokio::time::sleep(delay).await;
                    }
                    signalled.notify_one();
                })
                .await
        });
        // The signal first: with no request open, the server ends at the same moment.
        tokio::select! {
            biased;
            () = stopping.notified() => {}
            served = &mut server => return Ok(served.context("serving HTTP")??),
        }
        // Other nodes resume this node's executions at once, not after their leases.
        if let Err(e) = workflows.stop().await {
            tracing::warn!("handing back workflow leases: {e}");
        }
        // Requests still open (event streams, long waits) get this long to end.
        match tokio::time::timeout(HTTP_DRAIN, server).await {
            Ok(served) => served.context("serving HTTP")??,
            Err(_) => tracing::warn!(
                "requests still open {} s after the stop signal were cut off",
                HTTP_DRAIN.as_secs()
            ),
        }
        Ok(())
    }
}

impl ServeCommand {
    /// The settings in force, as a configuration file would give them; the database URL's
    /// password and the admin key are not shown.
    fn effective_config(&self) -> anyhow::Result<String> {
        use toml::Value;
        let strings =
            |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
        let period = |p: Period| p.0.map_or_else(|| "forever".into(), whole_units);
        let mut table = toml::Table::new();
        table.insert("listen".into(), Value::String(self.listen.to_string()));
        table.insert(
            "data".into(),
            Value::String(self.data.display().to_string()),
        );
        if let Some(url) = &self.database_url {
            table.insert(
                "database-url".into(),
                Value::String(crate::host::redact_url(url)),
            );
        }
        table.insert(
            "deploy".into(),
            strings(
                self.deploy
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            ),
        );
        table.insert("cors-origin".into(), strings(self.cors_origins.clone()));
        if let Some(path) = &self.admin_key_file {
            table.insert(
                "admin-key-file".into(),
                Value::String(path.display().to_string()),
            );
        }
        if let Some(path) = &self.secrets_key_file {
            table.insert(
                "secrets-key-file".into(),
                Value::String(path.display().to_string()),
            );
        }
        table.insert(
            "insecure-no-auth".into(),
            Value::Boolean(self.insecure_no_auth),
        );
        if let Some(url) = &self.otlp_endpoint {
            table.insert(
                "otlp-endpoint".into(),
                Value::String(crate::host::redact_url(url)),
            );
        }
        table.insert(
            "traces-per-second".into(),
            Value::Integer(i64::from(self.traces_per_second.get())),
        );
        let format = clap::ValueEnum::to_possible_value(&self.log_format)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        table.insert("log-format".into(), Value::String(format));
        table.insert(
            "retain-executions".into(),
            Value::String(period(self.retain_executions)),
        );
        table.insert(
            "retain-audit".into(),
            Value::String(period(self.retain_audit)),
        );
        table.insert(
            "shutdown-delay".into(),
            Value::String(whole_units(self.shutdown_delay)),
        );
        let mut text = String::from(
            "# tsdev serve: the configuration in force (flags, then TSDEV_* variables, then --config, then defaults)\n",
        );
        if let Some(path) = &self.config {
            text.push_str(&format!("# configuration file: {}\n", path.display()));
        }
        if self.admin_key.is_some() {
            text.push_str(
                "# admin key: given (TSDEV_ADMIN_KEY or the file's admin-key), not shown\n",
            );
        }
        text.push_str(&toml::to_string(&table).context("writing the configuration")?);
        Ok(text)
    }
}

/// `d` in the largest unit that measures it whole: `365d`, `12h`, `90s`, `250ms`.
fn whole_units(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Deploy a crate directory (built with `tsdev build`) or a .wasm file into `host`.
pub(crate) async fn deploy_path(host: &Host, path: &Path) -> anyhow::Result<Arc<Deployment>> {
    let (name, wasm_path) = if path.is_dir() {
        let built = super::build::BuildCommand::for_deploy(path.to_path_buf())
            .run()
            .await?;
        (Some(built.name), built.wasm)
    } else {
        (None, path.to_path_buf())
    };
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let name = match name {
        Some(name) => name,
        None => super::default_component_name(path, &wasm)?,
    };
    let deployment = host
        .deploy(DEFAULT_TENANT, &name, wasm, CallLimits::default(), None)
        .await
        .with_context(|| format!("deploying {}", wasm_path.display()))?;
    super::say!(
        "deployed {} ({} procedures)",
        deployment.name,
        deployment.procedures.len()
    );
    Ok(deployment)
}

/// Where to reach each procedure of `deployment`, with curl lines to paste.
pub(crate) fn print_urls(addr: std::net::SocketAddr, deployment: &Deployment) {
    for p in &deployment.procedures {
        if !p.is_public() {
            super::say!("  {}  (private: workflow steps only)", p.name);
            continue;
        }
        let args = crate::registry::schema::example_args(&p.params);
        super::say!("  {}  {}", p.name, p.signature);
        super::say!("    curl -s http://{addr}/rpc/{} --json '{args}'", p.name);
        if let Some(route) = &p.enforcement.policy.route {
            super::say!("    {}", rest_example(addr, route, &args));
        }
    }
    super::say!("  docs: http://{addr}/docs   OpenAPI: http://{addr}/openapi.json");
}

/// A curl line for a REST route with the example arguments: path parameters filled in
/// (a runnable URL, not a `{name}` template curl would glob), the others as a JSON body
/// (or, for GET and DELETE, left out).
fn rest_example(
    addr: std::net::SocketAddr,
    route: &crate::policy::Route,
    args: &serde_json::Value,
) -> String {
    let mut path = route.path.clone();
    let mut rest = args.as_object().cloned().unwrap_or_default();
    for name in &route.path_params {
        let value = match rest.remove(name) {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => continue,
        };
        let encoded =
            percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC);
        path = path.replace(&format!("{{{name}}}"), &encoded.to_string());
    }
    let method = route.method.as_str();
    let url = format!("http://{addr}{path}");
    match method {
        "GET" => format!("curl -s {url}"),
        "DELETE" => format!("curl -s -X DELETE {url}"),
        _ => format!(
            "curl -s -X {method} {url} --json '{}'",
            serde_json::Value::Object(rest)
        ),
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Route, RouteMethod};

    #[test]
    fn rest_examples_are_runnable_curl_lines() {
        let addr: SocketAddr = "127.0.0.1:3000".parse().expect("an address");
        let route = |method, path: &str, params: &[&str]| Route {
            method,
            path: path.into(),
            path_params: params.iter().map(|p| p.to_string()).collect(),
        };
        assert_eq!(
            rest_example(
                addr,
                &route(RouteMethod::Get, "/hello/{name}", &["name"]),
                &serde_json::json!({ "name": "world" })
            ),
            "curl -s http://127.0.0.1:3000/hello/world"
        );
        assert_eq!(
            rest_example(
                addr,
                &route(RouteMethod::Put, "/items/{id}", &["id"]),
                &serde_json::json!({ "id": 1, "title": "a b" })
            ),
            r#"curl -s -X PUT http://127.0.0.1:3000/items/1 --json '{"title":"a b"}'"#
        );
        assert_eq!(
            rest_example(
                addr,
                &route(RouteMethod::Get, "/find/{q}", &["q"]),
                &serde_json::json!({ "q": "a b/c" })
            ),
            "curl -s http://127.0.0.1:3000/find/a%20b%2Fc",
            "a value is one path segment"
        );
    }
}
