//! `tsdev login URL`: keep an API key for a host, so later commands need no --api-key.

use std::io::BufRead;

use anyhow::Context;
use clap::Args;

use super::answer_error;

/// Keep an API key for the host at URL (in the user's config directory, mode 0600).
#[derive(Args)]
pub(super) struct LoginCommand {
    /// The host.
    url: String,
    /// The key; read from standard input when not given (keeps it out of shell history).
    #[arg(long, env = "TSDEV_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

impl LoginCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let key = match self.api_key {
            Some(key) => key,
            None => {
                eprintln!("API key for {}:", self.url);
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the key")?;
                line
            }
        };
        let key = key.trim().to_string();
        anyhow::ensure!(
            crate::access::is_well_formed_key(&key),
            "that is not a tsdev API key (tsdev_…, with a valid checksum)"
        );
        // Check the key with a read it may make (its tenant's components), if it has the scope.
        let url = format!("{}/v1/components", self.url.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .with_context(|| format!("asking {url}"))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(answer_error(response)
                .await
                .context("the host refused the key"));
        }
        let path = super::client::save_key(&self.url, &key)?;
        println!("saved the key for {} in {}", self.url, path.display());
        Ok(())
    }
}
