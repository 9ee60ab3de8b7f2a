//! `tsdev generate`: documents generated from what a host serves.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{DEFAULT_URL, answer_error};

/// Generate documents from a running host's procedures.
#[derive(Args)]
pub struct GenerateCommand {
    #[command(subcommand)]
    what: Generate,
}

#[derive(Subcommand)]
enum Generate {
    /// The OpenAPI 3.1 document of every procedure (as served at /openapi.json).
    Openapi {
        /// The host.
        #[arg(long, default_value = DEFAULT_URL, env = "TSDEV_URL")]
        url: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// A typed client for every public procedure of a host.
    Client {
        /// The client's language.
        #[arg(long, value_enum)]
        lang: ClientLanguage,
        /// The host.
        #[arg(long, default_value = DEFAULT_URL, env = "TSDEV_URL")]
        url: String,
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
    url: &str,
    path: &str,
    what: &str,
) -> anyhow::Result<T> {
    let url = format!("{}{path}", url.trim_end_matches('/'));
    let response = reqwest::get(&url)
        .await
        .with_context(|| format!("asking {url}"))?;
    if !response.status().is_success() {
        return Err(answer_error(response)
            .await
            .context(format!("fetching {what}")));
    }
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
    pub async fn run(self) -> anyhow::Result<()> {
        match self.what {
            Generate::Openapi { url, output } => {
                let document: serde_json::Value =
                    fetch_json(&url, "/openapi.json", "the OpenAPI document").await?;
                write_output(output, serde_json::to_string_pretty(&document)? + "\n")
            }
            Generate::Client {
                lang: ClientLanguage::Typescript,
                url,
                output,
            } => {
                let catalogue: crate::api::Catalogue =
                    fetch_json(&url, "/procedures", "the procedures").await?;
                write_output(
                    output,
                    crate::clients::typescript::generate(&catalogue, &url),
                )
            }
        }
    }
}
