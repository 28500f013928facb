//! A what-if replay: one type's recorded day ([`DayExport`]) run through the suite's loop twice on
//! the same incidents, under the policy in force and under a proposed one, within a budget. Both
//! `commander simulate replay` and the API's `POST /scaling/replay` run it.
//!
//! The budget bounds what a caller can make the process do: the incidents rebuilt from the
//! records, and the wall-clock time of both runs together (checked every simulated minute, so a
//! run stops within about one simulated minute's work of its deadline).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tracing::instrument::WithSubscriber as _;
use utoipa::ToSchema;

use super::engine::{DayRun, SimulationError, run};
use super::recorded_day::{DayExport, FORMAT, Window, history_hours, incidents, scenario};
use super::scenario::Scenario;
use super::variant::Variant;
use crate::domain::{AgentType, Region};
use crate::error::ValidationError;
use crate::scaling::FleetState;
use crate::scaling::ScalingPolicy;
use crate::scaling::recorded::DemandRecorder;
use crate::store::{Store, StoreError};

/// The two runs' labels, in the order they run.
pub const LABELS: [&str; 2] = ["policy in force", "proposed policy"];

/// What a replay may spend.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Incidents the recorded day may rebuild into.
    pub max_incidents: usize,
    /// When both runs must be done.
    pub deadline: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("the recorded day holds {incidents} incidents, more than the budget's {max}")]
    TooManyIncidents { incidents: usize, max: usize },
    #[error("the replay did not finish within its time budget (the {label} reached {reached})")]
    OutOfTime { label: &'static str, reached: DateTime<Utc> },
    #[error("the replay under the {label} failed: {error}")]
    Failed { label: &'static str, error: SimulationError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A finished replay.
#[derive(Debug)]
pub struct WhatIf {
    pub agent_type: AgentType,
    pub day: NaiveDate,
    pub window: Window,
    pub incidents: usize,
    /// Recorded hours before the window written where the tick reads its history (the weeks
    /// before and the day's earlier hours): what a predictive policy forecasts from.
    pub history_hours: usize,
    pub current: ScalingPolicy,
    pub proposed: ScalingPolicy,
    /// The scenario of the run under the policy in force (its day, regions and type).
    pub scenario: Scenario,
    /// One run per label of [`LABELS`].
    pub runs: Vec<(String, DayRun)>,
}

/// One run's figures, as the report's table and the API show them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunSummary {
    /// `policy in force` or `proposed policy`.
    pub label: String,
    pub incidents_completed: u64,
    pub wait_p50_s: f64,
    pub wait_p95_s: f64,
    pub wait_p99_s: f64,
    /// Share of completed incidents that waited longer than the type's maximum response time.
    pub waited_over_maximum_share: f64,
    /// Share of completed incidents done later than the type's maximum response time.
    pub done_over_maximum_share: f64,
    pub replica_hours: f64,
    /// USD for the replicas.
    pub replica_cost: f64,
    /// USD metered for the day's work (model tokens and invocations).
    pub spend: f64,
    /// Evaluations whose desired count differs from the one before.
    pub scaling_actions: usize,
}

impl RunSummary {
    pub fn of(label: &str, run: &DayRun) -> Self {
        let desired: Vec<u32> = run.samples.iter().map(|s| s.desired.values().sum()).collect();
        Self {
            label: label.to_owned(),
            incidents_completed: run.overall.completed,
            wait_p50_s: run.overall.wait.p50_s,
            wait_p95_s: run.overall.wait.p95_s,
            wait_p99_s: run.overall.wait.p99_s,
            waited_over_maximum_share: run.overall.waited_over_maximum_share,
            done_over_maximum_share: run.overall.over_maximum_share,
            replica_hours: run.replica_hours.values().sum(),
            replica_cost: run.replica_cost,
            spend: run.spend,
            scaling_actions: desired.windows(2).filter(|w| w[0] != w[1]).count(),
        }
    }
}

impl WhatIf {
    pub fn summaries(&self) -> Vec<RunSummary> {
        self.runs.iter().map(|(label, run)| RunSummary::of(label, run)).collect()
    }
}

/// Reads `day` of every type's recorded demand (or only `only`'s) and the policies in force from
/// the store: what `commander export-day` writes and what a replay reads.
pub async fn export_day(
    store: Arc<dyn Store>,
    regions: Vec<Region>,
    day: NaiveDate,
    only: Option<&AgentType>,
    now: DateTime<Utc>,
) -> Result<DayExport, WhatIfError> {
    let fleet = FleetState::new(Arc::clone(&store));
    let recorder = DemandRecorder::new(store);
    let mut policies = std::collections::BTreeMap::new();
    let mut types = std::collections::BTreeMap::new();
    let mut history = std::collections::BTreeMap::new();
    // One type: its policy alone (one read); else every type's.
    let in_force = match only {
        Some(t) => vec![fleet.policy(t).await?.ok_or_else(|| {
            ValidationError::new("agent_type", format!("{t} is not an agent type of this fleet"))
        })?],
        None => fleet.policies().await?,
    };
    for versioned in in_force {
        let hours = recorder.day(&versioned.agent_type, day).await?;
        if !hours.is_empty() {
            types.insert(versioned.agent_type.clone(), hours);
            let before = recorder.hours(&versioned.agent_type, &history_hours(day)).await?;
            if !before.is_empty() {
                history.insert(versioned.agent_type.clone(), before);
            }
        }
        policies.insert(versioned.agent_type, versioned.policy);
    }
    Ok(DayExport { format: FORMAT, day, exported_at: now, regions, policies, types, history })
}

/// Checks a proposed policy, its fields named as the request spells them (`policy.<field>`): the
/// API checks it before reading the day, and [`replay`] again for its other callers.
pub fn check_proposed(proposed: &ScalingPolicy) -> Result<(), ValidationError> {
    proposed.validate().map_err(|e| ValidationError::new(format!("policy.{}", e.field), e.message))
}

/// Replays `agent_type`'s `window` of the day in `export` under its policy in force and under
/// `proposed`, on the same incidents (drawn with `seed`), within `budget`.
pub async fn replay(
    export: &DayExport,
    agent_type: &AgentType,
    proposed: &ScalingPolicy,
    seed: u64,
    window: Window,
    budget: Budget,
) -> Result<WhatIf, WhatIfError> {
    check_proposed(proposed)?;
    window.validate()?;
    let current =
        export.policies.get(agent_type).cloned().unwrap_or_else(|| ScalingPolicy::default_for(agent_type));
    let export = &export.within(agent_type, window);
    let day = incidents(export, agent_type, seed)?;
    if day.len() > budget.max_incidents {
        return Err(WhatIfError::TooManyIncidents { incidents: day.len(), max: budget.max_incidents });
    }
    let mut runs = Vec::new();
    let mut scenarios = Vec::new();
    for (label, policy) in LABELS.into_iter().zip([&current, proposed]) {
        let s = scenario(export, agent_type, policy, &day, window, &format!("replay-{agent_type}"))?;
        let mut within_budget = |_: DateTime<Utc>| match budget.deadline {
            Some(deadline) if Instant::now() >= deadline => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        };
        // The simulated suite logs as the real one does ("scaling changed", ...); in the api's log
        // group those lines would read as the fleet's own, so a replay's go nowhere.
        let ran = run(&s, &day, Variant::Suite, &mut within_budget)
            .with_subscriber(tracing::subscriber::NoSubscriber::default())
            .await
            .map_err(|error| match error {
                SimulationError::Stopped(reached) => WhatIfError::OutOfTime { label, reached },
                error => WhatIfError::Failed { label, error },
            })?;
        runs.push((label.to_owned(), ran));
        scenarios.push(s);
    }
    Ok(WhatIf {
        agent_type: agent_type.clone(),
        day: export.day,
        window,
        incidents: day.len(),
        history_hours: export.history.values().map(Vec::len).sum(),
        current,
        proposed: proposed.clone(),
        scenario: scenarios.swap_remove(0),
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::recorded::{HourRecord, MinuteRecord};
    use chrono::Duration;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Counts the events that reach it.
    #[derive(Clone, Default)]
    struct EventCount(Arc<std::sync::atomic::AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for EventCount {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn export(served: f64) -> DayExport {
        let detection = AgentType::parse("detection").unwrap();
        let day = NaiveDate::from_ymd_opt(2027, 1, 18).unwrap();
        let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
        let mut m = MinuteRecord { busy: served * 2.0, live: 2, desired: 2, ..MinuteRecord::default() };
        m.demand.served.high = served;
        let hours: Vec<HourRecord> =
            (8..10).map(|h| HourRecord::steady(start + Duration::hours(h), m)).collect();
        DayExport {
            format: FORMAT,
            day,
            exported_at: start + Duration::days(1),
            regions: ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"]
                .iter()
                .map(|r| Region::parse(r).unwrap())
                .collect(),
            policies: std::collections::BTreeMap::from([(
                detection.clone(),
                ScalingPolicy::default_for(&detection),
            )]),
            types: std::collections::BTreeMap::from([(detection, hours)]),
            history: std::collections::BTreeMap::new(),
        }
    }

    /// `hours` of a day's records at `per_minute(hour)` incidents a minute, each two minutes'
    /// work.
    fn recorded(
        start: DateTime<Utc>,
        hours: std::ops::Range<i64>,
        per_minute: impl Fn(i64) -> f64,
    ) -> Vec<HourRecord> {
        hours
            .map(|h| {
                let served = per_minute(h);
                let mut m = MinuteRecord { busy: served * 2.0, ..MinuteRecord::default() };
                m.demand.served.high = served;
                HourRecord::steady(start + Duration::hours(h), m)
            })
            .collect()
    }

    #[tokio::test]
    async fn the_recorded_weeks_go_with_the_day_so_a_proposed_forecast_acts_in_the_replay() {
        let detection = AgentType::parse("detection").unwrap();
        let clock = Arc::new(crate::clock::ManualClock::new(
            DateTime::parse_from_rfc3339("2027-01-19T06:00:00Z").unwrap().with_timezone(&Utc),
        ));
        let store: Arc<dyn Store> = Arc::new(crate::store::MemoryStore::new(clock));
        let recorder = DemandRecorder::new(Arc::clone(&store));
        let day = NaiveDate::from_ymd_opt(2027, 1, 18).unwrap();
        let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
        // Two past Mondays and this one: one incident a minute until 09:00, then 40.
        let ramp = |h: i64| if h >= 9 { 40.0 } else { 1.0 };
        for w in 1..=2 {
            recorder.put_hours(&detection, &recorded(start - Duration::weeks(w), 0..24, ramp)).await.unwrap();
        }
        recorder.put_hours(&detection, &recorded(start - Duration::hours(3), 0..3, |_| 1.0)).await.unwrap();
        recorder.put_hours(&detection, &recorded(start, 0..24, ramp)).await.unwrap();
        // A Monday three weeks back, outside what the forecast reads, stays out.
        recorder.put_hours(&detection, &recorded(start - Duration::days(20), 0..1, |_| 1.0)).await.unwrap();
        let regions = vec![Region::parse("us-east-1").unwrap()];
        let export =
            export_day(store, regions, day, Some(&detection), start + Duration::days(1)).await.unwrap();
        assert_eq!(
            export.history[&detection].len(),
            2 * 24 + 3,
            "two weeks of the weekday and the 3 hours before"
        );
        let text = serde_json::to_string(&export).unwrap();
        assert_eq!(DayExport::parse(&text).unwrap(), export, "the history goes into the file");

        // In force: reactive only. Proposed: the forecast, 10 minutes ahead.
        let mut reactive = ScalingPolicy::default_for(&detection);
        reactive.predictive = Some(crate::scaling::PredictivePolicy { enabled: false, ..Default::default() });
        let mut export = export;
        export.policies.insert(detection.clone(), reactive);
        let ahead = ScalingPolicy::default_for(&detection);
        let morning = Window { from_hour: 7, hours: 3 };
        let open = Budget { max_incidents: 100_000, deadline: None };
        let ran = replay(&export, &detection, &ahead, 1, morning, open).await.unwrap();
        let floors = |k: usize| -> Vec<u32> {
            let before_nine = export.start() + Duration::hours(9);
            ran.runs[k]
                .1
                .samples
                .iter()
                .filter(|s| s.at < before_nine)
                .filter_map(|s| s.predictive_floor)
                .collect()
        };
        assert!(floors(0).is_empty(), "reactive only: no floor");
        assert!(
            floors(1).iter().any(|f| *f > 2),
            "the forecast raises the floor before 09:00: {:?}",
            floors(1)
        );
        let s = ran.summaries();
        assert!(s[1].wait_p99_s <= s[0].wait_p99_s, "{s:?}");
    }

    #[tokio::test]
    async fn a_replay_runs_both_policies_on_the_same_incidents_within_its_budget() {
        let detection = AgentType::parse("detection").unwrap();
        // 30 in progress: more than one replica of 20 takes.
        let export = export(15.0);
        let mut capped = ScalingPolicy::default_for(&detection);
        capped.min_replicas = 1;
        capped.max_replicas = 1;
        let morning = Window { from_hour: 8, hours: 2 };
        let open = Budget { max_incidents: 2_000, deadline: None };
        let ran = replay(&export, &detection, &capped, 1, morning, open).await.unwrap();
        assert_eq!(ran.incidents, 2 * 60 * 15);
        let s = ran.summaries();
        assert_eq!(s.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), LABELS);
        assert!(s[1].replica_hours < s[0].replica_hours, "{s:?}");
        assert!(s[1].wait_p99_s > s[0].wait_p99_s, "{s:?}");
        assert_eq!(ran.scenario.start, export.start() + Duration::hours(8));
        // Its simulated suite's log lines go nowhere, where a plain run of the same day logs.
        let counted = EventCount::default();
        let _default = tracing::subscriber::set_default(
            tracing_subscriber::registry()
                .with(counted.clone().with_filter(tracing::level_filters::LevelFilter::INFO)),
        );
        let day = incidents(&export.within(&detection, morning), &detection, 1).unwrap();
        run(&ran.scenario, &day, Variant::Suite, &mut super::super::to_the_end).await.unwrap();
        let plain = counted.0.load(std::sync::atomic::Ordering::Relaxed);
        assert!(plain > 0, "a plain run logs its scaling changes");
        replay(&export, &detection, &capped, 1, morning, open).await.unwrap();
        assert_eq!(counted.0.load(std::sync::atomic::Ordering::Relaxed), plain, "a replay logs nothing");

        let few = Budget { max_incidents: 1_799, deadline: None };
        let refused = replay(&export, &detection, &capped, 1, morning, few).await.unwrap_err();
        assert!(
            matches!(refused, WhatIfError::TooManyIncidents { incidents: 1_800, max: 1_799 }),
            "{refused}"
        );
        let spent = Budget { max_incidents: 2_000, deadline: Some(Instant::now()) };
        let stopped = replay(&export, &detection, &capped, 1, morning, spent).await.unwrap_err();
        assert!(
            matches!(stopped, WhatIfError::OutOfTime { label: "policy in force", reached } if reached == export.start() + Duration::hours(8) + Duration::minutes(1)),
            "{stopped}"
        );
        capped.min_replicas = 3;
        let invalid = replay(&export, &detection, &capped, 1, morning, open).await.unwrap_err();
        assert!(matches!(&invalid, WhatIfError::Invalid(e) if e.field.starts_with("policy.")), "{invalid}");
        let late = Window { from_hour: 23, hours: 2 };
        let invalid = replay(&export, &detection, &ScalingPolicy::default_for(&detection), 1, late, open)
            .await
            .unwrap_err();
        assert!(matches!(&invalid, WhatIfError::Invalid(e) if e.field == "hours"), "{invalid}");
    }
}
