//! `tsdev versions`: the kept versions of a component, newest first.

use anyhow::Context;
use clap::Args;

use super::client::HostArgs;
use super::send_checked;
use crate::api::VersionList;

/// List the kept versions of a component (what `tsdev rollback` can go back to).
#[derive(Args)]
pub(super) struct VersionsCommand {
    /// The component.
    name: String,
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

impl VersionsCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let url = self
            .host
            .at(&format!("/v1/components/{}/versions", self.name));
        let response = send_checked(self.host.client()?.get(&url), &url, || {
            format!("listing the versions of {}", self.name)
        })
        .await?;
        let list: VersionList = response.json().await.context("reading the answer")?;
        for v in list.versions {
            let current = if v.current { "  (current)" } else { "" };
            let by = v
                .deployed_by
                .map(|k| format!("  by {k}"))
                .unwrap_or_default();
            println!(
                "{}  {}  {} bytes{by}{current}",
                short_version(&v.version),
                at_time(v.deployed_at),
                v.size_bytes
            );
        }
        Ok(())
    }
}

/// The first 12 hex digits of a version: enough to name it to `tsdev rollback`.
pub(super) fn short_version(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}

/// A time in ms since the Unix epoch, as RFC 3339 in UTC.
pub(super) fn at_time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}
