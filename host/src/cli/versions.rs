//! `tsdev versions`: the kept versions of a component, newest first.

use anyhow::Context;
use clap::Args;

use super::answer_error;
use super::client::HostArgs;
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
        let response = self
            .host
            .client()?
            .get(&url)
            .send()
            .await
            .with_context(|| format!("asking {url}"))?;
        if !response.status().is_success() {
            return Err(answer_error(response)
                .await
                .context(format!("listing the versions of {}", self.name)));
        }
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
