//! `report.md` for one scenario: the summary table of the suite against the baselines, the
//! suite's figures per agent type, what the cost sweeps saw and did, and the plots beside it.
//! Text only from the runs, so the same runs give the same report byte for byte.

use std::fmt::Write;

use chrono::Duration;

use super::engine::DayRun;
use super::scenario::Scenario;
use super::variant::Variant;
use crate::cost::levels::Level;

/// A plot written beside the report: file name and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plot {
    pub file: String,
    pub title: String,
}

fn pct(share: f64) -> String {
    format!("{:.2} %", share * 100.0)
}

fn money(usd: f64) -> String {
    format!("${usd:.2}")
}

/// The highest cost level any sweep of the run classified.
pub fn highest_level(run: &DayRun) -> Level {
    run.sweeps.iter().map(|s| s.level).max().unwrap_or_default()
}

/// Minutes the run spent in emergency cost mode, by the sweeps' 15-minute steps.
pub fn emergency_minutes(run: &DayRun) -> i64 {
    run.sweeps.windows(2).filter(|w| w[0].emergency_mode).map(|w| (w[1].at - w[0].at).num_minutes()).sum()
}

fn level_name(level: Level) -> String {
    level.to_string()
}

/// The summary table: one column per run.
pub fn summary_table(runs: &[DayRun]) -> String {
    let mut out = String::new();
    let header: Vec<&str> = runs.iter().map(|r| r.variant.label()).collect();
    let _ = writeln!(out, "| | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(runs.len()));
    let mut row = |name: &str, cell: &dyn Fn(&DayRun) -> String| {
        let cells: Vec<String> = runs.iter().map(cell).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row("incidents completed", &|r| format!("{} of {}", r.overall.completed, r.incidents));
    row("wait for an agent p50 / p95 / p99", &|r| {
        format!("{:.1} / {:.1} / {:.1} s", r.overall.wait.p50_s, r.overall.wait.p95_s, r.overall.wait.p99_s)
    });
    row("arrival to done p50 / p95 / p99 (MTTR proxy)", &|r| {
        let c = &r.overall.completion;
        format!("{:.0} / {:.0} / {:.0} s", c.p50_s, c.p95_s, c.p99_s)
    });
    row("waited longer than the type's maximum response time", &|r| pct(r.overall.waited_over_maximum_share));
    row("done later than the type's maximum response time", &|r| pct(r.overall.over_maximum_share));
    row("replica-hours", &|r| format!("{:.0}", r.replica_hours.values().sum::<f64>()));
    row("replica cost (seed's $ per replica-hour)", &|r| money(r.replica_cost));
    row("metered spend (LLM, Lambda, DynamoDB, warming)", &|r| money(r.spend));
    row("total", &|r| money(r.replica_cost + r.spend));
    row("highest cost level", &|r| level_name(highest_level(r)));
    row("minutes in emergency cost mode", &|r| emergency_minutes(r).to_string());
    row("agent function starts warm / cold", &|r| format!("{} / {}", r.warm_starts, r.cold_starts));
    out
}

/// What the deployed loop did in the suite's run: ticks, alarm invocations, region marks.
fn control_loop(out: &mut String, suite: &DayRun) {
    let _ = writeln!(out, "\n## The control loop\n");
    let invocations: u64 = suite.alarm_invocations.values().sum();
    let by_type: Vec<String> = suite.alarm_invocations.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let _ = writeln!(
        out,
        "The scaler ticked {} times (every minute); its managed alarms went into ALARM {invocations} times{}, each invoking it for its type at once.\n",
        suite.ticks,
        if by_type.is_empty() { String::new() } else { format!(" ({})", by_type.join(", ")) },
    );
    if suite.region_events.is_empty() {
        let _ = writeln!(out, "No region was marked.");
    } else {
        let _ = writeln!(out, "| time | region | mark | source | why |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for e in &suite.region_events {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                e.at.format("%H:%M"),
                e.region,
                if e.healthy { "healthy" } else { "unhealthy" },
                e.source.as_str(),
                e.reason.replace('|', "/"),
            );
        }
    }
    if !suite.during_emergency.is_empty() {
        let _ = writeln!(
            out,
            "\nIncidents that arrived in emergency cost mode (only critical work may scale up then):\n\n| severity | arrived | completed | waited past the maximum |\n|---|---|---|---|"
        );
        for (severity, e) in &suite.during_emergency {
            let share =
                if e.completed == 0 { 0.0 } else { e.waited_over_maximum as f64 / e.completed as f64 };
            let _ = writeln!(out, "| {severity} | {} | {} | {} |", e.arrived, e.completed, pct(share));
        }
    }
}

/// Minutes (evaluations, one a minute per type) the suite's run spent in each prediction status,
/// every type together.
fn prediction_minutes(run: &DayRun) -> std::collections::BTreeMap<String, usize> {
    let mut by = std::collections::BTreeMap::new();
    for s in &run.samples {
        if let Some(status) = s.prediction {
            let name = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned));
            *by.entry(name.unwrap_or_default()).or_default() += 1;
        }
    }
    by
}

/// Scaling with the forecast against reactive scaling alone, on the same incidents: each region's
/// morning ramp, replica-hours and what the guard did.
fn predictive(out: &mut String, scenario: &Scenario, runs: &[DayRun]) {
    let find = |v: Variant| runs.iter().find(|r| r.variant == v);
    let (Some(with), Some(without)) = (find(Variant::Suite), find(Variant::SuiteReactive)) else { return };
    let _ = writeln!(
        out,
        "
## Predictive scale-out
"
    );
    let history = scenario.history.as_ref().map_or_else(
        || "No weeks were recorded before the day, so the forecast had nothing to go by.".to_owned(),
        |h| {
            format!(
                "{} past weeks were recorded before the day{}; the suite forecasts each type's next hour from them and sets a floor ten minutes ahead.",
                h.weeks,
                if h.regions.is_some() { " at the usual rates (this day breaks the pattern)" } else { "" }
            )
        },
    );
    let _ = writeln!(
        out,
        "{history} *Reactive only* is the same suite with `predictive.enabled: false` in every policy.
"
    );
    let _ = writeln!(
        out,
        "| region | first business hour (UTC) | incidents | wait p99 with the forecast | wait p99 reactive only |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for m in &with.mornings {
        let reactive = without.mornings.iter().find(|r| r.region == m.region);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} s | {} |",
            m.region,
            m.hour.format("%H:%M"),
            m.completed,
            m.wait.p99_s,
            reactive.map_or_else(|| "-".to_owned(), |r| format!("{:.1} s", r.wait.p99_s)),
        );
    }
    let hours = |r: &DayRun| r.replica_hours.values().sum::<f64>();
    let (a, b) = (hours(with), hours(without));
    let change = if b > 0.0 { (a - b) / b * 100.0 } else { 0.0 };
    let _ = writeln!(
        out,
        "
Replica-hours: {a:.0} with the forecast, {b:.0} reactive only ({change:+.1} %). Whole-day wait p99: {:.1} s against {:.1} s.
",
        with.overall.wait.p99_s, without.overall.wait.p99_s
    );
    let minutes = prediction_minutes(with);
    if !minutes.is_empty() {
        let cells: Vec<String> = minutes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "Evaluations by prediction status (type-minutes): {}. `error_too_high` is the guard: the last hours' forecasts missed by more than the policy allows, so the type scaled reactively.",
            cells.join(", ")
        );
    }
}

/// The control plane in two regions: who acted when, the gap, the takeover and the fence.
fn control_plane(out: &mut String, suite: &DayRun) {
    let Some(cp) = &suite.control_plane else { return };
    let _ = writeln!(out, "\n## The control plane\n");
    let back = cp.outage_from + chrono::Duration::minutes(i64::from(cp.outage_minutes));
    let _ = writeln!(
        out,
        "Home region {}, standby {}, takeover after {} minutes without a renewal of the lease. The home region's control plane (its tick, alarms and table replica) was unreachable {} to {}.\n",
        cp.home,
        cp.standby,
        cp.takeover_after_minutes,
        cp.outage_from.format("%H:%M"),
        back.format("%H:%M"),
    );
    let takeover = cp.takeover_at.map_or_else(
        || "never (the home region came back before the takeover time)".to_owned(),
        |at| {
            format!(
                "{} ({} minutes after the home region went away)",
                at.format("%H:%M"),
                (at - cp.outage_from).num_minutes()
            )
        },
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| standby took the lease over at | {takeover} |");
    let _ =
        writeln!(out, "| ticks no region acted at (the gap: recovery time) | {} |", cp.ticks_without_actor);
    let _ = writeln!(out, "| ticks two regions acted at | {} |", cp.ticks_with_two_actors);
    let _ = writeln!(
        out,
        "| the deposed home region's late decisions refused by the fence / stored anyway | {} / {} |",
        cp.late_decisions_refused, cp.late_decisions_stored
    );
    let last = cp.ticks.last().and_then(|t| t.acting.as_ref().map(|r| format!("{r} (epoch {})", t.epoch)));
    let _ = writeln!(
        out,
        "| acting at the end of the run | {} |\n\nThe lease does not go back by itself: an operator promotes the home region when it is healthy (`POST /control-plane/promote`). In the gap, alarm invocations find no acting control plane and the fleet keeps the counts last decided; the simulated table is one store, so the recovery point here is nothing (a real global table may lose the home region's last second of unreplicated writes).",
        last.unwrap_or_else(|| "none".to_owned())
    );
}

/// The whole report.
pub fn markdown(scenario: &Scenario, runs: &[DayRun], command: &str, plots: &[Plot]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Simulated day: {}\n", scenario.name);
    if !scenario.description.is_empty() {
        let _ = writeln!(out, "{}\n", scenario.description);
    }
    let incidents = runs.first().map_or(0, |r| r.incidents);
    let _ = writeln!(
        out,
        "From {} for {} hours, seed {}: {incidents} incidents in {} regions.\n\nMade with `{command}`.\n",
        scenario.start.format("%Y-%m-%d %H:%M UTC"),
        scenario.hours,
        scenario.seed,
        scenario.regions.len(),
    );
    let _ = writeln!(out, "## Summary\n");
    out.push_str(&summary_table(runs));
    let _ = writeln!(
        out,
        "\nThe baselines run on the same incidents: *suite, reactive only* is the suite without predictive scale-out; *static peak capacity* keeps the replicas each type and region needs at its own peak all day (the suite's model selection); *prototype rules* scale one replica per step with a 300 s cooldown, put new replicas where there are fewest, and always take the cheapest model.\n"
    );
    if let Some(suite) = runs.iter().find(|r| r.variant == Variant::Suite) {
        let _ = writeln!(out, "## The suite per agent type\n");
        let _ = writeln!(
            out,
            "| agent type | completed | wait p50 / p95 / p99 s | done p50 / p95 / p99 s | target / maximum s | done over target | done over maximum | waited over maximum |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for (t, s) in &suite.outcomes {
            let _ = writeln!(
                out,
                "| {t} | {} | {:.1} / {:.1} / {:.1} | {:.0} / {:.0} / {:.0} | {:.0} / {:.0} | {} | {} | {} |",
                s.completed,
                s.wait.p50_s,
                s.wait.p95_s,
                s.wait.p99_s,
                s.completion.p50_s,
                s.completion.p95_s,
                s.completion.p99_s,
                s.target_s,
                s.maximum_s,
                pct(s.over_target_share),
                pct(s.over_maximum_share),
                pct(s.waited_over_maximum_share),
            );
        }
        control_loop(&mut out, suite);
        predictive(&mut out, scenario, runs);
        control_plane(&mut out, suite);
        let _ = writeln!(out, "\n## What the suite's cost sweeps did\n");
        let changes: Vec<_> = suite.sweeps.iter().filter(|s| !s.actions.is_empty()).collect();
        if changes.is_empty() {
            let _ = writeln!(out, "No sweep changed the cost controls.");
        } else {
            let _ = writeln!(
                out,
                "| sweep | hourly rate | daily projection | level | emergency mode | changes |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for s in changes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    s.at.format("%H:%M"),
                    money(s.hourly_cost),
                    money(s.daily_projection),
                    level_name(s.level),
                    if s.emergency_mode { "on" } else { "off" },
                    s.actions.join("; ").replace('|', "/"),
                );
            }
        }
        let _ = writeln!(out, "\n| hour (UTC) | spend | LLM | Lambda | warming | starts warm / cold |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for h in &suite.hours {
            let service = |name: &str| money(h.by_service.get(name).copied().unwrap_or(0.0));
            let _ = writeln!(
                out,
                "| {}-{} | {} | {} | {} | {} | {} / {} |",
                h.hour.format("%H:%M"),
                (h.hour + Duration::hours(1)).format("%H:%M"),
                money(h.spend),
                service(crate::cost::report::LLM),
                service(crate::cost::report::LAMBDA),
                service(crate::cost::report::WARMING),
                h.warm_starts,
                h.cold_starts,
            );
        }
    }
    if !plots.is_empty() {
        let _ = writeln!(out, "\n## Plots\n");
        for p in plots {
            let _ = writeln!(out, "### {}\n\n![{}]({})\n", p.title, p.title, p.file);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::{incidents, run};

    fn scenario(seed: u64) -> Scenario {
        Scenario::parse(&format!(
            r#"{{"name": "t", "start": "2026-03-10T12:30:00Z", "hours": 1, "seed": {seed},
                "regions": {{"us-east-1": {{"off_hours_per_minute": 5.0, "business_per_minute": 60.0}},
                             "eu-west-1": {{"off_hours_per_minute": 5.0, "business_per_minute": 20.0}}}},
                "agent_mix": {{"detection": 0.6, "resolution": 0.4}},
                "severity_mix": {{"critical": 0.2, "low": 0.8}},
                "service": {{"detection": {{"median_s": 20.0, "p95_s": 40.0}},
                             "resolution": {{"median_s": 120.0, "p95_s": 200.0}}}}}}"#
        ))
        .unwrap()
    }

    async fn report(s: &Scenario) -> String {
        let day = incidents(s);
        let mut runs = Vec::new();
        for variant in Variant::ALL {
            runs.push(run(s, &day, variant, &mut crate::simulation::to_the_end).await.unwrap());
        }
        let plots = [Plot { file: "fleet.svg".into(), title: "Fleet".into() }];
        markdown(s, &runs, "commander simulate day", &plots)
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_report_and_another_seed_another() {
        let first = report(&scenario(7)).await;
        assert_eq!(first, report(&scenario(7)).await);
        assert_ne!(first, report(&scenario(8)).await, "the seed must reach the report");
        for expected in [
            "| | suite | suite, reactive only | static peak capacity | prototype rules |",
            "## Predictive scale-out",
            "| incidents completed |",
            "| resolution |",
            "![Fleet](fleet.svg)",
        ] {
            assert!(first.contains(expected), "{expected:?} missing from:\n{first}");
        }
    }
}
