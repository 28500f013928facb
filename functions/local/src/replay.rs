use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use shared::scaling::replay::{Trace, replay};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub what: ReplayKind,
}

#[derive(Debug, Subcommand)]
pub enum ReplayKind {
    /// Run the autoscaler over a trace; one JSON line per observation.
    Scaling {
        /// The trace (format in docs/scaling.md, examples in tests/fixtures/scaling/).
        trace: PathBuf,
    },
}

pub fn run(args: &ReplayArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match &args.what {
        ReplayKind::Scaling { trace } => {
            let text =
                std::fs::read_to_string(trace).with_context(|| format!("cannot read {}", trace.display()))?;
            let trace: Trace = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a scaling trace", trace.display()))?;
            for line in replay(&trace)? {
                serde_json::to_writer(&mut *out, &line)?;
                writeln!(out)?;
            }
            Ok(())
        }
    }
}
