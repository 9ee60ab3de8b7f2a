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
}

impl GenerateCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.what {
            Generate::Openapi { url, output } => {
                let url = format!("{}/openapi.json", url.trim_end_matches('/'));
                let response = reqwest::get(&url)
                    .await
                    .with_context(|| format!("asking {url}"))?;
                if !response.status().is_success() {
                    return Err(answer_error(response)
                        .await
                        .context("fetching the OpenAPI document"));
                }
                let document: serde_json::Value =
                    response.json().await.context("reading the document")?;
                let text = serde_json::to_string_pretty(&document)?;
                match output {
                    Some(path) => {
                        std::fs::write(&path, text + "\n")
                            .with_context(|| format!("writing {}", path.display()))?;
                        eprintln!("wrote {}", path.display());
                    }
                    None => println!("{text}"),
                }
                Ok(())
            }
        }
    }
}
