//! `tsdev procedures`: list what a running host serves.

use anyhow::Context;
use clap::Args;

use super::answer_error;
use super::client::HostArgs;

/// List every procedure of a host with its component and WIT signature.
#[derive(Args)]
pub(super) struct ProceduresCommand {
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

impl ProceduresCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let url = self.host.at("/procedures");
        let response = self
            .host
            .client()?
            .get(&url)
            .send()
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
