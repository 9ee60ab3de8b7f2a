//! `tsdev workflow`: start durable workflow executions and follow them.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::api::{ExecutionInfo, ExecutionList, SignalInfo, StartedInfo};

use super::answer_error;
use super::client::HostArgs;

/// Start, inspect, list and cancel workflow executions on a host.
#[derive(Args)]
pub(super) struct WorkflowCommand {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Subcommand)]
enum Action {
    /// Start WORKFLOW with a JSON object of arguments; prints the execution id.
    Start {
        workflow: String,
        #[arg(default_value = "{}")]
        args: String,
        /// Starting twice with the same key and arguments gives the same execution.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show an execution: status, result or error, steps.
    Status { id: String },
    /// List executions, newest first.
    List {
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Cancel an unfinished execution.
    Cancel { id: String },
    /// Follow an execution: print its steps and status changes as they happen, until it
    /// finishes.
    Events { id: String },
    /// Send signal NAME with a JSON payload to an execution.
    Signal {
        id: String,
        name: String,
        /// The payload (JSON); default null.
        #[arg(default_value = "null")]
        payload: String,
    },
}

impl WorkflowCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let base = self.host.url.trim_end_matches('/').to_string();
        let client = self.host.client()?;
        let request = match &self.action {
            Action::Start {
                workflow,
                args,
                idempotency_key,
            } => {
                let args: Value =
                    serde_json::from_str(args).context("the arguments are not valid JSON")?;
                let mut request = client
                    .post(format!("{base}/v1/workflows/{workflow}/executions"))
                    .json(&args);
                if let Some(key) = idempotency_key {
                    request = request.header("idempotency-key", key);
                }
                request
            }
            Action::Status { id } => client.get(format!("{base}/v1/executions/{id}")),
            Action::List {
                workflow,
                status,
                limit,
            } => {
                let mut query = vec![("limit", limit.to_string())];
                query.extend(workflow.clone().map(|w| ("workflow", w)));
                query.extend(status.clone().map(|s| ("status", s)));
                client.get(format!("{base}/v1/executions")).query(&query)
            }
            Action::Cancel { id } => client.post(format!("{base}/v1/executions/{id}/cancel")),
            Action::Events { id } => return follow(&client, &base, id).await,
            Action::Signal { id, name, payload } => {
                let payload: Value =
                    serde_json::from_str(payload).context("the payload is not valid JSON")?;
                client
                    .post(format!("{base}/v1/executions/{id}/signals/{name}"))
                    .header("content-type", "application/json")
                    .body(payload.to_string())
            }
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("talking to {base}"))?;
        if !response.status().is_success() {
            return Err(answer_error(response).await.context("the host refused"));
        }
        let reading = "reading the answer";
        match self.action {
            Action::Start { .. } => {
                let started: StartedInfo = response.json().await.context(reading)?;
                println!("{}", started.id);
            }
            Action::List { .. } => {
                let list: ExecutionList = response.json().await.context(reading)?;
                for e in list.executions {
                    println!("{}  {:<10} {}", e.id, e.status.as_str(), e.workflow);
                }
            }
            Action::Signal { .. } => {
                let sent: SignalInfo = response.json().await.context(reading)?;
                println!("sent {} to {}", sent.signal, sent.execution);
            }
            Action::Status { .. } | Action::Cancel { .. } | Action::Events { .. } => {
                let execution: ExecutionInfo = response.json().await.context(reading)?;
                println!("{}", serde_json::to_string_pretty(&execution)?)
            }
        }
        Ok(())
    }
}

/// Print `GET /v1/executions/{id}/events` as it comes: one line per event.
async fn follow(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let url = format!("{base}/v1/executions/{id}/events");
    let mut response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("talking to {base}"))?;
    if !response.status().is_success() {
        return Err(answer_error(response).await.context("the host refused"));
    }
    let mut buffer = String::new();
    let mut event = String::new();
    while let Some(chunk) = response.chunk().await.context("reading the events")? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let line = line.trim_end();
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if let Some(data) = line.strip_prefix("data:") {
                println!("{event} {}", data.trim());
            }
        }
    }
    Ok(())
}
