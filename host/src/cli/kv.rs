//! `tsdev kv`: the tenant's key-value data, as its components see it (`/v1/kv`).

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::client::HostArgs;
use super::send_checked;
use crate::api::KvKeyList;

/// Everything but what a path segment may hold as it is; `/` stays, so that a key with
/// slashes reads as it is written.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Read and write key-value entries (the buckets components are granted).
#[derive(Args)]
pub(super) struct KvCommand {
    #[command(subcommand)]
    action: KvAction,
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Subcommand)]
enum KvAction {
    /// Print a value (its bytes, as they are).
    Get { bucket: String, key: String },
    /// Set a value.
    Set {
        bucket: String,
        key: String,
        /// The value; `-` reads it from standard input.
        value: String,
    },
    /// Delete a key.
    Delete { bucket: String, key: String },
    /// List keys in order, one a line.
    List {
        bucket: String,
        /// Only keys that start with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
}

impl KvCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let client = self.host.client()?;
        let entry = |bucket: &str, key: &str| {
            self.host.at(&format!(
                "/v1/kv/{}/{}",
                utf8_percent_encode(bucket, NON_ALPHANUMERIC),
                utf8_percent_encode(key, KEY)
            ))
        };
        match &self.action {
            KvAction::Get { bucket, key } => {
                let url = entry(bucket, key);
                let response =
                    send_checked(client.get(&url), &url, || format!("reading {bucket}/{key}"))
                        .await?;
                let value = response.bytes().await.context("reading the answer")?;
                std::io::stdout()
                    .write_all(&value)
                    .context("writing the value")?;
            }
            KvAction::Set { bucket, key, value } => {
                let body = if value == "-" {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                        .context("reading the value from standard input")?;
                    bytes
                } else {
                    value.clone().into_bytes()
                };
                let url = entry(bucket, key);
                send_checked(client.put(&url).body(body), &url, || {
                    format!("setting {bucket}/{key}")
                })
                .await?;
            }
            KvAction::Delete { bucket, key } => {
                let url = entry(bucket, key);
                send_checked(client.delete(&url), &url, || {
                    format!("deleting {bucket}/{key}")
                })
                .await?;
            }
            KvAction::List { bucket, prefix } => {
                let mut after: Option<String> = None;
                loop {
                    let url = self.host.at(&format!(
                        "/v1/kv/{}",
                        utf8_percent_encode(bucket, NON_ALPHANUMERIC)
                    ));
                    let mut query = vec![("prefix", prefix.clone())];
                    if let Some(after) = &after {
                        query.push(("after", after.clone()));
                    }
                    let response = send_checked(client.get(&url).query(&query), &url, || {
                        format!("listing {bucket}")
                    })
                    .await?;
                    let page: KvKeyList = response.json().await.context("reading the answer")?;
                    for key in &page.keys {
                        println!("{key}");
                    }
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
            }
        }
        Ok(())
    }
}
