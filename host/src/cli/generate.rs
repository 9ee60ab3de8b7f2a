//! `tsdev generate`: documents generated from what a host serves.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::client::HostArgs;
use super::send_checked;

/// Generate documents from a running host's procedures.
#[derive(Args)]
pub(super) struct GenerateCommand {
    #[command(subcommand)]
    what: Generate,
}

#[derive(Subcommand)]
enum Generate {
    /// The OpenAPI 3.1 document of every procedure (as served at /openapi.json).
    Openapi {
        #[command(flatten)]
        host: HostArgs,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// A typed client for every public procedure of a host.
    Client {
        /// The client's language.
        #[arg(long, value_enum)]
        lang: ClientLanguage,
        #[command(flatten)]
        host: HostArgs,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ClientLanguage {
    /// TypeScript over fetch (browsers, Node 18+, Deno, Bun).
    Typescript,
}

/// `GET {url}{path}` read as a `T`, or the host's problem as an error.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    host: &HostArgs,
    path: &str,
    what: &str,
) -> anyhow::Result<T> {
    let url = host.at(path);
    let response = send_checked(host.client()?.get(&url), &url, || {
        format!("fetching {what}")
    })
    .await?;
    response
        .json()
        .await
        .with_context(|| format!("reading {what}"))
}

fn write_output(output: Option<PathBuf>, text: String) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

impl GenerateCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        match self.what {
            Generate::Openapi { host, output } => {
                let document: serde_json::Value =
                    fetch_json(&host, "/openapi.json", "the OpenAPI document").await?;
                write_output(output, serde_json::to_string_pretty(&document)? + "\n")
            }
            Generate::Client {
                lang: ClientLanguage::Typescript,
                host,
                output,
            } => {
                let catalogue: crate::api::Catalogue =
                    fetch_json(&host, "/procedures", "the procedures").await?;
                write_output(
                    output,
                    crate::clients::typescript::generate(&catalogue, &host.url),
                )
            }
        }
    }
}
