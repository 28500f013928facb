//! `commander simulate replay`: a recorded day of one type (from `commander export-day`) run
//! through the suite's loop twice on the same incidents, under the policy in force and under a
//! proposed one, with a side-by-side report and plots.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use shared::config::Config;
use shared::domain::AgentType;
use shared::scaling::ScalingPolicy;
use shared::simulation::recorded_day::{DayExport, MAX_INCIDENTS, Window};
use shared::simulation::what_if::{self, Budget, RunSummary, WhatIf};

use crate::export_day::RecordSource;

/// What a replay is asked for.
#[derive(Debug)]
pub struct ReplayRequest<'a> {
    /// An export file, or else `source`.
    pub from: Option<&'a Path>,
    pub source: &'a RecordSource,
    pub day: Option<NaiveDate>,
    pub agent_type: &'a str,
    pub policy: &'a Path,
    pub seed: u64,
    pub window: Window,
    pub out: &'a Path,
}

/// The side-by-side report.
fn markdown(
    export: &DayExport,
    what_if: &WhatIf,
    command: &str,
    plots: &[shared::simulation::report::Plot],
) -> String {
    let mut out = String::new();
    let w = what_if.window;
    let _ = writeln!(
        out,
        "# What-if replay: {} on {}, {:02}:00-{:02}:00 UTC\n",
        what_if.agent_type,
        export.day,
        w.from_hour,
        w.from_hour + w.hours
    );
    let _ = writeln!(
        out,
        "The day's recorded minutes rebuilt as {} incidents (served counts per minute and severity, each hour's service time by Little's law, dealt over {} regions), run through the suite's loop under each policy on the same incidents, with {} recorded hours before them as the history predictive scale-out forecasts from.\n\nMade with `{command}`.\n",
        what_if.incidents,
        export.regions.len(),
        what_if.history_hours
    );
    let summaries = what_if.summaries();
    let header: Vec<&str> = summaries.iter().map(|s| s.label.as_str()).collect();
    let _ = writeln!(out, "| | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(summaries.len()));
    let mut row = |name: &str, cell: &dyn Fn(&RunSummary) -> String| {
        let cells: Vec<String> = summaries.iter().map(cell).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    let incidents = what_if.incidents;
    row("incidents completed", &|s| format!("{} of {incidents}", s.incidents_completed));
    row("wait for an agent p50 / p95 / p99", &|s| {
        format!("{:.1} / {:.1} / {:.1} s", s.wait_p50_s, s.wait_p95_s, s.wait_p99_s)
    });
    row("waited longer than the maximum response time", &|s| {
        format!("{:.2} %", s.waited_over_maximum_share * 100.0)
    });
    row("done later than the maximum response time", &|s| {
        format!("{:.2} %", s.done_over_maximum_share * 100.0)
    });
    row("replica-hours", &|s| format!("{:.1}", s.replica_hours));
    row("replica cost", &|s| format!("${:.2}", s.replica_cost));
    row("metered spend", &|s| format!("${:.2}", s.spend));
    row("scaling actions", &|s| s.scaling_actions.to_string());
    let _ = writeln!(out, "\n## The policies\n");
    for (label, policy) in what_if::LABELS.iter().zip([&what_if.current, &what_if.proposed]) {
        let _ = writeln!(
            out,
            "{label}:\n\n```json\n{}\n```\n",
            serde_json::to_string_pretty(policy).unwrap_or_default()
        );
    }
    let _ = writeln!(out, "## Plots\n");
    for p in plots {
        let _ = writeln!(out, "### {}\n\n![{}]({})\n", p.title, p.title, p.file);
    }
    out
}

/// The day to replay: the export file's, or read from the state file or table.
async fn export(
    request: &ReplayRequest<'_>,
    config: &Config,
    agent_type: &AgentType,
) -> anyhow::Result<DayExport> {
    match (request.from, request.source.given()) {
        (Some(from), false) => {
            let text =
                std::fs::read_to_string(from).with_context(|| format!("cannot read {}", from.display()))?;
            let export =
                DayExport::parse(&text).with_context(|| format!("{} is not a day export", from.display()))?;
            if let Some(day) = request.day
                && day != export.day
            {
                bail!("{} holds {}, not {day}", from.display(), export.day);
            }
            Ok(export)
        }
        (None, true) => {
            let Some(day) = request.day else {
                bail!("--day: say which day to read from the records");
            };
            request.source.read(config, day, Some(agent_type)).await
        }
        _ => bail!("say where the day is: --from EXPORT, or --table NAME or --state FILE with --day"),
    }
}

/// Where the day came from, for the report's command line.
fn source_args(request: &ReplayRequest<'_>, day: NaiveDate) -> String {
    let source = &request.source;
    match (request.from, &source.table, &source.state) {
        (Some(from), ..) => format!("--from {}", from.display()),
        (None, Some(table), _) => format!("--table {table} --day {day}"),
        (None, None, Some(state)) => format!("--state {} --day {day}", state.display()),
        (None, None, None) => String::new(),
    }
}

pub async fn replay(
    request: &ReplayRequest<'_>,
    config: &Config,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let agent_type = AgentType::parse(request.agent_type).context("--type")?;
    let export = export(request, config, &agent_type).await?;
    let proposed_text = std::fs::read_to_string(request.policy)
        .with_context(|| format!("cannot read {}", request.policy.display()))?;
    let proposed: ScalingPolicy = serde_json::from_str(&proposed_text)
        .with_context(|| format!("{} is not a scaling policy", request.policy.display()))?;
    let budget = Budget { max_incidents: MAX_INCIDENTS, deadline: None };
    let what_if = what_if::replay(&export, &agent_type, &proposed, request.seed, request.window, budget)
        .await
        .with_context(|| format!("cannot replay {agent_type} on {}", export.day))?;
    std::fs::create_dir_all(request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let plots = crate::plots::write_replay(request.out, &what_if.scenario, &what_if.runs)?;
    let window = if request.window == Window::DAY {
        String::new()
    } else {
        format!(" --from-hour {} --hours {}", request.window.from_hour, request.window.hours)
    };
    let command = format!(
        "commander simulate replay {}{window} --type {agent_type} --policy {} --out {}",
        source_args(request, export.day),
        request.policy.display(),
        request.out.display()
    );
    let report = markdown(&export, &what_if, &command, &plots);
    let path: PathBuf = request.out.join("report.md");
    std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(out, "{}", report.lines().take_while(|l| !l.starts_with("## ")).collect::<Vec<_>>().join("\n"))?;
    writeln!(out, "report: {}", path.display())?;
    Ok(())
}
