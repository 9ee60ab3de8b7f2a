//! `tsdev procedures`: list what a running host serves.

use anyhow::Context;
use clap::Args;

use super::client::HostArgs;
use super::send_checked;

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
        let response = send_checked(self.host.client()?.get(&url), &url, || {
            "listing procedures".into()
        })
        .await?;
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
