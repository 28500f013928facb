//! `commander simulate replay`: a recorded day of one type (from `commander export-day`) run
//! through the suite's loop twice on the same incidents, under the policy in force and under a
//! proposed one, with a side-by-side report and plots.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use shared::domain::AgentType;
use shared::scaling::ScalingPolicy;
use shared::simulation::recorded_day::{DayExport, incidents, scenario};
use shared::simulation::{DayRun, Variant, run};

/// What a replay is asked for.
#[derive(Debug)]
pub struct ReplayRequest<'a> {
    pub from: &'a Path,
    pub day: Option<NaiveDate>,
    pub agent_type: &'a str,
    pub policy: &'a Path,
    pub seed: u64,
    pub out: &'a Path,
}

/// Scaling changes the run made: each evaluation whose desired count differs from the last.
fn scaling_actions(run: &DayRun) -> usize {
    let desired: Vec<u32> = run.samples.iter().map(|s| s.desired.values().sum()).collect();
    desired.windows(2).filter(|w| w[0] != w[1]).count()
}

/// The side-by-side report.
fn markdown(
    export: &DayExport,
    agent_type: &AgentType,
    runs: &[(String, DayRun)],
    policies: &[&ScalingPolicy],
    command: &str,
    plots: &[shared::simulation::report::Plot],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# What-if replay: {agent_type} on {}\n", export.day);
    let incidents = runs.first().map_or(0, |(_, r)| r.incidents);
    let _ = writeln!(
        out,
        "The day's recorded minutes rebuilt as {incidents} incidents (served counts per minute and severity, each hour's service time by Little's law, dealt over {} regions), run through the suite's loop under each policy on the same incidents.\n\nMade with `{command}`.\n",
        export.regions.len()
    );
    let header: Vec<&str> = runs.iter().map(|(l, _)| l.as_str()).collect();
    let _ = writeln!(out, "| | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(runs.len()));
    let mut row = |name: &str, cell: &dyn Fn(&DayRun) -> String| {
        let cells: Vec<String> = runs.iter().map(|(_, r)| cell(r)).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row("incidents completed", &|r| format!("{} of {}", r.overall.completed, r.incidents));
    row("wait for an agent p50 / p95 / p99", &|r| {
        format!("{:.1} / {:.1} / {:.1} s", r.overall.wait.p50_s, r.overall.wait.p95_s, r.overall.wait.p99_s)
    });
    row("waited longer than the maximum response time", &|r| {
        format!("{:.2} %", r.overall.waited_over_maximum_share * 100.0)
    });
    row("done later than the maximum response time", &|r| {
        format!("{:.2} %", r.overall.over_maximum_share * 100.0)
    });
    row("replica-hours", &|r| format!("{:.1}", r.replica_hours.values().sum::<f64>()));
    row("replica cost", &|r| format!("${:.2}", r.replica_cost));
    row("metered spend", &|r| format!("${:.2}", r.spend));
    row("scaling actions", &|r| scaling_actions(r).to_string());
    let _ = writeln!(out, "\n## The policies\n");
    for ((label, _), policy) in runs.iter().zip(policies) {
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

pub async fn replay(request: &ReplayRequest<'_>, out: &mut impl Write) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(request.from)
        .with_context(|| format!("cannot read {}", request.from.display()))?;
    let export =
        DayExport::parse(&text).with_context(|| format!("{} is not a day export", request.from.display()))?;
    if let Some(day) = request.day
        && day != export.day
    {
        bail!("{} holds {}, not {day}", request.from.display(), export.day);
    }
    let agent_type = AgentType::parse(request.agent_type).context("--type")?;
    let proposed_text = std::fs::read_to_string(request.policy)
        .with_context(|| format!("cannot read {}", request.policy.display()))?;
    let proposed: ScalingPolicy = serde_json::from_str(&proposed_text)
        .with_context(|| format!("{} is not a scaling policy", request.policy.display()))?;
    proposed.validate().with_context(|| format!("{} is not a valid policy", request.policy.display()))?;
    let current =
        export.policies.get(&agent_type).cloned().unwrap_or_else(|| ScalingPolicy::default_for(&agent_type));
    let day = incidents(&export, &agent_type, request.seed)?;
    let mut runs = Vec::new();
    for (label, policy) in [("policy in force", &current), ("proposed policy", &proposed)] {
        let s = scenario(&export, &agent_type, policy, &day, &format!("replay-{agent_type}"))?;
        let ran = run(&s, &day, Variant::Suite, &mut |_| {})
            .await
            .with_context(|| format!("the replay under the {label} failed"))?;
        runs.push((label.to_owned(), ran));
    }
    std::fs::create_dir_all(request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let s = scenario(&export, &agent_type, &current, &day, "replay")?;
    let plots = crate::plots::write_replay(request.out, &s, &runs)?;
    let command = format!(
        "commander simulate replay --from {} --type {agent_type} --policy {} --out {}",
        request.from.display(),
        request.policy.display(),
        request.out.display()
    );
    let report = markdown(&export, &agent_type, &runs, &[&current, &proposed], &command, &plots);
    let path: PathBuf = request.out.join("report.md");
    std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(out, "{}", report.lines().take_while(|l| !l.starts_with("## ")).collect::<Vec<_>>().join("\n"))?;
    writeln!(out, "report: {}", path.display())?;
    Ok(())
}
