//! The simulated day's promises, on the scenario fixtures themselves: the suite carries the
//! us-east-1 outage with almost no incident waiting past its type's maximum response time, and
//! the cost spike's critical and emergency levels are caught by the first sweep after each jump,
//! with emergency mode bringing the hourly spend back under the emergency line.

use chrono::{DateTime, Duration, Utc};
use shared::cost::levels::{Level, Thresholds};
use shared::scaling::records::MarkSource;
use shared::simulation::{DayRun, Scenario, Variant, incidents, report, run};

fn fixture(name: &str) -> Scenario {
    let path = format!("{}/../tests/fixtures/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    Scenario::parse(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn suite(s: &Scenario) -> DayRun {
    run(s, &incidents(s), Variant::Suite, &mut shared::simulation::engine::to_the_end).await.unwrap()
}

fn ready_in(run: &DayRun, region: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<u32> {
    let mut by_minute = std::collections::BTreeMap::new();
    for s in run.samples.iter().filter(|s| s.at >= from && s.at < to) {
        *by_minute.entry(s.at).or_insert(0) += s.replicas.get(region).copied().unwrap_or(0);
    }
    by_minute.into_values().collect()
}

#[tokio::test]
async fn the_outage_day_keeps_waits_within_the_maximum_and_fails_over_visibly() {
    let s = fixture("us-east-1-outage");
    let outage = &s.outages[0];
    let (from, to) = (outage.from, outage.from + Duration::minutes(i64::from(outage.minutes)));
    let day = suite(&s).await;
    let waited = day.overall.waited_over_maximum_share;
    assert!(waited <= 0.01, "{:.3} % waited past their maximum: {:?}", waited * 100.0, day.overall);
    // Nothing marks the region: the suite notices the silence itself, within three ticks, and
    // clears the mark once us-east-1 has reported again for the five-minute hold-down.
    let marks: Vec<_> = day.region_events.iter().filter(|e| e.region.as_str() == "us-east-1").collect();
    assert!(marks.len() >= 2, "{marks:?}");
    assert!(!marks[0].healthy && marks[0].source == MarkSource::Silence, "{marks:?}");
    assert!(marks[0].at > from && marks[0].at <= from + Duration::minutes(3), "{marks:?}");
    assert!(marks[1].healthy && marks[1].at >= to + Duration::minutes(5), "{marks:?}");
    // Failover, as the replicas plot shows it: us-east-1 down to one probe replica per type
    // within minutes, the others grown.
    let types = s.agent_mix.len() as u32;
    let east = ready_in(&day, "us-east-1", from + Duration::minutes(5), to);
    assert!(east.iter().all(|n| *n <= types), "us-east-1 keeps only its probes while down: {east:?}");
    let before: u32 = ["eu-west-1", "us-west-2", "ap-southeast-1"]
        .iter()
        .map(|r| ready_in(&day, r, from - Duration::minutes(1), from)[0])
        .sum();
    let during: u32 = ["eu-west-1", "us-west-2", "ap-southeast-1"]
        .iter()
        .map(|r| *ready_in(&day, r, from + Duration::minutes(10), to).iter().max().unwrap())
        .sum();
    assert!(during > before, "the healthy regions take over: {before} before, {during} during");
    let back =
        ready_in(&day, "us-east-1", marks[1].at + Duration::minutes(2), marks[1].at + Duration::minutes(10));
    assert!(back.iter().all(|n| *n > types), "us-east-1 takes its share again once healthy: {back:?}");
}

#[tokio::test]
async fn the_cost_spike_is_caught_by_the_next_sweep_and_emergency_mode_brings_spend_under_the_line() {
    let s = fixture("cost-spike");
    let day = suite(&s).await;
    let t = Thresholds::default();
    let first_after = |at: DateTime<Utc>| day.sweeps.iter().find(|p| p.at > at).unwrap();
    let mut levels = Vec::new();
    for spike in &s.cost_spikes {
        let before = day.sweeps.iter().rev().find(|p| p.at <= spike.from).unwrap();
        let after = first_after(spike.from);
        levels.push((before.level, after.level));
    }
    assert_eq!(
        levels,
        [(Level::Medium, Level::Critical), (Level::Critical, Level::Emergency)],
        "each jump is classified by the first sweep after it: {:#?}",
        day.sweeps
    );
    let emergency_from = first_after(s.cost_spikes[1].from);
    assert!(emergency_from.emergency_mode && emergency_from.hourly_cost >= t.emergency);
    // Emergency mode (the cheapest model meeting each floor) brings the measured rate, and every
    // whole hour after the one it began in, under the emergency line for as long as it lasts.
    let ends = day.sweeps.iter().find(|p| p.at > emergency_from.at && !p.emergency_mode).unwrap().at;
    // The sweeper rates an hour by its spend so far, so the hour the spike began in stays high
    // until it ends; from the next hour on, every sweep in emergency mode measures under the line.
    let next_hour = shared::cost::usage::hour_of(emergency_from.at) + Duration::hours(1);
    let sweeps: Vec<_> = day.sweeps.iter().filter(|p| p.at >= next_hour && p.at < ends).collect();
    assert!(sweeps.len() >= 16 && sweeps.iter().all(|p| p.hourly_cost < t.emergency), "{sweeps:#?}");
    // Emergency mode refuses scale-ups for work below critical, not for critical work: the
    // critical incidents that arrived in it were served, almost none past their maximum.
    let critical = day.during_emergency[&shared::domain::Severity::Critical];
    assert!(critical.arrived > 100, "{:?}", day.during_emergency);
    assert!(critical.completed + 5 >= critical.arrived, "{critical:?}");
    assert!(
        critical.waited_over_maximum * 100 <= critical.completed,
        "at most 1 % waited too long: {critical:?}"
    );
    let hours: Vec<_> = day
        .hours
        .iter()
        .filter(|h| h.hour > emergency_from.at && h.hour + Duration::hours(1) <= ends)
        .collect();
    assert!(hours.len() >= 4 && hours.iter().all(|h| h.spend < t.emergency), "{hours:#?}");
    // The report's summary counts that time: at least from the first emergency sweep to its end.
    assert_eq!(report::highest_level(&day), Level::Emergency);
    let minutes = report::emergency_minutes(&day);
    assert!(minutes >= (ends - emergency_from.at).num_minutes() && minutes < 24 * 60, "{minutes}");
}

/// The short scenario's whole report, against the copy committed beside it: a change to the
/// engine or the loop that moves any figure shows up here. After a deliberate change, regenerate
/// with `COMMANDER_UPDATE_GOLDEN=1 cargo test -p shared --test simulation_fixtures golden` and
/// say in the commit why the figures moved.
#[tokio::test]
async fn the_short_outage_report_equals_its_golden_copy() {
    let s = fixture("short-outage");
    let day = incidents(&s);
    let mut runs = Vec::new();
    for variant in Variant::ALL {
        runs.push(run(&s, &day, variant, &mut shared::simulation::engine::to_the_end).await.unwrap());
    }
    let command = "commander simulate day --scenario tests/fixtures/scenarios/short-outage.json";
    let report = report::markdown(&s, &runs, command, &[]);
    let golden = format!("{}/../tests/fixtures/scenarios/short-outage.report.md", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("COMMANDER_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &report).unwrap();
    }
    let committed = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        committed == report,
        "the short-outage report differs from {golden} (regenerate with COMMANDER_UPDATE_GOLDEN=1 if the change is meant):\n{report}"
    );
    // The loop as deployed ran in it: ticks every minute, a silent region marked and cleared.
    let suite = &runs[0];
    assert_eq!(suite.ticks, 120);
    assert!(suite.region_events.iter().any(|e| !e.healthy && e.source == MarkSource::Silence));
    assert!(suite.region_events.iter().any(|e| e.healthy));
}
