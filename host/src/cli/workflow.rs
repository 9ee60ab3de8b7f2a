//! `tsdev workflow`: start durable workflow executions and follow them.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::api::{ExecutionInfo, ExecutionList, SignalInfo, StartedInfo, StatusEvent, StepInfo};

use super::client::HostArgs;
use super::render;
use super::send_checked;

/// Start, inspect, list and cancel workflow executions on a host.
#[derive(Args)]
pub(super) struct WorkflowCommand {
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
            Action::Events { id } => return follow(&client, &base, id, self.json).await,
            Action::Signal { id, name, payload } => {
                let payload: Value =
                    serde_json::from_str(payload).context("the payload is not valid JSON")?;
                client
                    .post(format!("{base}/v1/executions/{id}/signals/{name}"))
                    .header("content-type", "application/json")
                    .body(payload.to_string())
            }
        };
        let response = send_checked(request, &base, || "the host refused".into()).await?;
        let reading = "reading the answer";
        let now = crate::clock::now_ms();
        match self.action {
            Action::Start { .. } => {
                let started: StartedInfo = response.json().await.context(reading)?;
                match self.json {
                    true => println!("{}", serde_json::to_string_pretty(&started)?),
                    false => println!("{}", started.id),
                }
            }
            Action::List {
                workflow, status, ..
            } => {
                let list: ExecutionList = response.json().await.context(reading)?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if list.executions.is_empty() {
                    let mut said = String::from("no executions");
                    if let Some(status) = status {
                        said.push_str(&format!(" with status {status}"));
                    }
                    if let Some(workflow) = workflow {
                        said.push_str(&format!(" of workflow {workflow}"));
                    }
                    println!("{said}");
                } else {
                    let rows: Vec<Vec<String>> = list
                        .executions
                        .iter()
                        .map(|e| {
                            vec![
                                e.id.clone(),
                                e.status.as_str().to_string(),
                                e.workflow.clone(),
                                render::relative(e.created_at, now),
                            ]
                        })
                        .collect();
                    println!(
                        "{}",
                        render::table(&["ID", "STATUS", "WORKFLOW", "STARTED"], &rows)
                    );
                    if let Some(next) = list.next {
                        println!("(more: the next page starts after {next})");
                    }
                }
            }
            Action::Signal { .. } => {
                let sent: SignalInfo = response.json().await.context(reading)?;
                match self.json {
                    true => println!("{}", serde_json::to_string_pretty(&sent)?),
                    false => println!("sent {} to {}", sent.signal, sent.execution),
                }
            }
            Action::Status { .. } | Action::Cancel { .. } | Action::Events { .. } => {
                let execution: ExecutionInfo = response.json().await.context(reading)?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&execution)?);
                } else {
                    if matches!(self.action, Action::Cancel { .. }) {
                        println!("cancelled");
                    }
                    println!("{}", render::execution(&execution, now));
                }
            }
        }
        Ok(())
    }
}

/// Print `GET /v1/executions/{id}/events` as it comes: one line per event (`step …`,
/// `status …`), or with `json` the event's name and its data as sent.
async fn follow(client: &reqwest::Client, base: &str, id: &str, json: bool) -> anyhow::Result<()> {
    let url = format!("{base}/v1/executions/{id}/events");
    let mut response = send_checked(client.get(&url), &url, || "the host refused".into()).await?;
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
                let data = data.trim();
                match json {
                    true => println!("{event} {data}"),
                    false => println!("{}", event_line(&event, data)),
                }
            }
        }
    }
    Ok(())
}

/// One event for people: `step 2  sleep  sleep  300 ms  until in 4 s`, `status completed
/// result: …`.
fn event_line(event: &str, data: &str) -> String {
    let now = crate::clock::now_ms();
    match event {
        "step" => match serde_json::from_str::<StepInfo>(data) {
            Ok(step) => format!("step {}", render::step_line(&step, now).join("  ")),
            Err(_) => format!("step {data}"),
        },
        "status" => match serde_json::from_str::<StatusEvent>(data) {
            Ok(status) => {
                let mut line = format!("status {}", status.status.as_str());
                if let Some(wake_at) = status.wake_at {
                    line.push_str(&format!("  due again {}", render::relative(wake_at, now)));
                }
                if !status.result.is_null() {
                    line.push_str(&format!(
                        "  result: {}",
                        render::short_json(&status.result, 200)
                    ));
                }
                if !status.error.is_null() {
                    line.push_str(&format!(
                        "  error: {}",
                        render::short_json(&status.error, 200)
                    ));
                }
                line
            }
            Err(_) => format!("status {data}"),
        },
        other => format!("{other} {data}"),
    }
}
