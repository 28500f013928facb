use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use shared::warming::config::WarmConfig;
use shared::warming::plan::{TargetHistory, plan};

#[derive(Debug, Args)]
pub struct WarmPlanArgs {
    /// The instant to plan for (RFC 3339, e.g. 2026-03-09T12:00:00Z).
    #[arg(long)]
    pub at: String,
    /// A warming configuration (JSON); without it, the five agent functions in the seed regions.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Prints the plan for `--at` as a JSON array (no history: nothing warmed or invoked recently).
pub fn run(args: &WarmPlanArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(&args.at)
        .with_context(|| format!("--at {:?} is not an RFC 3339 instant", args.at))?
        .with_timezone(&Utc);
    let config = match &args.config {
        None => WarmConfig::default(),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            WarmConfig::from_json(&text)
                .with_context(|| format!("{} is not a warming configuration", path.display()))?
        }
    };
    let entries = plan(&config.targets(), &config.calendars, |_| TargetHistory::default(), at);
    serde_json::to_writer_pretty(&mut *out, &entries)?;
    writeln!(out)?;
    Ok(())
}
