//! `tsdev dev`: serve, build and deploy a crate, then rebuild and redeploy it on every
//! change. A build that fails is reported and the last good version keeps serving.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer, notify::RecursiveMode};

use super::serve::{deploy_path, print_urls, shutdown_signal};
use crate::host::{Host, HostConfig};
use crate::http::AppState;
use crate::workflow::WorkflowEngine;

/// How long the crate must be quiet after a change before it is rebuilt (editors write
/// several files, and some write one file twice).
pub(super) const DEBOUNCE: Duration = Duration::from_millis(300);

/// Serve a host, build and deploy the crate at PATH, then watch it: every change to its
/// sources, WIT, Cargo.toml or tsdev.toml is rebuilt and redeployed.
#[derive(Args)]
pub(super) struct DevCommand {
    /// The crate's directory (with Cargo.toml).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Data directory (default: PATH/.tsdev).
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Whether a changed path is one a build reads (not target/ or the data directory): a
/// Rust crate's sources, or a Python app's modules.
fn is_source(crate_dir: &Path, changed: &Path) -> bool {
    let Ok(relative) = changed.strip_prefix(crate_dir) else {
        return false;
    };
    let mut parts = relative.components();
    match parts.next().and_then(|c| c.as_os_str().to_str()) {
        Some("src" | "wit") => true,
        Some("Cargo.toml" | "Cargo.lock" | "tsdev.toml" | "build.rs") => parts.next().is_none(),
        Some("target" | ".tsdev") => false,
        _ => {
            let python = relative.extension().is_some_and(|e| e == "py");
            python
                && !relative
                    .components()
                    .any(|c| c.as_os_str() == "__pycache__")
        }
    }
}

impl DevCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        // Traces are for `tsdev serve`; the dev loop has its log.
        crate::telemetry::init(crate::telemetry::LogFormat::Text, None)?;
        if !self.listen.ip().is_loopback() {
            anyhow::bail!(
                "tsdev dev serves without API keys: it listens on loopback addresses only, \
                 not {} (use tsdev serve to serve others)",
                self.listen
            );
        }
        let crate_dir = std::fs::canonicalize(&self.path)
            .with_context(|| format!("finding {}", self.path.display()))?;
        let data = self.data.unwrap_or_else(|| crate_dir.join(".tsdev"));
        let host = Host::open(
            &HostConfig {
                data_dir: data,
                database_url: None,
                secrets_key_file: None,
            },
            crate::workflow::IMPORTS,
        )
        .await
        .context("opening the host")?;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let addr = listener.local_addr()?;
        let workflows = WorkflowEngine::new(host.clone());
        workflows.spawn_scheduler(&addr.to_string());
        crate::workflow::fire_schedules(&workflows);
        let app = crate::http::app(
            AppState::new(workflows),
            &crate::http::HttpConfig {
                loopback_only: addr.ip().is_loopback(),
                // A development loop on this machine: no keys.
                auth: crate::http::AuthMode::Off,
                ..crate::http::HttpConfig::default()
            },
        )?;
        let mut server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        });
        super::say!("listening on http://{addr}");
        let mut built = source_fingerprint(&crate_dir);
        rebuild(&host, &crate_dir, addr).await;

        // notify calls back on its own thread; the loop below runs the builds.
        let (changes, mut changed) = tokio::sync::mpsc::unbounded_channel();
        let watched_dir = crate_dir.clone();
        let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
            if let Ok(events) = result
                && events.iter().any(|e| is_source(&watched_dir, &e.path))
            {
                let _ = changes.send(());
            }
        })
        .context("starting the file watcher")?;
        debouncer
            .watcher()
            .watch(&crate_dir, RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", crate_dir.display()))?;
        super::say!("watching {} for changes", crate_dir.display());
        loop {
            tokio::select! {
                Some(()) = changed.recv() => {
                    // Changes that came in during the build are built next, once.
                    while changed.try_recv().is_ok() {}
                    // The watcher also reports reads (the build reads the WIT and the
                    // manifest) and writes that change nothing: rebuild only for new content.
                    let now = source_fingerprint(&crate_dir);
                    if now == built {
                        continue;
                    }
                    built = now;
                    super::say!("change detected, rebuilding …");
                    rebuild(&host, &crate_dir, addr).await;
                }
                served = &mut server => {
                    served.context("the HTTP server stopped")?.context("serving HTTP")?;
                    return Ok(());
                }
            }
        }
    }
}

/// A digest of the content of every file a build reads ([`is_source`]; Cargo.lock aside:
/// the build itself may write it), by path.
fn source_fingerprint(crate_dir: &Path) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    /// Directories no build reads sources from; big ones, too.
    const SKIPPED: &[&str] = &["target", ".tsdev", ".git", "__pycache__", "node_modules"];
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                let skipped = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| SKIPPED.contains(&n));
                if !skipped {
                    walk(&path, files);
                }
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(crate_dir, &mut files);
    files.retain(|f| is_source(crate_dir, f) && !f.ends_with("Cargo.lock"));
    files.sort();
    let mut digest = Sha256::new();
    for file in files {
        digest.update(file.to_string_lossy().as_bytes());
        digest.update([0]);
        digest.update(std::fs::read(&file).unwrap_or_default());
        digest.update([0]);
    }
    digest.finalize().into()
}

/// Build and deploy; on failure print the error with its causes and keep serving.
async fn rebuild(host: &Host, crate_dir: &Path, addr: SocketAddr) {
    match deploy_path(host, crate_dir).await {
        Ok(deployment) => {
            super::say!(
                "{} version {} is live",
                deployment.name,
                &deployment.version[..12.min(deployment.version.len())]
            );
            print_urls(addr, &deployment);
        }
        Err(error) => {
            super::say!("error: {error}");
            for cause in error.chain().skip(1) {
                super::say!("  caused by: {cause}");
            }
            super::say!("the last good version keeps serving; fix the error and save");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_moves_with_sources_only() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("app.py", "a = 1");
        write("wit/world.wit", "package a:b;");
        let first = source_fingerprint(root);
        write("target/app.wasm", "built");
        write("target/generated.py", "x = 1");
        write("Cargo.lock", "# written by the build");
        write("README.md", "notes");
        assert_eq!(
            source_fingerprint(root),
            first,
            "nothing a build reads changed"
        );
        write("app.py", "a = 2");
        let second = source_fingerprint(root);
        assert_ne!(second, first, "a Python module changed");
        write("wit/world.wit", "package a:c;");
        assert_ne!(source_fingerprint(root), second, "the WIT changed");
    }

    #[test]
    fn only_sources_trigger_a_rebuild() {
        let root = Path::new("/c");
        for source in [
            "/c/src/lib.rs",
            "/c/wit/world.wit",
            "/c/tsdev.toml",
            "/c/Cargo.toml",
            "/c/app.py",
            "/c/lib/helpers.py",
        ] {
            assert!(is_source(root, Path::new(source)), "{source}");
        }
        for other in [
            "/c/target/x.wasm",
            "/c/.tsdev/tsdev.db",
            "/c/README.md",
            "/d/src/x.rs",
            "/c/target/x.py",
            "/c/__pycache__/app.py",
        ] {
            assert!(!is_source(root, Path::new(other)), "{other}");
        }
    }
}
