//! `commander`: the whole suite in one process, no AWS account needed.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    local::run(local::Cli::parse()).await
}
