//! `tsdev rollback`: make a kept version of a component current again.

use anyhow::Context;
use clap::Args;

use super::client::HostArgs;
use super::send_checked;
use super::versions::short_version;
use crate::api::{ComponentInfo, RollbackRequest};

/// Roll a component back to a kept version (default: the one before the current); see
/// `tsdev versions NAME`.
#[derive(Args)]
pub(super) struct RollbackCommand {
    /// The component.
    name: String,
    /// The version: its hash or a prefix of it. Default: the newest before the current.
    version: Option<String>,
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

impl RollbackCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let url = self
            .host
            .at(&format!("/v1/components/{}/rollback", self.name));
        let request = self.host.client()?.post(&url).json(&RollbackRequest {
            version: self.version.clone(),
        });
        let response =
            send_checked(request, &url, || format!("rolling {} back", self.name)).await?;
        let component: ComponentInfo = response.json().await.context("reading the answer")?;
        println!(
            "{} now runs version {} ({} procedures)",
            component.name,
            short_version(&component.version),
            component.procedures.len()
        );
        Ok(())
    }
}
