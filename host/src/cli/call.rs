//! `tsdev call`: call a procedure on a running host.

use anyhow::Context;
use clap::Args;

use super::client::HostArgs;
use super::send_checked_as;

/// Call PROCEDURE with a JSON object of arguments and print the JSON result.
#[derive(Args)]
pub(super) struct CallCommand {
    /// e.g. `greeter.hello`.
    procedure: String,
    /// Arguments as one JSON object keyed by parameter name.
    #[arg(default_value = "{}")]
    args: String,
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

impl CallCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let args: serde_json::Value =
            serde_json::from_str(&self.args).context("the arguments are not valid JSON")?;
        let url = self.host.at(&format!("/rpc/{}", self.procedure));
        let request = self.host.client()?.post(&url).json(&args);
        let response = send_checked_as(
            request,
            || format!("calling {url}"),
            || format!("calling {}", self.procedure),
        )
        .await?;
        let result: serde_json::Value = response.json().await.context("reading the result")?;
        println!("{}", serde_json::to_string_pretty(&result)?);
        Ok(())
    }
}
