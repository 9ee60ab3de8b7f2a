//! Helpers for the integration tests in `tests/`: the guest components (built by
//! `build.rs`), [`TestHost`], the real `tsdev` binary serving on a free port, and
//! [`cluster::Cluster`], several of them on one PostgreSQL database.

pub mod cluster;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Paths of the guest components.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The `tsdev` binary: `$TSDEV_BIN`, else the one cargo built beside this test binary
/// (`cargo test --workspace` builds it, since the host crate has integration tests).
pub fn tsdev_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TSDEV_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the running binary knows its path");
    // Tests run from target/<profile>/deps/, benchmarks from target/<profile>/.
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("tsdev"))
        .collect();
    candidates.iter().find(|bin| bin.exists()).cloned().unwrap_or_else(|| {
        panic!(
            "no tsdev binary at {candidates:?}: run `cargo build -p tsdev` (`cargo test --workspace` builds it)"
        )
    })
}

/// Build the guest crate `crate_dir` with `tsdev build` (so its tsdev.toml and WIT docs
/// are embedded) in the guests' target directory; returns the component's path. Builds run
/// one at a time: they rewrite the same files.
pub fn tsdev_build(crate_dir: &Path) -> PathBuf {
    static BUILDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDS.lock().unwrap_or_else(|p| p.into_inner());
    let output = Command::new(tsdev_bin())
        .arg("build")
        .arg(crate_dir)
        .env("CARGO_TARGET_DIR", guests::TARGET_DIR)
        .stderr(Stdio::inherit())
        .output()
        .expect("running tsdev build");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "tsdev build failed: {stdout}");
    let built = stdout
        .lines()
        .find_map(|l| l.strip_prefix("built ")?.split(" as ").next())
        .unwrap_or_else(|| panic!("tsdev build printed no path: {stdout}"));
    PathBuf::from(built)
}

/// `wasm` with a `tsdev-manifest` custom section holding `toml` appended, as any toolchain
/// could write it.
pub fn with_manifest(wasm: &[u8], toml: &str) -> Vec<u8> {
    with_custom_section(wasm, "tsdev-manifest", toml.as_bytes())
}

/// `wasm` (a component or module) without its top-level custom sections called `name`:
/// for instance a component as built, without the manifest `tsdev build` embedded. Read
/// with wasmparser, as the host reads sections.
pub fn without_custom_section(wasm: &[u8], name: &str) -> Vec<u8> {
    const HEADER: usize = 8;
    let mut out = wasm[..HEADER].to_vec();
    let mut reader = wasmparser::BinaryReader::new(&wasm[HEADER..], HEADER);
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8().expect("a section id");
        let size = reader.read_var_u32().expect("a section size") as usize;
        let body_start = reader.original_position();
        let body = reader.read_bytes(size).expect("a section body");
        let named = id == 0
            && wasmparser::BinaryReader::new(body, body_start)
                .read_string()
                .is_ok_and(|found| found == name);
        if !named {
            out.extend_from_slice(&wasm[start..body_start + size]);
        }
    }
    out
}

/// `wasm` with a custom section `name` holding `payload` appended (written with
/// wasm-encoder, as the host writes sections): the same component under another version
/// (content hash).
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    use wasm_encoder::ComponentSection;
    let mut out = wasm.to_vec();
    wasm_encoder::CustomSection {
        name: name.into(),
        data: payload.into(),
    }
    .append_to_component(&mut out);
    out
}

/// Make ring the process's TLS crypto provider: reqwest is built without one of its own (as
/// the host builds it), so every client needs it before it is built.
pub fn install_tls_provider() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A running `tsdev serve` on 127.0.0.1 and a free port, with its own data directory.
/// Killed when dropped. Keys are required, as by default; [`TestHost::client`] sends the
/// admin key the host made (tenant `default`, every scope).
pub struct TestHost {
    child: Child,
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its data directory.
    pub data: PathBuf,
    _data_dir: Option<tempfile::TempDir>,
    /// A client sending the admin key.
    pub client: reqwest::Client,
    /// A client sending no key.
    pub anonymous: reqwest::Client,
    /// The admin key (`DATA/admin.key`), unless keys are off.
    pub admin_key: Option<String>,
}

impl TestHost {
    /// Start a host on a fresh data directory.
    pub fn start() -> TestHost {
        let dir = tempfile::tempdir().expect("creating a temporary data directory");
        let data = dir.path().to_path_buf();
        let mut host = TestHost::start_on(&data, &[]);
        host._data_dir = Some(dir);
        host
    }

    /// Start a host on `data` with extra `serve` arguments.
    pub fn start_on(data: &Path, extra: &[&str]) -> TestHost {
        TestHost::start_with(data, extra, &[])
    }

    /// Start a host on `data` with extra `serve` arguments and environment variables. With
    /// `TSDEV_ADMIN_KEY` among them, that is the admin key the clients send.
    pub fn start_with(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> TestHost {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("host.log"))
            .expect("opening the host log");
        let child = Command::new(tsdev_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting tsdev serve");
        // Killed if anything below panics before the TestHost owns it (a host left running
        // holds its port and, on PostgreSQL, its connections).
        let mut spawned = Spawned(Some(child));
        let child = spawned.0.as_mut().expect("the child was just spawned");
        let stdout = child.stdout.take().expect("tsdev's stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let status = child.wait();
                    let log = std::fs::read_to_string(data.join("host.log")).unwrap_or_default();
                    panic!("tsdev serve exited before listening: {status:?}\n{log}");
                }
            }
        };
        // Keep draining stdout so the host never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let given_key = env.iter().find(|(name, _)| *name == "TSDEV_ADMIN_KEY");
        let admin_key = if extra.contains(&"--insecure-no-auth") {
            None
        } else if let Some((_, key)) = given_key {
            Some(key.to_string())
        } else {
            let key = std::fs::read_to_string(data.join("admin.key"))
                .expect("a host with keys required keeps its admin key in DATA/admin.key");
            Some(key.trim().to_string())
        };
        let (client, anonymous) = (client(admin_key.as_deref()), client(None));
        TestHost {
            child: spawned.0.take().expect("the child is still owned here"),
            url,
            data: data.to_path_buf(),
            _data_dir: None,
            client,
            anonymous,
            admin_key,
        }
    }

    /// A `tsdev` command that talks to this host with its admin key.
    pub fn cli(&self) -> Command {
        let mut command = Command::new(tsdev_bin());
        command.env("TSDEV_URL", &self.url);
        match &self.admin_key {
            Some(key) => command.env("TSDEV_API_KEY", key),
            None => command.env_remove("TSDEV_API_KEY"),
        };
        command
    }

    /// Kill the host (SIGKILL, as a crash) and start a new one on the same data directory.
    pub fn restart(self) -> TestHost {
        self.restart_after(|_| {})
    }

    /// Kill the host, run `meanwhile` on its data directory, start a new host on it.
    pub fn restart_after(mut self, meanwhile: impl FnOnce(&Path)) -> TestHost {
        let _ = self.child.kill();
        let _ = self.child.wait();
        meanwhile(&self.data);
        let data_dir = self._data_dir.take();
        let mut host = TestHost::start_on(&self.data, &[]);
        host._data_dir = data_dir;
        host
    }

    /// Everything the host has logged so far (its stderr, across restarts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("host.log")).unwrap_or_default()
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to the host process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -{signal} {}", self.pid());
    }

    /// Whether the host process has exited (a zombie not yet waited for counts).
    pub fn has_exited(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) {
            // The state follows the command name in parentheses.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
            Err(_) => true,
        }
    }

    /// Wait for the host process to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("waiting for tsdev")
    }

    /// Whether the host process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Upload the component at `path` as `name`.
    pub async fn deploy(&self, name: &str, path: &str) -> (u16, Value) {
        self.deploy_with(name, path, "").await
    }

    /// Upload with extra query parameters (e.g. `&fuel=1000`).
    pub async fn deploy_with(&self, name: &str, path: &str, query: &str) -> (u16, Value) {
        let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        self.upload(&format!("name={name}{query}"), wasm).await
    }

    /// Build the crate at `crate_dir` (relative to the repository root) with `tsdev build`
    /// and upload it under the name its manifest gives; panics unless that answers 201.
    pub async fn deploy_built(&self, crate_dir: &str) -> Value {
        let wasm = tsdev_build(&Path::new(guests::ROOT).join(crate_dir));
        let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {wasm:?}: {e}"));
        let (status, body) = self.upload("", bytes).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Make tenant `name` (as the admin) and a key in it with `scopes`: a client that sends
    /// the key.
    pub async fn tenant_client(&self, name: &str, scopes: &[&str]) -> reqwest::Client {
        let created = self
            .client
            .post(format!("{}/v1/tenants", self.url))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("creating a tenant");
        assert_eq!(created.status(), 201, "creating tenant {name}");
        let key: Value = self
            .client
            .post(format!("{}/v1/tenants/{name}/keys", self.url))
            .json(&serde_json::json!({ "name": "test", "scopes": scopes }))
            .send()
            .await
            .expect("making a key")
            .json()
            .await
            .expect("the key as JSON");
        client(Some(key["key"].as_str().expect("a key")))
    }

    /// Upload `wasm` as component `name` with `http` (a tenant's client): status and body.
    pub async fn upload_as(
        &self,
        http: &reqwest::Client,
        name: &str,
        wasm: Vec<u8>,
    ) -> (u16, Value) {
        let response = http
            .post(format!("{}/v1/components?name={name}", self.url))
            .header("content-type", "application/wasm")
            .body(wasm)
            .send()
            .await
            .expect("uploading");
        answer(response).await
    }

    /// Upload raw bytes with a raw query string.
    pub async fn upload(&self, query: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/v1/components?{query}", self.url))
            .header("content-type", "application/wasm")
            .body(body)
            .send()
            .await
            .expect("uploading");
        answer(response).await
    }

    /// `POST /rpc/{procedure}` with `args`.
    pub async fn rpc(&self, procedure: &str, args: Value) -> (u16, Value) {
        self.rpc_raw(procedure, args.to_string()).await
    }

    /// `POST /rpc/{procedure}` with a raw body.
    pub async fn rpc_raw(&self, procedure: &str, body: String) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/rpc/{procedure}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("calling");
        answer(response).await
    }

    /// `POST path` with a JSON body (none for `Value::Null`).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self.client.post(format!("{}{path}", self.url));
        let request = match body {
            Value::Null => request,
            body => request.json(&body),
        };
        answer(request.send().await.expect("posting")).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("getting");
        answer(response).await
    }
}

/// A host process being started: killed when dropped before it is handed on.
struct Spawned(Option<Child>);

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- tsdev log ---\n{}", self.log());
        }
    }
}

/// Status and JSON body; problem answers must carry `application/problem+json`.
async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.expect("reading the body");
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "error answers are problems: {text}"
        );
    }
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
    };
    (status, body)
}

/// A Python tool from PyPI, installed once into its own venv under `scratch`; returns the
/// venv's `bin` directory. Tests pin `requirement` (one or more pip requirements, separated
/// by spaces) so every run uses the same tool.
pub fn python_venv(scratch: &Path, name: &str, requirement: &str) -> PathBuf {
    // Tests run in parallel threads: two of them making the same venv at once would break
    // each other's pip install.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    let venv = scratch.join(format!("venv-{name}"));
    let bin = venv.join("bin");
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(requirement) {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(bin.join("pip"))
            .args(["install", "--quiet"])
            .args(requirement.split_whitespace()));
        std::fs::write(&ready, requirement).expect("marking the venv ready");
    }
    bin
}

/// Run `command`, panicking with its description when it fails.
pub fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// Debian's Chromium, installed with apt-get when missing and running as root (as on CI);
/// otherwise the caller is told how to install it.
pub fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        assert!(
            root,
            "the browser test needs Debian's chromium: apt-get install chromium"
        );
        run(Command::new("apt-get").args(["update", "-q"]));
        run(Command::new("apt-get").args(["install", "-y", "-q", "chromium"]));
    }
    path
}

/// An npm package installed (once) under `scratch`; returns its directory in node_modules.
pub fn npm_package(scratch: &Path, package: &str, version: &str) -> PathBuf {
    let prefix = scratch.join(format!("npm-{package}-{version}"));
    let dir = prefix.join("node_modules").join(package);
    if !dir.join("package.json").exists() {
        std::fs::create_dir_all(&prefix).expect("creating the npm prefix");
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&prefix)
            .arg(format!("{package}@{version}")));
    }
    dir
}

/// The playwright-core the browser checks drive Chromium with (from npm).
pub const PLAYWRIGHT_CORE: &str = "1.65.1";

/// Run the browser check `script` (in `runtime-tests/browser/`, sharing `launch.cjs`):
/// `node SCRIPT URL CHROMIUM ARGS...` with playwright-core (installed under `scratch`)
/// named by `PLAYWRIGHT_CORE` and `env` added; its output, for the test to judge.
pub async fn browser_check(
    scratch: &Path,
    script: &str,
    url: &str,
    args: Vec<std::ffi::OsString>,
    env: Vec<(&'static str, PathBuf)>,
) -> std::process::Output {
    let chromium = chromium();
    let playwright = npm_package(scratch, "playwright-core", PLAYWRIGHT_CORE);
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("browser")
        .join(script);
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(url)
            .arg(chromium)
            .args(args)
            .env("PLAYWRIGHT_CORE", playwright)
            .envs(env)
            .output()
            .expect("running node")
    })
    .await
    .expect("the browser check's thread")
}

/// An HTTP client for a test host, sending `key` if given.
pub fn client(key: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {key}")
                .parse()
                .expect("a key is a header value"),
        );
    }
    install_tls_provider();
    reqwest::Client::builder()
        .default_headers(headers)
        // Compiling a big component (an 18 MB Python one) takes tens of seconds on a loaded
        // 2-core machine.
        .timeout(Duration::from_secs(300))
        .build()
        .expect("building an HTTP client")
}
