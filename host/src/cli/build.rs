//! `tsdev build`: build a Rust crate (with cargo) or a Python app (`app.py` beside `wit/`,
//! with componentize-py) into a component, embed its manifest (`tsdev.toml`) and WIT docs,
//! and check it as the host would.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::limits::CallLimits;
use crate::manifest::{self, Manifest};
use crate::registry::Deployment;
use crate::runtime::Runtime;
use crate::sections;

/// The target every guest is built for.
pub(super) const TARGET: &str = "wasm32-wasip2";

/// Build the crate at PATH for wasm32-wasip2 (release), or the Python app there (app.py
/// beside wit/, with componentize-py), embed its tsdev.toml and WIT doc comments, check the
/// output is a component this host accepts, and list its procedures.
#[derive(Args)]
pub(super) struct BuildCommand {
    /// The crate's directory (with Cargo.toml), or a Python app's (app.py and wit/).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Check the output as the host would (off where a host deploys it right after and
    /// checks it there: `serve --deploy`, `dev`).
    #[arg(skip = true)]
    check: bool,
}

/// The Python module componentize-py builds a Python project from (`app.py`).
const PYTHON_APP: &str = "app";

/// What kind of project a directory is.
enum Project {
    /// A Rust crate (Cargo.toml).
    Rust,
    /// A Python app for componentize-py: `app.py` and `wit/`.
    Python,
}

/// The project `start` is in: the nearest directory upward with a Cargo.toml (as cargo
/// finds it), else `start` itself when it holds `app.py` and `wit/`.
fn project_dir(start: &Path) -> anyhow::Result<(PathBuf, Project)> {
    let absolute = std::path::absolute(start)
        .with_context(|| format!("finding the crate of {}", start.display()))?;
    match absolute
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file())
    {
        Some(dir) if dir == absolute => Ok((start.to_path_buf(), Project::Rust)),
        Some(dir) => Ok((dir.to_path_buf(), Project::Rust)),
        None if start.join(format!("{PYTHON_APP}.py")).is_file() && start.join("wit").is_dir() => {
            Ok((start.to_path_buf(), Project::Python))
        }
        None => bail!(
            "{} has no Cargo.toml, nor has any directory above it, and is no Python app (app.py \
             beside wit/); point tsdev build at a Rust crate or a Python app",
            start.display()
        ),
    }
}

/// What a build produced.
pub(super) struct Built {
    /// The component name: the manifest's, else the crate's name with '_' as '-'.
    pub name: String,
    pub wasm: PathBuf,
}

impl BuildCommand {
    /// A build of `path` for a host that deploys it next, so checks it itself.
    pub(super) fn for_deploy(path: PathBuf) -> BuildCommand {
        BuildCommand { path, check: false }
    }

    pub(super) async fn run(mut self) -> anyhow::Result<Built> {
        // As cargo does: the crate is the nearest directory upward with a Cargo.toml.
        let (path, project) = project_dir(&self.path)?;
        self.path = path;
        // A broken manifest fails before a long build.
        let manifest_path = self.path.join(manifest::FILE_NAME);
        let tsdev_toml = match std::fs::read_to_string(&manifest_path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", manifest_path.display()));
            }
        };
        let parsed = tsdev_toml
            .as_deref()
            .map(Manifest::parse)
            .transpose()
            .with_context(|| format!("checking {}", manifest_path.display()))?;
        let wasm = match project {
            Project::Rust => {
                ensure_target().await?;
                eprintln!("building {} for {TARGET} …", self.path.display());
                cargo_build(&self.path.join("Cargo.toml")).await?
            }
            Project::Python => {
                let name = parsed
                    .as_ref()
                    .and_then(|m| m.component.name.clone())
                    .unwrap_or_else(|| PYTHON_APP.to_string());
                eprintln!("building {} with componentize-py …", self.path.display());
                componentize_py(&self.path, &name).await?
            }
        };
        let raw = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let mut embedded = Vec::new();
        if let Some(text) = tsdev_toml {
            embedded.push((manifest::SECTION, text.into_bytes()));
        }
        let wit_dir = self.path.join("wit");
        if wit_dir.is_dir() {
            embedded.push((sections::PACKAGE_DOCS, sections::wit_docs(&wit_dir)?));
        }
        let bytes = sections::replace_custom_sections(&raw, &embedded)
            .with_context(|| format!("embedding the manifest in {}", wasm.display()))?;
        if bytes != raw {
            // Replace, not rewrite in place: cargo hard-links this file to its deps/ copy.
            let temporary = wasm.with_extension("wasm.tmp");
            std::fs::write(&temporary, &bytes)
                .and_then(|()| std::fs::rename(&temporary, &wasm))
                .with_context(|| format!("writing {}", wasm.display()))?;
        }
        let name = parsed.and_then(|m| m.component.name).unwrap_or_else(|| {
            wasm.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("component")
                .replace('_', "-")
        });
        if !self.check {
            return Ok(Built { name, wasm });
        }
        // Check it exactly as an upload would be checked: component, imports, procedures,
        // manifest.
        let check_name = name.clone();
        let progress = super::spinner(format!("checking {name} as the host would"));
        let deployment = tokio::task::spawn_blocking(move || -> anyhow::Result<Deployment> {
            let runtime = Runtime::for_checking(
                &[crate::workflow::IMPORTS, &crate::capabilities::imports()].concat(),
            )?;
            Ok(Deployment::prepare(
                &runtime,
                &check_name,
                &bytes,
                CallLimits::default(),
                0,
            )?)
        })
        .await?
        .with_context(|| format!("checking {}", wasm.display()))?;
        progress.finish_and_clear();
        println!(
            "built {} as {name} ({} bytes)",
            wasm.display(),
            deployment.size_bytes
        );
        for p in &deployment.procedures {
            match &p.enforcement.policy.route {
                Some(route) => println!("  {}  {}  ({route})", p.name, p.signature),
                None => println!("  {}  {}", p.name, p.signature),
            }
        }
        for u in &deployment.unexposed {
            println!("  (not exposed) {}: {}", u.name, u.reason);
        }
        Ok(Built { name, wasm })
    }
}

/// Build the Python app in `dir` (module `app`, its world in `wit/`) with componentize-py
/// into `dir/target/NAME.wasm`.
async fn componentize_py(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let out = dir.join("target");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let wasm = out.join(format!("{name}.wasm"));
    let status = Command::new("componentize-py")
        .args(["-d", "wit", "componentize", PYTHON_APP, "-o"])
        .arg(&wasm)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::null())
        .status()
        .await
        .context(
            "running componentize-py; install it with `pip install componentize-py==0.25.1` \
             (in a virtual environment on PATH)",
        )?;
    if !status.success() {
        bail!("componentize-py failed (see the errors above)");
    }
    Ok(wasm)
}

/// Install the wasm32-wasip2 target with rustup when it is missing.
async fn ensure_target() -> anyhow::Result<()> {
    let installed = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .await
    {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|l| l.trim() == TARGET),
        // Without rustup the toolchain may still have the target (e.g. a distro package).
        Err(_) => return Ok(()),
    };
    if !installed {
        eprintln!("installing the {TARGET} target with rustup …");
        let status = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status()
            .await
            .context("running rustup target add")?;
        if !status.success() {
            bail!("`rustup target add {TARGET}` failed; install the target and try again");
        }
    }
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2`, returning the .wasm it produced.
async fn cargo_build(manifest: &Path) -> anyhow::Result<PathBuf> {
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running cargo; is the Rust toolchain installed (https://rustup.rs)?")?;
    let stdout = child.stdout.take().context("capturing cargo's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut wasm = None;
    while let Some(line) = lines.next_line().await? {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
        if !is_cdylib {
            continue;
        }
        for file in message["filenames"].as_array().into_iter().flatten() {
            if let Some(file) = file.as_str().filter(|f| f.ends_with(".wasm")) {
                wasm = Some(PathBuf::from(file));
            }
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("cargo build failed (see the errors above)");
    }
    wasm.context(
        "the crate built no .wasm; add `[lib] crate-type = [\"cdylib\"]` to its Cargo.toml",
    )
}
