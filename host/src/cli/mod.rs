//! The `tsdev` command line, one file per command.

mod bootstrap;
mod build;
mod call;
mod client;
mod config;
mod config_file;
mod deploy;
mod dev;
mod generate;
mod init;
mod key;
mod kv;
mod login;
mod procedures;
mod render;
mod rollback;
mod schedule;
mod serve;
mod tenant;
mod versions;
mod workflow;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Default address of a host, for the commands that talk to one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";

#[derive(Parser)]
#[command(
    name = "tsdev",
    version,
    about = "Host procedures and durable workflows as WebAssembly components"
)]
/// The command line.
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Serve(serve::ServeCommand),
    Init(init::InitCommand),
    Dev(dev::DevCommand),
    Build(build::BuildCommand),
    Deploy(deploy::DeployCommand),
    Call(call::CallCommand),
    Procedures(procedures::ProceduresCommand),
    Versions(versions::VersionsCommand),
    Rollback(rollback::RollbackCommand),
    Generate(generate::GenerateCommand),
    Workflow(workflow::WorkflowCommand),
    Tenant(tenant::TenantCommand),
    Key(key::KeyCommand),
    Kv(kv::KvCommand),
    Schedule(schedule::ScheduleCommand),
    Config(config::ConfigCommand),
    Login(login::LoginCommand),
}

/// `println!` for long-running commands (`serve`, `dev`): their stdout may be closed by
/// whoever started them (a supervisor, a test that read the address and went away), and a
/// host must not die of that. Write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use say;

/// Parse the command line, run the command, print any error with its causes.
pub fn main() -> ExitCode {
    crate::tls::install_crypto_provider();
    let args = match config_file::with_config_file(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(c) => c.run().await,
            Command::Init(c) => c.run().await,
            Command::Dev(c) => c.run().await,
            Command::Build(c) => c.run().await.map(|_| ()),
            Command::Deploy(c) => c.run().await,
            Command::Call(c) => c.run().await,
            Command::Procedures(c) => c.run().await,
            Command::Versions(c) => c.run().await,
            Command::Kv(c) => c.run().await,
            Command::Schedule(c) => c.run().await,
            Command::Config(c) => c.run().await,
            Command::Rollback(c) => c.run().await,
            Command::Generate(c) => c.run().await,
            Command::Workflow(c) => c.run().await,
            Command::Tenant(c) => c.run().await,
            Command::Key(c) => c.run().await,
            Command::Login(c) => c.run().await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(hint) = hint_for(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// What to do about a failure the message alone does not explain.
fn hint_for(error: &anyhow::Error) -> Option<&'static str> {
    let unreachable = error.chain().any(|cause| {
        cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|e| e.is_connect())
    });
    if unreachable {
        return Some(
            "no tsdev host answers at that address: start one with `tsdev serve` (or `tsdev dev`), \
             or point at another with --url / TSDEV_URL",
        );
    }
    let address_taken = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)
    });
    address_taken.then_some(
        "another program (perhaps another tsdev) listens there: stop it, or choose another \
         address with --listen (port 0 picks a free one)",
    )
}

/// The name a component file deploys as when none is given: its manifest's, else the file
/// name with '_' as '-'.
pub(crate) fn default_component_name(
    file: &std::path::Path,
    wasm: &[u8],
) -> anyhow::Result<String> {
    use anyhow::Context;
    let manifest = crate::manifest::Manifest::from_component(wasm)
        .with_context(|| format!("reading the manifest embedded in {}", file.display()))?;
    if let Some(name) = manifest.and_then(|m| m.component.name) {
        return Ok(name);
    }
    Ok(file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component")
        .replace('_', "-"))
}

/// A spinner on stderr while something slow runs; hidden when stderr is not a terminal.
pub(crate) fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

/// Send `request` (to `url`): its answer when it is a success, else the host's problem
/// with `doing` (what the command was doing) as its context.
pub(crate) async fn send_checked(
    request: reqwest::RequestBuilder,
    url: &str,
    doing: impl FnOnce() -> String,
) -> anyhow::Result<reqwest::Response> {
    send_checked_as(request, || format!("asking {url}"), doing).await
}

/// [`send_checked`], with `sending` the context of a request that could not be sent.
pub(crate) async fn send_checked_as(
    request: reqwest::RequestBuilder,
    sending: impl FnOnce() -> String,
    doing: impl FnOnce() -> String,
) -> anyhow::Result<reqwest::Response> {
    use anyhow::Context;
    let response = request.send().await.with_context(sending)?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(answer_error(response).await.context(doing()))
    }
}

/// Turn a problem+json answer (or any non-success answer) into an error message.
pub(crate) async fn answer_error(response: reqwest::Response) -> anyhow::Error {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<crate::api::ProblemBody>(&text) {
        Ok(problem) => {
            let mut message = format!("{status} {}: {}", problem.kind, problem.detail);
            if let Some(error) = problem.extra.get("error") {
                message.push_str(&format!("\nerror: {error}"));
            }
            anyhow::anyhow!(message)
        }
        _ => anyhow::anyhow!("{status}: {text}"),
    }
}
