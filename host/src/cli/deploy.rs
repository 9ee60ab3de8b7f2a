//! `tsdev deploy`: upload a component to a running host.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::client::HostArgs;
use super::send_checked;

/// Upload FILE to a host as the component NAME (a new version if NAME exists); a crate
/// directory is built with `tsdev build` first.
#[derive(Args)]
pub(super) struct DeployCommand {
    /// The component (.wasm), or a crate directory to build.
    file: PathBuf,
    /// Component name: lowercase letters, digits and '-'. Default: the name in the
    /// component's embedded tsdev.toml, else the file name.
    #[arg(long)]
    name: Option<String>,
    /// A tsdev.toml to embed in the component before upload (in place of any it carries):
    /// grants and policies for a component built by any toolchain.
    #[arg(long, value_name = "TSDEV_TOML")]
    manifest: Option<PathBuf>,
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

impl DeployCommand {
    pub(super) async fn run(mut self) -> anyhow::Result<()> {
        let mut built_name = None;
        if self.file.is_dir() {
            let built = super::build::BuildCommand::for_deploy(self.file.clone())
                .run()
                .await?;
            built_name = Some(built.name);
            self.file = built.wasm;
        }
        let mut wasm = std::fs::read(&self.file)
            .with_context(|| format!("reading {}", self.file.display()))?;
        if !wasm.starts_with(b"\0asm") {
            anyhow::bail!(
                "{} is not WebAssembly (a component starts with the bytes \\0asm): give the .wasm \
                 that `tsdev build` printed, or the crate directory to build",
                self.file.display()
            );
        }
        if let Some(path) = &self.manifest {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            crate::manifest::Manifest::parse(&text)
                .with_context(|| format!("checking {}", path.display()))?;
            wasm = crate::sections::replace_custom_sections(
                &wasm,
                &[(crate::manifest::SECTION, text.into_bytes())],
            )
            .with_context(|| format!("embedding {} in the component", path.display()))?;
        }
        let name = match self.name.or(built_name) {
            Some(name) => name,
            None => super::default_component_name(&self.file, &wasm)?,
        };
        let url = self.host.at("/v1/components");
        let client = self.host.client()?;
        let progress = super::spinner(format!(
            "uploading {} ({} KiB) and compiling on the host",
            name,
            wasm.len() / 1024
        ));
        let request = client
            .post(&url)
            .query(&[("name", &name)])
            .header("content-type", "application/wasm")
            .body(wasm);
        let response = send_checked(request, &url, || {
            format!("deploying {}", self.file.display())
        })
        .await;
        progress.finish_and_clear();
        let response = response?;
        let deployment: crate::api::ComponentInfo =
            response.json().await.context("reading the host's answer")?;
        println!(
            "deployed {} version {}",
            deployment.name, deployment.version
        );
        for p in deployment.procedures {
            let route = p.route.map(|r| format!("  ({r})")).unwrap_or_default();
            println!("  {}  {}{route}", p.name, p.signature);
        }
        if let Some(http) = &deployment.http {
            let who = if http.public {
                "public"
            } else {
                "keys with scope call"
            };
            // Under /t/TENANT/ for a tenant other than default.
            println!("  wasi:http handler at {}/  ({who})", http.prefix);
        }
        for u in deployment.unexposed {
            println!("  (not exposed) {}: {}", u.name, u.reason);
        }
        Ok(())
    }
}
