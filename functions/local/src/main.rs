//! `commander`: the whole suite in one process, no AWS account needed.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    local::run(local::Cli::parse()).await
}
