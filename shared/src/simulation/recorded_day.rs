//! A recorded day, exported from the table (`commander export-day`), and what a what-if replay
//! makes of it: the day's incidents of one type rebuilt from its recorded minutes, run through
//! the same loop as a simulated day under the policy in force and under a proposed one.
//!
//! The records count incidents per type, minute and severity, and the work in progress; they do
//! not keep each incident or its region. So the replay spreads each minute's served incidents
//! evenly over the minute, gives each the hour's mean service time by Little's law (work in
//! progress over the rate served) times a log-normal spread (median 1, p95 2), and deals them
//! over the exported regions in turn. Incidents refused and served later are counted once, when
//! served; work that was never served is not in the records.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::arrivals::{Incident, service_time};
use super::scenario::{History, RegionLoad, Scenario, ServiceTime};
use crate::domain::{AgentType, Region, Severity};
use crate::error::ValidationError;
use crate::scaling::ScalingPolicy;
use crate::scaling::forecast::{LEVEL_HOURS, MAX_WEEKS};
use crate::scaling::recorded::HourRecord;

/// The export file's format version.
pub const FORMAT: u32 = 1;
/// Incidents a replayed day may hold (a replay runs in one process, in memory).
pub const MAX_INCIDENTS: usize = 5_000_000;

/// One day of recorded demand, as `commander export-day` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayExport {
    pub format: u32,
    pub day: NaiveDate,
    pub exported_at: DateTime<Utc>,
    /// The fleet's regions when exported.
    pub regions: Vec<Region>,
    /// Each type's policy in force when exported.
    pub policies: BTreeMap<AgentType, ScalingPolicy>,
    /// Each type's recorded hours of the day, oldest first.
    pub types: BTreeMap<AgentType, Vec<HourRecord>>,
    /// Each type's recorded hours before the day that a forecast of the day reads
    /// ([`history_hours`]): a replay writes them where the tick reads its history, so a policy's
    /// predictive scale-out forecasts the day as it did deployed. Absent in older exports.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub history: BTreeMap<AgentType, Vec<HourRecord>>,
}

/// The hours before `day` that forecasts of its hours read: each hour of the same weekday one to
/// [`MAX_WEEKS`] weeks back, and the [`LEVEL_HOURS`] hours just before it (the recent level).
pub fn history_hours(day: NaiveDate) -> Vec<DateTime<Utc>> {
    let start = day_start(day);
    let mut hours: Vec<DateTime<Utc>> = (1..=i64::from(MAX_WEEKS))
        .flat_map(|w| (0..24).map(move |h| start - Duration::weeks(w) + Duration::hours(h)))
        .chain((1..=LEVEL_HOURS).map(|h| start - Duration::hours(h)))
        .collect();
    hours.sort();
    hours
}

/// `day`'s first instant (UTC).
fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or_default()
}

impl DayExport {
    /// Reads and checks an export file's text.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let export: Self = serde_json::from_str(text)
            .map_err(|e| ValidationError::new("export", format!("not a day export: {e}")))?;
        if export.format != FORMAT {
            return Err(ValidationError::new("format", format!("format {} is not {FORMAT}", export.format)));
        }
        if export.regions.is_empty() {
            return Err(ValidationError::new("regions", "at least one region"));
        }
        for (t, hours) in &export.types {
            if hours.iter().any(|h| h.hour.date_naive() != export.day) {
                return Err(ValidationError::new(format!("types.{t}"), "an hour outside the exported day"));
            }
        }
        for (t, hours) in &export.history {
            if hours.iter().any(|h| h.hour >= export.start()) {
                return Err(ValidationError::new(
                    format!("history.{t}"),
                    "an hour not before the exported day",
                ));
            }
        }
        Ok(export)
    }

    /// The day's first instant (UTC).
    pub fn start(&self) -> DateTime<Utc> {
        day_start(self.day)
    }

    /// The same export with only `window`'s hours of `agent_type`'s records; the day's hours
    /// before the window join its history (the recent level a forecast in the window reads).
    #[must_use]
    pub fn within(&self, agent_type: &AgentType, window: Window) -> Self {
        let from = self.start() + Duration::hours(i64::from(window.from_hour));
        let to = from + Duration::hours(i64::from(window.hours));
        let mut types = BTreeMap::new();
        let mut history: Vec<HourRecord> = self.history.get(agent_type).cloned().unwrap_or_default();
        if let Some(hours) = self.types.get(agent_type) {
            let kept = hours.iter().filter(|h| h.hour >= from && h.hour < to).cloned().collect();
            types.insert(agent_type.clone(), kept);
            history.extend(hours.iter().filter(|h| h.hour < from).cloned());
        }
        let history = if history.is_empty() {
            BTreeMap::new()
        } else {
            BTreeMap::from([(agent_type.clone(), history)])
        };
        Self { types, history, ..self.clone() }
    }
}

/// The hours of the day a replay runs (UTC): the whole day, or a part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first hour, 0-23.
    pub from_hour: u32,
    /// How many hours, 1-24, not past the day's end.
    pub hours: u32,
}

impl Window {
    pub const DAY: Self = Self { from_hour: 0, hours: 24 };

    /// From `from_hour` for `hours`, or for the rest of the day when `hours` is left out (as the
    /// CLI and the API take them; checked by [`Self::validate`]).
    pub fn of(from_hour: u32, hours: Option<u32>) -> Self {
        Self { from_hour, hours: hours.unwrap_or_else(|| 24u32.saturating_sub(from_hour)) }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.from_hour > 23 {
            return Err(ValidationError::new("from_hour", "0 to 23"));
        }
        if self.hours == 0 || self.from_hour + self.hours > 24 {
            return Err(ValidationError::new(
                "hours",
                format!("1 to {} from hour {}", 24 - self.from_hour, self.from_hour),
            ));
        }
        Ok(())
    }
}

/// Minutes of work per incident in `hour`: work in progress over the rate served.
fn service_minutes(hour: &HourRecord) -> Option<f64> {
    let d = hour.demand();
    (d.served_per_minute > 0.0 && d.busy > 0.0).then(|| d.busy / d.served_per_minute)
}

/// The incidents of `agent_type` the export's records describe.
pub fn incidents(
    export: &DayExport,
    agent_type: &AgentType,
    seed: u64,
) -> Result<Vec<Incident>, ValidationError> {
    let Some(hours) = export.types.get(agent_type) else {
        return Err(ValidationError::new(
            "agent_type",
            format!("{agent_type} has no recorded hours that day"),
        ));
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut next_region = 0usize;
    // A typical service time for hours that recorded no work in progress.
    let fallback = hours.iter().filter_map(service_minutes).sum::<f64>()
        / hours.iter().filter(|h| service_minutes(h).is_some()).count().max(1) as f64;
    for hour in hours {
        let minutes_each = service_minutes(hour).unwrap_or(if fallback > 0.0 { fallback } else { 1.0 });
        for (minute, record) in &hour.minutes {
            let start = hour.hour + Duration::minutes(i64::from(*minute));
            for severity in Severity::ALL {
                let n = record.demand.served.get(severity).max(0.0).round() as usize;
                if out.len() + n > MAX_INCIDENTS {
                    return Err(ValidationError::new(
                        "types",
                        format!("more than {MAX_INCIDENTS} incidents in the day"),
                    ));
                }
                for k in 0..n {
                    let offset = Duration::microseconds(((k as f64 + 0.5) / n as f64 * 60e6) as i64);
                    // The hour's mean, spread log-normally: median 1, p95 2.
                    let spread = service_time(&mut rng, ServiceTime { median_s: 1.0, p95_s: 2.0 });
                    let region = export.regions[next_region % export.regions.len()].clone();
                    next_region += 1;
                    out.push(Incident {
                        id: 0,
                        at: start + offset,
                        region,
                        agent_type: agent_type.clone(),
                        severity,
                        service_s: (minutes_each * 60.0 * spread).clamp(0.1, 86_400.0),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.region.cmp(&b.region)));
    for (i, incident) in out.iter_mut().enumerate() {
        incident.id = i as u64;
    }
    Ok(out)
}

/// The export's history of `agent_type` as the scenario's: written as recorded; `weeks` counts
/// the weeks back it reaches (at least one, at most [`MAX_WEEKS`]).
fn recorded_history(export: &DayExport, agent_type: &AgentType) -> Option<History> {
    let hours = export.history.get(agent_type).filter(|h| !h.is_empty())?;
    let start = export.start();
    let weeks = hours.iter().map(|h| ((start - h.hour).num_hours() + 167) / 168).max().unwrap_or(1);
    Some(History {
        weeks: u32::try_from(weeks).unwrap_or(1).clamp(1, MAX_WEEKS),
        regions: None,
        recorded: BTreeMap::from([(agent_type.clone(), hours.clone())]),
    })
}

/// The scenario a replay of `agent_type` under `policy` runs: the exported day's `window` and its
/// regions, the type alone, its service time, the severities recorded, and the policy.
pub fn scenario(
    export: &DayExport,
    agent_type: &AgentType,
    policy: &ScalingPolicy,
    incidents: &[Incident],
    window: Window,
    name: &str,
) -> Result<Scenario, ValidationError> {
    policy.validate()?;
    window.validate()?;
    // The replay's fleet reports heartbeats (the records keep no provisioned-concurrency figures),
    // so a Lambda agent's policy is replayed on that signal.
    let mut policy = policy.clone();
    policy.signal = None;
    let mut severities: BTreeMap<Severity, f64> = BTreeMap::new();
    for i in incidents {
        *severities.entry(i.severity).or_default() += 1.0;
    }
    if severities.is_empty() {
        severities.insert(Severity::Low, 1.0);
    }
    let mean_s = incidents.iter().map(|i| i.service_s).sum::<f64>() / incidents.len().max(1) as f64;
    let median_s = mean_s.max(0.1);
    let scenario = Scenario {
        name: name.chars().take(64).collect(),
        description: format!("{agent_type} on {} as recorded, replayed under a policy", export.day),
        start: export.start() + Duration::hours(i64::from(window.from_hour)),
        hours: window.hours,
        seed: 1,
        regions: export
            .regions
            .iter()
            .map(|r| (r.clone(), RegionLoad { off_hours_per_minute: 0.0, business_per_minute: 0.0 }))
            .collect(),
        agent_mix: BTreeMap::from([(agent_type.clone(), 1.0)]),
        severity_mix: severities,
        service: BTreeMap::from([(agent_type.clone(), ServiceTime { median_s, p95_s: median_s * 2.0 })]),
        limits: BTreeMap::new(),
        bursts: Vec::new(),
        outages: Vec::new(),
        cost_spikes: Vec::new(),
        operator_marks: Vec::new(),
        lambda_agents: std::collections::BTreeSet::new(),
        control_plane: None,
        history: recorded_history(export, agent_type),
        policies: BTreeMap::from([(agent_type.clone(), policy)]),
    };
    scenario.validate()?;
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::recorded::MinuteRecord;

    fn export() -> DayExport {
        let detection = AgentType::parse("detection").unwrap();
        let hour = |h: i64, served: f64| {
            let mut m = MinuteRecord { busy: served * 2.0, ..MinuteRecord::default() };
            m.demand.served.high = served;
            HourRecord::steady(
                DateTime::parse_from_rfc3339("2027-01-18T00:00:00Z").unwrap().with_timezone(&Utc)
                    + Duration::hours(h),
                m,
            )
        };
        DayExport {
            format: FORMAT,
            day: NaiveDate::from_ymd_opt(2027, 1, 18).unwrap(),
            exported_at: DateTime::parse_from_rfc3339("2027-01-19T00:00:00Z").unwrap().with_timezone(&Utc),
            regions: vec![Region::parse("us-east-1").unwrap(), Region::parse("eu-west-1").unwrap()],
            policies: BTreeMap::from([(detection.clone(), ScalingPolicy::default_for(&detection))]),
            types: BTreeMap::from([(detection, vec![hour(8, 2.0), hour(9, 10.0)])]),
            history: BTreeMap::new(),
        }
    }

    #[test]
    fn the_records_become_the_days_incidents() {
        let export = export();
        let detection = AgentType::parse("detection").unwrap();
        let day = incidents(&export, &detection, 7).unwrap();
        assert_eq!(day.len(), 60 * 2 + 60 * 10);
        assert_eq!(day, incidents(&export, &detection, 7).unwrap(), "deterministic");
        // Two minutes of work each (Little's law), spread around it.
        let mean = day.iter().map(|i| i.service_s).sum::<f64>() / day.len() as f64;
        assert!((100.0..160.0).contains(&mean), "{mean}");
        let east = day.iter().filter(|i| i.region.as_str() == "us-east-1").count();
        assert_eq!(east * 2, day.len(), "dealt over the regions in turn");
        assert!(day.windows(2).all(|w| w[0].at <= w[1].at));
        let unknown = AgentType::parse("triage").unwrap();
        assert_eq!(incidents(&export, &unknown, 7).unwrap_err().field, "agent_type");
        let mut policy = export.policies[&detection].clone();
        policy.signal = Some(crate::scaling::signals::Signal::Cloudwatch);
        let s = scenario(&export, &detection, &policy, &day, Window::DAY, "replay").unwrap();
        assert_eq!((s.start, s.hours, s.policies.len()), (export.start(), 24, 1));
        let morning = Window { from_hour: 8, hours: 2 };
        let s = scenario(&export, &detection, &policy, &day, morning, "replay").unwrap();
        assert_eq!(
            (s.start, s.end()),
            (export.start() + Duration::hours(8), export.start() + Duration::hours(10))
        );
        let nine = export.within(&detection, Window { from_hour: 9, hours: 15 });
        assert_eq!(incidents(&nine, &detection, 7).unwrap().len(), 60 * 10, "only the hours in the window");
        for (bad, field) in [
            (Window { from_hour: 24, hours: 1 }, "from_hour"),
            (Window { from_hour: 20, hours: 5 }, "hours"),
            (Window { from_hour: 0, hours: 0 }, "hours"),
        ] {
            assert_eq!(scenario(&export, &detection, &policy, &day, bad, "replay").unwrap_err().field, field);
        }
        assert_eq!(s.policies[&detection].signal, None, "replayed on heartbeats");
        let mut broken = policy;
        broken.max_replicas = 0;
        broken.min_replicas = 1;
        assert!(scenario(&export, &detection, &broken, &day, Window::DAY, "replay").is_err());
    }

    #[test]
    fn an_export_reads_back_and_a_wrong_one_names_its_field() {
        let text = serde_json::to_string(&export()).unwrap();
        assert_eq!(DayExport::parse(&text).unwrap(), export());
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["format"] = 2.into();
        assert_eq!(DayExport::parse(&v.to_string()).unwrap_err().field, "format");
        v["format"] = 1.into();
        v["day"] = "2027-01-17".into();
        assert_eq!(DayExport::parse(&v.to_string()).unwrap_err().field, "types.detection");
        v["day"] = "2027-01-18".into();
        v["history"] = serde_json::json!({"detection": [{"hour": "2027-01-18T05:00:00Z", "minutes": {}}]});
        assert_eq!(DayExport::parse(&v.to_string()).unwrap_err().field, "history.detection");
        v["history"] = serde_json::json!({"detection": [{"hour": "2027-01-11T05:00:00Z", "minutes": {}}]});
        assert_eq!(DayExport::parse(&v.to_string()).unwrap().history.len(), 1);
    }
}
