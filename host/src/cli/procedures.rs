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
        let body: serde_json::Value = response.json().await.context("reading the answer")?;
        let procedures = body["procedures"].as_array().cloned().unwrap_or_default();
        if procedures.is_empty() {
            println!("no procedures deployed");
        }
        for p in procedures {
            let name = p["name"].as_str().unwrap_or("?");
            let component = p["component"].as_str().unwrap_or("?");
            println!(
                "{name}  ({component})  {}",
                p["signature"].as_str().unwrap_or("")
            );
            if let Some(description) = p["description"].as_str() {
                println!("    {description}");
            }
        }
        Ok(())
    }
}
