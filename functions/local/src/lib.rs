//! The local runner: the same Router the api Lambda runs, served on loopback over an embedded
//! store; and the operator's command line for a deployed stack or a local one (`status`,
//! `policy`, `region`, `emergency`, `pause`, `resume`, `audit`, `warm`, `sweep`, `drain`,
//! `deregister`).

mod admission;
mod day;
mod demo;
mod export_day;
pub mod ops;
mod plots;
mod proxy;
mod replay;
mod replay_day;
mod serve;
mod simulate;
mod warm_plan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::config::{Config, LogFormat};

pub use export_day::ExportDayArgs;
pub use proxy::{ProxyArgs, SigningProxy, region_of};
pub use replay::{ReplayArgs, ReplayKind};
pub use serve::ServeArgs;
pub use simulate::{SimulateArgs, SimulateKind};
pub use warm_plan::WarmPlanArgs;

#[derive(Debug, Parser)]
#[command(name = "commander", version, about = "Incident Commander control plane, run locally")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API on loopback, keeping state in an embedded database file.
    Serve(ServeArgs),
    /// Drive the decision code with recorded or hand-written input.
    Replay(ReplayArgs),
    /// Run deterministic simulations of the decision code.
    Simulate(SimulateArgs),
    /// Write one day of recorded demand (every type's, or one's) to a file a what-if replay reads.
    ExportDay(ExportDayArgs),
    /// Print the warming plan for an instant as JSON.
    WarmPlan(WarmPlanArgs),
    /// Reach a deployed stack's dashboard and API through a loopback proxy that signs every
    /// request with your AWS credentials.
    Proxy(ProxyArgs),
    /// Print a shell completion script: `commander completions bash > /etc/bash_completion.d/commander`.
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Ops(ops::OpsCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        // A command-line tool's own: no settings to read, no log to start.
        Command::Ops(command) => return Ok(ops::run(&command, &mut std::io::stdout().lock()).await.into()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "commander", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let mut config = Config::from_env()?;
    if std::env::var_os("AWS_LAMBDA_LOG_FORMAT").is_none() {
        // People read a local run's log; machines read Lambda's.
        config.log_format = LogFormat::Text;
    }
    let simulating = matches!(cli.command, Command::Simulate(_));
    if simulating && std::env::var_os("COMMANDER_LOG_LEVEL").is_none() {
        // A simulated day runs the scaler thousands of times: its reasoning is in the report,
        // not the log (COMMANDER_LOG_LEVEL=info shows it).
        config.log_level = tracing::Level::WARN;
    }
    shared::telemetry::init_logging(
        &config,
        &shared::telemetry::LogIdentity {
            service: "commander".into(),
            ..shared::telemetry::LogIdentity::default()
        },
    );
    match cli.command {
        Command::Serve(args) => serve::serve(args, config).await,
        Command::Replay(args) => replay::run(&args, &mut std::io::stdout().lock()),
        Command::Simulate(args) => simulate::run(&args, &config, &mut std::io::stdout()).await,
        Command::WarmPlan(args) => warm_plan::run(&args, &mut std::io::stdout().lock()),
        Command::ExportDay(args) => export_day::run(&args, &config, &mut std::io::stdout().lock()).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Ops(_) | Command::Completions { .. } => Ok(()),
    }
    .map(|()| ExitCode::SUCCESS)
}
