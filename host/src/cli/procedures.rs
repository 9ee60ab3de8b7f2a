//! `tsdev procedures`: list what a running host serves.

use anyhow::Context;
use clap::Args;

use super::{DEFAULT_URL, answer_error};

/// List every procedure of a host with its component and WIT signature.
#[derive(Args)]
pub struct ProceduresCommand {
    /// The host.
    #[arg(long, default_value = DEFAULT_URL, env = "TSDEV_URL")]
    url: String,
}

impl ProceduresCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let url = format!("{}/procedures", self.url.trim_end_matches('/'));
        let response = reqwest::get(&url)
            .await
            .with_context(|| format!("asking {url}"))?;
        if !response.status().is_success() {
            return Err(answer_error(response).await.context("listing procedures"));
        }
        let catalogue: crate::api::Catalogue =
            response.json().await.context("reading the answer")?;
        if catalogue.procedures.is_empty() {
            println!("no procedures deployed");
        }
        for p in catalogue.procedures {
            let workflow = if p.workflow { "  [workflow]" } else { "" };
            println!("{}  ({}){workflow}  {}", p.name, p.component, p.signature);
            if let Some(description) = p.description {
                println!("    {description}");
            }
        }
        Ok(())
    }
}
