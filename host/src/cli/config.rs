//! `tsdev config`: a component's config values and secrets (`wasi:config/store`).

use std::collections::BTreeMap;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::client::HostArgs;
use super::send_checked;
use crate::api::{ConfigChange, ConfigInfo};

/// Set, unset and list a component's config values and secrets; it sees a change from
/// its next call, without a redeploy. Secrets are never shown again.
#[derive(Args)]
pub(super) struct ConfigCommand {
    #[command(subcommand)]
    action: ConfigAction,
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Set values (KEY=VALUE) and secrets (--secret KEY=VALUE).
    Set {
        /// The component.
        component: String,
        /// Plain values, KEY=VALUE.
        values: Vec<String>,
        /// A secret, KEY=VALUE (sealed at rest, never shown); `KEY=-` reads the value from
        /// standard input, so that it is not in the shell's history.
        #[arg(long = "secret", value_name = "KEY=VALUE")]
        secrets: Vec<String>,
    },
    /// Delete keys (values or secrets).
    Unset {
        /// The component.
        component: String,
        /// The keys.
        keys: Vec<String>,
    },
    /// List the values, and the names of the secrets.
    List {
        /// The component.
        component: String,
    },
}

/// `KEY=VALUE`, split.
fn pair(text: &str) -> anyhow::Result<(String, String)> {
    let (key, value) = text
        .split_once('=')
        .with_context(|| format!("{text:?} is not KEY=VALUE"))?;
    Ok((key.to_string(), value.to_string()))
}

impl ConfigCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let client = self.host.client()?;
        let (component, change) = match self.action {
            ConfigAction::List { component } => (component, None),
            ConfigAction::Set {
                component,
                values,
                secrets,
            } => {
                let mut change = ConfigChange::default();
                for text in values {
                    let (key, value) = pair(&text)?;
                    change.values.insert(key, Some(value));
                }
                for text in secrets {
                    let (key, mut value) = pair(&text)?;
                    if value == "-" {
                        value = std::io::read_to_string(std::io::stdin())
                            .context("reading the secret from standard input")?
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                    }
                    change.secrets.insert(key, Some(value));
                }
                (component, Some(change))
            }
            ConfigAction::Unset { component, keys } => {
                // A key is a value or a secret: deleting it as a value deletes either.
                let values: BTreeMap<String, Option<String>> =
                    keys.into_iter().map(|k| (k, None)).collect();
                (
                    component,
                    Some(ConfigChange {
                        values,
                        ..ConfigChange::default()
                    }),
                )
            }
        };
        let url = self.host.at(&format!("/v1/components/{component}/config"));
        let request = match &change {
            None => client.get(&url),
            Some(change) => client.put(&url).json(change),
        };
        let response = send_checked(request, &url, || format!("the config of {component}")).await?;
        let info: ConfigInfo = response.json().await.context("reading the answer")?;
        for (key, value) in &info.values {
            println!("{key}={value}");
        }
        for key in &info.secrets {
            println!("{key}=(secret)");
        }
        Ok(())
    }
}
