//! `tsdev schedule`: the tenant's cron schedules (`/v1/schedules`): list them with their
//! next ticks, make or replace one, delete one.

use anyhow::Context;
use clap::{Args, Subcommand};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::client::HostArgs;
use super::render::table;
use super::send_checked;
use crate::api::{ScheduleInfo, ScheduleList, ScheduleRequest};
use crate::schedule::Missed;

/// List, set and delete cron schedules of procedures and workflows.
#[derive(Args)]
pub(super) struct ScheduleCommand {
    #[command(subcommand)]
    action: ScheduleAction,
    /// The host.
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Subcommand)]
enum ScheduleAction {
    /// The schedules with their next tick and last outcome.
    List {
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Make or replace a schedule.
    Set {
        /// Its name: a-z, 0-9 and -.
        name: String,
        /// The cron expression: five fields, or six with seconds first, e.g. "0 3 * * *".
        #[arg(long)]
        cron: String,
        /// The procedure or workflow it calls.
        #[arg(long)]
        procedure: String,
        /// Its arguments: a JSON object by parameter name.
        #[arg(long)]
        args: Option<String>,
        /// The IANA time zone the expression is read in.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Ticks missed while no node ran: fire the latest once, or skip them.
        #[arg(long, value_enum, default_value = "latest")]
        missed: MissedArg,
    },
    /// Delete a schedule made with `set` (a manifest's goes with its [[schedule]]).
    Delete { name: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum MissedArg {
    Latest,
    Skip,
}

impl ScheduleCommand {
    pub(super) async fn run(self) -> anyhow::Result<()> {
        let client = self.host.client()?;
        let one = |name: &str| {
            self.host.at(&format!(
                "/v1/schedules/{}",
                utf8_percent_encode(name, NON_ALPHANUMERIC)
            ))
        };
        match self.action {
            ScheduleAction::List { json } => {
                let url = self.host.at("/v1/schedules");
                let response =
                    send_checked(client.get(&url), &url, || "listing schedules".into()).await?;
                let list: ScheduleList = response.json().await.context("reading the answer")?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if list.schedules.is_empty() {
                    println!(
                        "No schedules. Make one with `tsdev schedule set` or a [[schedule]] in tsdev.toml."
                    );
                } else {
                    print!("{}", schedule_table(&list.schedules));
                }
            }
            ScheduleAction::Set {
                name,
                cron,
                procedure,
                args,
                timezone,
                missed,
            } => {
                let args = match args {
                    None => None,
                    Some(text) => Some(
                        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
                            .with_context(|| {
                            format!("--args must be a JSON object by parameter name: {text}")
                        })?,
                    ),
                };
                let request = ScheduleRequest {
                    cron,
                    timezone: Some(timezone),
                    procedure,
                    args,
                    missed: Some(match missed {
                        MissedArg::Latest => Missed::Latest,
                        MissedArg::Skip => Missed::Skip,
                    }),
                };
                let url = one(&name);
                let response = send_checked(client.put(&url).json(&request), &url, || {
                    format!("setting schedule {name}")
                })
                .await?;
                let info: ScheduleInfo = response.json().await.context("reading the answer")?;
                match info.next.first() {
                    Some(next) => println!(
                        "schedule {} calls {}; next at {next}",
                        info.name, info.procedure
                    ),
                    None => println!(
                        "schedule {} calls {}; it fires no more",
                        info.name, info.procedure
                    ),
                }
            }
            ScheduleAction::Delete { name } => {
                let url = one(&name);
                send_checked(client.delete(&url), &url, || {
                    format!("deleting schedule {name}")
                })
                .await?;
                println!("deleted schedule {name}");
            }
        }
        Ok(())
    }
}

/// The schedules as an aligned table.
fn schedule_table(schedules: &[ScheduleInfo]) -> String {
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                format!("{} ({})", s.cron, s.timezone),
                s.procedure.clone(),
                s.next.first().cloned().unwrap_or_else(|| "never".into()),
                s.last_outcome.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["NAME", "CRON", "CALLS", "NEXT", "LAST"], &rows)
}
