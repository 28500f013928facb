use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use shared::balancing::simulation::{Scenario, StrategyResult, simulate};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    pub what: SimulateKind,
}

#[derive(Debug, Subcommand)]
pub enum SimulateKind {
    /// Compare balancing strategies on a scenario (format in docs/balancing.md, examples in
    /// tests/fixtures/balancing/).
    Balancing {
        scenario: PathBuf,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Simulate a day of the whole fleet through the suite's decision code, with the two
    /// baselines, and write report.md and plots (scenarios in tests/fixtures/scenarios/).
    Day {
        /// A scenario file; the bundled normal day when left out.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Replaces the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Where report.md, the plots and runs.json go.
        #[arg(long, default_value = "simulation")]
        out: PathBuf,
    },
    /// Replay one type's recorded day (a `commander export-day` file, or straight from a stack's
    /// table or a local state file) under the policy in force and a proposed one, side by side:
    /// report.md and plots.
    Replay {
        /// A day export (`commander export-day`).
        #[arg(long, conflicts_with_all = ["state", "table"])]
        from: Option<PathBuf>,
        #[command(flatten)]
        source: crate::export_day::RecordSource,
        /// The day (UTC) to read from the table or state file; with --from, the day the export
        /// must hold (a check).
        #[arg(long)]
        day: Option<chrono::NaiveDate>,
        /// The agent type to replay.
        #[arg(long = "type")]
        agent_type: String,
        /// The proposed policy: a JSON scaling policy, as `GET /scaling/policies/{type}` shows it.
        #[arg(long)]
        policy: PathBuf,
        /// Seed of the service-time spread.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The first hour (UTC, 0-23) to replay.
        #[arg(long, default_value_t = 0)]
        from_hour: u32,
        /// How many hours to replay (the rest of the day when left out).
        #[arg(long)]
        hours: Option<u32>,
        /// Where report.md and the plots go.
        #[arg(long, default_value = "replay")]
        out: PathBuf,
    },
}

pub async fn run(
    args: &SimulateArgs,
    config: &shared::config::Config,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match &args.what {
        SimulateKind::Day { scenario, seed, out: dir } => {
            let parsed = crate::day::scenario(scenario.as_deref(), *seed)?;
            let runs =
                crate::day::simulate(&parsed, std::io::IsTerminal::is_terminal(&std::io::stderr())).await?;
            let mut command = vec!["commander simulate day".to_owned()];
            if let Some(path) = scenario {
                command.push(format!("--scenario {}", path.display()));
            }
            if let Some(seed) = seed {
                command.push(format!("--seed {seed}"));
            }
            command.push(format!("--out {}", dir.display()));
            let command = command.join(" ");
            let path = crate::day::write(dir, &parsed, &runs, &command)?;
            writeln!(out, "{}", shared::simulation::report::summary_table(&runs))?;
            writeln!(out, "report: {}", path.display())?;
            Ok(())
        }
        SimulateKind::Replay { from, source, day, agent_type, policy, seed, from_hour, hours, out: dir } => {
            let request = crate::replay_day::ReplayRequest {
                from: from.as_deref(),
                source,
                day: *day,
                agent_type,
                policy,
                seed: *seed,
                window: shared::simulation::recorded_day::Window::of(*from_hour, *hours),
                out: dir,
            };
            crate::replay_day::replay(&request, config, out).await
        }
        SimulateKind::Balancing { scenario, json } => {
            let text = std::fs::read_to_string(scenario)
                .with_context(|| format!("cannot read {}", scenario.display()))?;
            let parsed: Scenario = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a balancing scenario", scenario.display()))?;
            let results = simulate(&parsed)?;
            write_table(&results, parsed.timeout_s, out)?;
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_string_pretty(&results)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(())
        }
    }
}

fn write_table(results: &[StrategyResult], timeout_s: f64, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "| strategy | requests | mean s | p50 s | p99 s | max s | within {timeout_s} s | busiest replica share |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    for r in results {
        let busiest = r.share.values().copied().fold(0.0, f64::max);
        writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} % | {:.2} % |",
            serde_json::to_value(r.strategy)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            r.requests,
            r.latency_s.mean,
            r.latency_s.p50,
            r.latency_s.p99,
            r.latency_s.max,
            r.success_within_timeout * 100.0,
            busiest * 100.0
        )?;
    }
    Ok(())
}
