//! `tsdev key`: create, list and revoke a tenant's API keys; make a key offline.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::client::HostArgs;
use super::send_checked;
use crate::access::Scope;
use crate::api::{CreatedKey, KeyList, NewKey};

/// Manage API keys.
#[derive(Args)]
pub(super) struct KeyCommand {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Subcommand)]
enum Action {
    /// Create a key in TENANT; prints it (this is the only time it is shown).
    Create {
        tenant: String,
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Scopes, comma-separated: deploy, call, operate, read, keys.
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// When it stops working: a duration from now (`30d`, `12h`).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// List TENANT's keys (never the keys themselves).
    List { tenant: String },
    /// Revoke key ID of TENANT, at once.
    Revoke { tenant: String, id: String },
    /// Print a new random key without asking any host (for --admin-key-file).
    Generate,
}

fn parse_scope(name: &str) -> Result<Scope, String> {
    Scope::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown scope {name:?}; one of {}", known.join(", "))
    })
}

impl KeyCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        if let Action::Generate = self.action {
            println!("{}", crate::access::generate_key()?.key);
            return Ok(());
        }
        let client = self.host.client()?;
        let request = match &self.action {
            Action::Create {
                tenant,
                name,
                scopes,
                expires_in,
            } => {
                let expires_at = expires_in.map(|d| crate::clock::now_ms() + d.as_millis() as i64);
                client
                    .post(self.host.at(&format!("/v1/tenants/{tenant}/keys")))
                    .json(&NewKey {
                        name: name.clone(),
                        scopes: scopes.clone(),
                        expires_at,
                    })
            }
            Action::List { tenant } => {
                client.get(self.host.at(&format!("/v1/tenants/{tenant}/keys")))
            }
            Action::Revoke { tenant, id } => {
                client.delete(self.host.at(&format!("/v1/tenants/{tenant}/keys/{id}")))
            }
            Action::Generate => unreachable!("answered above"),
        };
        let response = send_checked(request, &self.host.url, || "managing keys".into()).await?;
        match self.action {
            Action::Create { .. } => {
                let created: CreatedKey = response.json().await.context("reading the answer")?;
                eprintln!(
                    "key {} for tenant {} (scopes {}); keep it now, it is not shown again:",
                    created.info.id,
                    created.info.tenant,
                    scope_names(&created.info.scopes)
                );
                println!("{}", created.key);
            }
            Action::List { .. } => {
                let list: KeyList = response.json().await.context("reading the answer")?;
                for k in list.keys {
                    let state = if k.revoked_at.is_some() {
                        "  revoked"
                    } else {
                        ""
                    };
                    println!("{}  {}  [{}]{state}", k.id, k.name, scope_names(&k.scopes));
                }
            }
            Action::Revoke { id, .. } => println!("revoked {id}"),
            Action::Generate => {}
        }
        Ok(())
    }
}

fn scope_names(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
