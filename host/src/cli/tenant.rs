//! `tsdev tenant`: create, list, show and delete tenants (an admin key's business).

use anyhow::Context;
use clap::{Args, Subcommand};

use super::client::HostArgs;
use super::render;
use super::send_checked;
use crate::api::{NewTenant, TenantInfo, TenantList};

/// Manage the host's tenants (needs an admin key).
#[derive(Args)]
pub(super) struct TenantCommand {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    host: HostArgs,
    /// Print the host's JSON answers (for scripts) instead of text for people.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Action {
    /// Create tenant NAME.
    Create { name: String },
    /// List every tenant.
    List,
    /// Show tenant NAME.
    Show { name: String },
    /// Delete tenant NAME: its components and keys go, its executions are cancelled.
    Delete { name: String },
    /// Change tenant NAME's quotas: a JSON object of those to change, e.g.
    /// '{"components": 10, "concurrent_instances": 8}'.
    Quotas { name: String, change: String },
}

impl TenantCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let client = self.host.client()?;
        let request = match &self.action {
            Action::Create { name } => client.post(self.host.at("/v1/tenants")).json(&NewTenant {
                name: name.clone(),
                quotas: None,
            }),
            Action::List => client.get(self.host.at("/v1/tenants")),
            Action::Show { name } => client.get(self.host.at(&format!("/v1/tenants/{name}"))),
            Action::Delete { name } => client.delete(self.host.at(&format!("/v1/tenants/{name}"))),
            Action::Quotas { name, change } => {
                let change: crate::quota::QuotaChange =
                    serde_json::from_str(change).context("reading the quota change")?;
                client
                    .patch(self.host.at(&format!("/v1/tenants/{name}")))
                    .json(&crate::api::TenantChange { quotas: change })
            }
        };
        let response = send_checked(request, &self.host.url, || "managing tenants".into()).await?;
        let now = crate::clock::now_ms();
        match self.action {
            Action::Delete { name } => println!("deleted tenant {name}"),
            Action::List => {
                let list: TenantList = response.json().await.context("reading the answer")?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    let rows: Vec<Vec<String>> = list
                        .tenants
                        .iter()
                        .map(|t| {
                            vec![
                                t.name.clone(),
                                t.components.to_string(),
                                // Tenant default was never created: it always exists.
                                match t.created_at {
                                    0 => "-".to_string(),
                                    at => render::relative(at, now),
                                },
                            ]
                        })
                        .collect();
                    println!(
                        "{}",
                        render::table(&["TENANT", "COMPONENTS", "CREATED"], &rows)
                    );
                }
            }
            Action::Create { .. } | Action::Show { .. } | Action::Quotas { .. } => {
                let t: TenantInfo = response.json().await.context("reading the answer")?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&t)?);
                } else {
                    println!(
                        "{}  ({} components, created {})",
                        t.name,
                        t.components,
                        render::relative(t.created_at, now)
                    );
                    println!("{}", quota_table(&t.quotas)?);
                }
            }
        }
        Ok(())
    }
}

/// The quotas as a table, in the order `Quotas` declares them.
fn quota_table(quotas: &crate::quota::Quotas) -> anyhow::Result<String> {
    let value = serde_json::to_value(quotas)?;
    let rows: Vec<Vec<String>> = value
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(name, value)| vec![format!("  {name}"), value.to_string()])
                .collect()
        })
        .unwrap_or_default();
    Ok(render::table(&["  QUOTA", "VALUE"], &rows))
}
