//! `commander simulate day`: the suite and both baselines through one scenario's day, then
//! `report.md` and the plots in the output directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use shared::simulation::{DayRun, Scenario, Variant, incidents, peak_concurrency, report, run};

/// The scenario used when none is given.
const NORMAL_DAY: &str = include_str!("../../../tests/fixtures/scenarios/normal-day.json");

/// Reads `path`, or the bundled normal day; `seed` replaces the scenario's.
pub fn scenario(path: Option<&Path>, seed: Option<u64>) -> anyhow::Result<Scenario> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => NORMAL_DAY.to_owned(),
    };
    let name = path.map_or_else(|| "the bundled normal day".to_owned(), |p| p.display().to_string());
    let mut scenario = Scenario::parse(&text).with_context(|| format!("{name} is not a valid scenario"))?;
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    Ok(scenario)
}

/// Runs every variant over the scenario's incidents, with a progress bar on a terminal.
pub async fn simulate(scenario: &Scenario, show_progress: bool) -> anyhow::Result<Vec<DayRun>> {
    let day = incidents(scenario);
    let minutes = u64::from(scenario.hours) * 60;
    let bar = if show_progress {
        ProgressBar::new(minutes * Variant::ALL.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>22} [{bar:40}] {pos}/{len} simulated minutes, {elapsed} ({eta} left)",
        )
        .context("progress template")?
        .progress_chars("=> "),
    );
    bar.println(format!(
        "{}: {} incidents, at most {} at once",
        scenario.name,
        day.len(),
        peak_concurrency(&day)
    ));
    let mut runs = Vec::new();
    for (k, variant) in Variant::ALL.into_iter().enumerate() {
        bar.set_message(variant.label());
        let offset = k as u64 * minutes;
        let start = scenario.start;
        let mut progress = |at: chrono::DateTime<chrono::Utc>| {
            bar.set_position(offset + u64::try_from((at - start).num_minutes()).unwrap_or(0));
            std::ops::ControlFlow::Continue(())
        };
        runs.push(
            run(scenario, &day, variant, &mut progress)
                .await
                .with_context(|| format!("the {} run failed", variant.label()))?,
        );
    }
    bar.finish_and_clear();
    Ok(runs)
}

/// Writes `report.md` and the plots into `out` (created if missing).
pub fn write(out: &Path, scenario: &Scenario, runs: &[DayRun], command: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let plots = crate::plots::write_all(out, scenario, runs)?;
    let path = out.join("report.md");
    std::fs::write(&path, report::markdown(scenario, runs, command, &plots))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let json = out.join("runs.json");
    std::fs::write(&json, serde_json::to_string(runs)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    Ok(path)
}
