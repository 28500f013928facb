//! The simulation's plots, as SVG (plotters): the fleet per agent type and region, utilisation,
//! response times by hour, spend against the thresholds, warm and cold starts, and the fleet size
//! of the suite against the baselines. Wall-clock UTC on every x axis; thresholds dashed and
//! labelled on the line, apart from the series' colours; legends above the data.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use shared::cost::levels::Thresholds;
use shared::simulation::report::Plot;
use shared::simulation::{DayRun, Sample, Scenario, Variant};

type Drawn = Result<(), Box<dyn std::error::Error>>;

const SIZE: (u32, u32) = (1000, 420);

fn hours_since(scenario: &Scenario, at: chrono::DateTime<chrono::Utc>) -> f64 {
    (at - scenario.start).num_seconds() as f64 / 3600.0
}

fn top(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max).max(1e-9) * 1.1
}

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    COLORS[i % COLORS.len()]
}

/// The mean over `window_h` hours centred on each point (the samples jitter minute to minute).
fn smoothed(points: &[(f64, f64)], window_h: f64) -> Vec<(f64, f64)> {
    let half = window_h / 2.0;
    let (mut from, mut to, mut sum) = (0, 0, 0.0);
    points
        .iter()
        .map(|&(x, _)| {
            while to < points.len() && points[to].0 <= x + half {
                sum += points[to].1;
                to += 1;
            }
            while points[from].0 < x - half {
                sum -= points[from].1;
                from += 1;
            }
            (x, sum / (to - from) as f64)
        })
        .collect()
}

/// Draws one chart of lines on `area`: each line a label and its points (x in hours since the
/// scenario's start, shown as UTC), and `flat` thresholds as labelled dashed lines.
fn lines(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    scenario: &Scenario,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    flat: &[(String, f64)],
) -> Drawn {
    let hours = f64::from(scenario.hours);
    // Headroom above the data for the legend.
    let y_max =
        top(series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).chain(flat.iter().map(|(_, y)| *y)))
            * 1.35;
    let start = scenario.start;
    let clock = |h: &f64| {
        (start + chrono::Duration::seconds((h * 3600.0).round() as i64)).format("%H:%M").to_string()
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..hours, 0f64..y_max)?;
    chart.configure_mesh().x_desc("UTC").x_label_formatter(&clock).y_desc(y_desc).draw()?;
    for (i, (label, points)) in series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    for (k, (label, y)) in flat.iter().enumerate() {
        // Thresholds in black and greys, never a series' colour; dashed; each labelled on its
        // line, the labels staggered so close thresholds do not print over each other.
        const RULES: [RGBColor; 3] = [RGBColor(120, 120, 120), RGBColor(60, 60, 60), RGBColor(0, 0, 0)];
        let line = RULES[(k + RULES.len().saturating_sub(flat.len())).min(RULES.len() - 1)];
        chart.draw_series(DashedLineSeries::new([(0.0, *y), (hours, *y)], 6, 4, line.stroke_width(1)))?;
        let font = ("sans-serif", 12).into_font().color(&line).pos(Pos::new(HPos::Right, VPos::Bottom));
        let at = hours * (0.98 - 0.2 * k as f64);
        chart.draw_series(std::iter::once(Text::new(label.clone(), (at, *y), font)))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn suite(runs: &[DayRun]) -> Option<&DayRun> {
    runs.iter().find(|r| r.variant == Variant::Suite)
}

/// One panel per agent type, a line per region and one for all of them; `what` is the caption,
/// the y axis and the hours each point is the mean of (0: as sampled).
fn per_type_and_region(
    path: &Path,
    scenario: &Scenario,
    run: &DayRun,
    what: (&str, &str, f64),
    flat: &[(String, f64)],
    by_region: impl Fn(&Sample, &str) -> f64,
    total: impl Fn(&Sample) -> f64,
) -> Drawn {
    let (caption, y_desc, window) = what;
    let types: Vec<_> = run.outcomes.keys().cloned().collect();
    let root =
        SVGBackend::new(path, (SIZE.0, SIZE.1 * types.len().max(1) as u32 * 3 / 4)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, agent_type) in root.split_evenly((types.len().max(1), 1)).iter().zip(&types) {
        let samples: Vec<&Sample> = run.samples.iter().filter(|s| &s.agent_type == agent_type).collect();
        let line = |value: &dyn Fn(&Sample) -> f64| -> Vec<(f64, f64)> {
            let points: Vec<(f64, f64)> =
                samples.iter().map(|s| (hours_since(scenario, s.at), value(s))).collect();
            if window > 0.0 { smoothed(&points, window) } else { points }
        };
        let mut series: Vec<(String, Vec<(f64, f64)>)> = scenario
            .regions
            .keys()
            .map(|region| (region.to_string(), line(&|s| by_region(s, region.as_str()))))
            .collect();
        series.push(("all regions".into(), line(&total)));
        lines(area, &format!("{agent_type}: {caption}"), scenario, y_desc, &series, flat)?;
    }
    root.present()?;
    Ok(())
}

fn replicas(path: &Path, scenario: &Scenario, run: &DayRun) -> Drawn {
    per_type_and_region(
        path,
        scenario,
        run,
        ("ready replicas per region", "replicas", 0.0),
        &[],
        |s, region| f64::from(s.replicas.get(region).copied().unwrap_or(0)),
        |s| f64::from(s.replicas.values().sum::<u32>()),
    )
}

fn utilization(path: &Path, scenario: &Scenario, run: &DayRun) -> Drawn {
    let flat = [("scale down below 0.3".to_owned(), 0.3), ("scale up above 0.8".to_owned(), 0.8)];
    per_type_and_region(
        path,
        scenario,
        run,
        (
            "utilisation per region (active incidents / capacity of ready replicas), 15-minute mean",
            "utilisation",
            0.25,
        ),
        &flat,
        // A region that is down has no utilisation: its line drops to zero.
        |s, region| s.utilization_by_region.get(region).copied().unwrap_or(0.0),
        |s| s.utilization,
    )
}

fn response(path: &Path, scenario: &Scenario, runs: &[DayRun]) -> Drawn {
    let root = SVGBackend::new(path, (SIZE.0, SIZE.1 * 2)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((2, 1));
    let mid = |h: chrono::DateTime<chrono::Utc>| hours_since(scenario, h) + 0.5;
    let waits: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| {
            (
                format!("{}: p99", r.variant.label()),
                r.response_by_hour.iter().map(|h| (mid(h.hour), h.wait.p99_s)).collect(),
            )
        })
        .collect();
    lines(&areas[0], "Wait for an agent by arrival hour, p99 (all types)", scenario, "seconds", &waits, &[])?;
    if let Some(run) = suite(runs) {
        let by = |name: &str, f: fn(&shared::simulation::HourSummary) -> f64| {
            (name.to_owned(), run.response_by_hour.iter().map(|h| (mid(h.hour), f(h))).collect::<Vec<_>>())
        };
        let series = [
            by("p50", |h| h.completion.p50_s),
            by("p95", |h| h.completion.p95_s),
            by("p99", |h| h.completion.p99_s),
        ];
        lines(
            &areas[1],
            "Suite: arrival to done by arrival hour (MTTR proxy, all types)",
            scenario,
            "seconds",
            &series,
            &[],
        )?;
    }
    root.present()?;
    Ok(())
}

fn spend(path: &Path, scenario: &Scenario, runs: &[DayRun]) -> Drawn {
    let root = SVGBackend::new(path, (SIZE.0, SIZE.1 * 2)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((2, 1));
    let mut series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| {
            let points = r
                .hours
                .iter()
                .flat_map(|h| {
                    let x = hours_since(scenario, h.hour);
                    [(x, h.spend), (x + 1.0, h.spend)]
                })
                .collect();
            (format!("{}: spend per whole hour", r.variant.label()), points)
        })
        .collect();
    if let Some(run) = suite(runs) {
        series.push((
            "suite: hourly rate each sweep measured".into(),
            run.sweeps.iter().map(|s| (hours_since(scenario, s.at), s.hourly_cost)).collect(),
        ));
    }
    let t = Thresholds::default();
    let flat = [
        (format!("high from ${:.0}/h", t.high), t.high),
        (format!("critical above ${:.0}/h", t.critical), t.critical),
        (format!("emergency from ${:.0}/h", t.emergency), t.emergency),
    ];
    lines(
        &areas[0],
        "Metered spend, $ per hour, with the cost thresholds",
        scenario,
        "USD per hour",
        &series,
        &flat,
    )?;
    let projections: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| {
            (
                format!("{}: daily projection", r.variant.label()),
                r.sweeps.iter().map(|s| (hours_since(scenario, s.at), s.daily_projection)).collect(),
            )
        })
        .collect();
    lines(
        &areas[1],
        "The sweeps' projection of the day's spend",
        scenario,
        "USD per day",
        &projections,
        &[],
    )?;
    root.present()?;
    Ok(())
}

fn starts(path: &Path, scenario: &Scenario, run: &DayRun) -> Drawn {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let step = |f: fn(&shared::simulation::HourRow) -> u64| {
        run.hours
            .iter()
            .flat_map(|h| {
                let x = hours_since(scenario, h.hour);
                [(x, f(h) as f64), (x + 1.0, f(h) as f64)]
            })
            .collect::<Vec<_>>()
    };
    let series = [
        ("warm starts".to_owned(), step(|h| h.warm_starts)),
        ("cold starts".to_owned(), step(|h| h.cold_starts)),
    ];
    lines(&root, "Suite: agent function starts per hour", scenario, "invocations", &series, &[])?;
    root.present()?;
    Ok(())
}

fn fleet(path: &Path, scenario: &Scenario, runs: &[DayRun]) -> Drawn {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| {
            let mut by_minute: std::collections::BTreeMap<i64, u32> = std::collections::BTreeMap::new();
            for s in &r.samples {
                *by_minute.entry((s.at - scenario.start).num_minutes()).or_default() +=
                    s.replicas.values().sum::<u32>();
            }
            (
                r.variant.label().to_owned(),
                by_minute.into_iter().map(|(m, n)| (m as f64 / 60.0, f64::from(n))).collect(),
            )
        })
        .collect();
    lines(&root, "Ready replicas, all types and regions", scenario, "replicas", &series, &[])?;
    root.present()?;
    Ok(())
}

/// The control plane in two regions: per tick, 1 where a region acted, and the lease epoch; the
/// gap is where neither region's line is up.
fn control_plane(path: &Path, scenario: &Scenario, run: &DayRun) -> Drawn {
    let Some(cp) = &run.control_plane else { return Ok(()) };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let acted = |region: &shared::domain::Region| -> Vec<(f64, f64)> {
        cp.ticks
            .iter()
            .map(|t| (hours_since(scenario, t.at), if t.acting.as_ref() == Some(region) { 1.0 } else { 0.0 }))
            .collect()
    };
    let series = vec![
        (format!("{} acts (home)", cp.home), acted(&cp.home)),
        (format!("{} acts (standby)", cp.standby), acted(&cp.standby)),
        (
            "lease epoch".to_owned(),
            cp.ticks.iter().map(|t| (hours_since(scenario, t.at), t.epoch as f64)).collect(),
        ),
    ];
    lines(
        &root,
        "Control plane: the acting region per tick, and the lease epoch",
        scenario,
        "acts (1) / epoch",
        &series,
        &[],
    )?;
    root.present()?;
    Ok(())
}

/// Writes every plot into `dir` and says what each shows.
pub fn write_all(dir: &Path, scenario: &Scenario, runs: &[DayRun]) -> anyhow::Result<Vec<Plot>> {
    let mut plots = Vec::new();
    let mut draw = |file: &str, title: &str, result: Drawn| -> anyhow::Result<()> {
        result.map_err(|e| anyhow!("cannot draw {file}: {e}"))?;
        plots.push(Plot { file: file.to_owned(), title: title.to_owned() });
        Ok(())
    };
    if let Some(run) = suite(runs) {
        draw(
            "replicas.svg",
            "Suite: ready replicas per agent type and region",
            replicas(&dir.join("replicas.svg"), scenario, run),
        )?;
        draw(
            "utilization.svg",
            "Suite: utilisation per agent type and region",
            utilization(&dir.join("utilization.svg"), scenario, run),
        )?;
        if run.control_plane.is_some() {
            draw(
                "control-plane.svg",
                "Suite: which region's control plane acted, tick by tick, and the lease epoch (the gap and the takeover)",
                control_plane(&dir.join("control-plane.svg"), scenario, run),
            )?;
        }
        draw(
            "starts.svg",
            "Suite: warm and cold starts per hour",
            starts(&dir.join("starts.svg"), scenario, run),
        )?;
    }
    draw("fleet.svg", "Ready replicas: suite and baselines", fleet(&dir.join("fleet.svg"), scenario, runs))?;
    draw(
        "response.svg",
        "Waits and completions by hour",
        response(&dir.join("response.svg"), scenario, runs),
    )?;
    draw(
        "spend.svg",
        "Spend per hour against the thresholds, and the daily projection",
        spend(&dir.join("spend.svg"), scenario, runs),
    )?;
    Ok(plots)
}

/// One chart of `series` in `dir/file`, as a plot of the report.
fn chart(
    dir: &Path,
    file: &str,
    title: &str,
    y_desc: &str,
    scenario: &Scenario,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<Plot> {
    let path = dir.join(file);
    let root = SVGBackend::new(&path, SIZE).into_drawing_area();
    let drawn: Drawn = root
        .fill(&WHITE)
        .map_err(Into::into)
        .and_then(|()| lines(&root, title, scenario, y_desc, series, &[]))
        .and_then(|()| root.present().map_err(Into::into));
    drawn.map_err(|e| anyhow!("cannot draw {file}: {e}"))?;
    Ok(Plot { file: file.to_owned(), title: title.to_owned() })
}

/// A what-if replay's plots: ready replicas and each hour's p99 wait, one line per policy.
pub fn write_replay(dir: &Path, scenario: &Scenario, runs: &[(String, DayRun)]) -> anyhow::Result<Vec<Plot>> {
    let ready: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|(label, r)| {
            let points = r
                .samples
                .iter()
                .map(|s| (hours_since(scenario, s.at), f64::from(s.replicas.values().sum::<u32>())))
                .collect();
            (label.clone(), points)
        })
        .collect();
    let waits: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|(label, r)| {
            let points = r
                .response_by_hour
                .iter()
                .map(|h| (hours_since(scenario, h.hour) + 0.5, h.wait.p99_s))
                .collect();
            (label.clone(), points)
        })
        .collect();
    Ok(vec![
        chart(dir, "replicas.svg", "Ready replicas under each policy", "replicas", scenario, &ready)?,
        chart(dir, "waits.svg", "Wait for an agent, p99 by arrival hour", "seconds", scenario, &waits)?,
    ])
}
