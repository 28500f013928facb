//! The weeks a deployment would have recorded before the simulated day, written where the
//! scaler's tick writes its own records (`scaling::recorded`), so predictive scale-out forecasts
//! the day from history as it would deployed.
//!
//! Each past week's same weekday is drawn from the scenario's arrival process with another seed
//! (and, for a day whose pattern breaks, the usual rates of `history.regions`), without its
//! bursts and disturbances, and recorded as a fleet that served every incident the moment it
//! arrived would have: each minute's incidents as served, the work in progress from their
//! service times. That is what a reactive fleet records outside its ramps; replica counts are
//! not part of it (recorded as 0). No figure of the simulated day itself goes in. A what-if
//! replay brings a deployment's own recorded hours instead (`history.recorded`), written as
//! they are.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Timelike, Utc};

use super::arrivals::{Incident, incidents};
use super::scenario::Scenario;
use crate::domain::AgentType;
use crate::scaling::demand::minute_of;
use crate::scaling::forecast::hour_of;
use crate::scaling::recorded::{DemandRecorder, HourRecord, MinuteRecord};
use crate::store::StoreError;

/// The scenario of the week `weeks_back` before the day: its usual rates, another seed, nothing
/// but arrivals.
fn past_week(scenario: &Scenario, weeks_back: u32) -> Scenario {
    let mut past = scenario.clone();
    past.start = scenario.start - Duration::weeks(i64::from(weeks_back));
    past.seed = scenario.seed.wrapping_add(7_919 * u64::from(weeks_back));
    if let Some(regions) = scenario.history.as_ref().and_then(|h| h.regions.clone()) {
        past.regions = regions;
    }
    past.bursts.clear();
    past.outages.clear();
    past.cost_spikes.clear();
    past.operator_marks.clear();
    past.control_plane = None;
    past.history = None;
    past
}

/// Per type and minute, what a fleet that served every incident at once records.
fn minutes_of(day: &[Incident]) -> BTreeMap<(AgentType, DateTime<Utc>), MinuteRecord> {
    let mut minutes: BTreeMap<(AgentType, DateTime<Utc>), MinuteRecord> = BTreeMap::new();
    for incident in day {
        let minute = minute_of(incident.at);
        let record = minutes.entry((incident.agent_type.clone(), minute)).or_default();
        *record.demand.served.get_mut(incident.severity) += 1.0;
        // Its work, spread over the minutes it spans: busy is the mean in progress per minute.
        let end = incident.at + Duration::microseconds((incident.service_s * 1e6) as i64);
        let mut from = incident.at;
        while from < end {
            let next = (minute_of(from) + Duration::minutes(1)).min(end);
            let share = (next - from).num_microseconds().unwrap_or(0) as f64 / 60e6;
            minutes.entry((incident.agent_type.clone(), minute_of(from))).or_default().busy += share;
            from = next;
        }
    }
    minutes
}

/// Records the scenario's `history.weeks` past weeks as the tick writes its hours (one item per
/// type and hour); answers the minutes recorded.
pub async fn record(scenario: &Scenario, recorder: &DemandRecorder) -> Result<usize, StoreError> {
    let Some(history) = &scenario.history else { return Ok(0) };
    if !history.recorded.is_empty() {
        // A deployment's own records: written as they are, nothing drawn.
        for (agent_type, hours) in &history.recorded {
            recorder.put_hours(agent_type, hours).await?;
        }
        return Ok(history.recorded.values().flatten().map(|h| h.minutes.len()).sum());
    }
    let mut recorded = 0;
    for weeks_back in 1..=history.weeks {
        let past = past_week(scenario, weeks_back);
        let end = past.end();
        let mut hours: BTreeMap<AgentType, BTreeMap<DateTime<Utc>, HourRecord>> = BTreeMap::new();
        // Work that runs past the week's day is not part of it.
        for ((agent_type, minute), record) in
            minutes_of(&incidents(&past)).into_iter().filter(|((_, m), _)| *m < end)
        {
            let hour = hour_of(minute);
            let entry = hours.entry(agent_type).or_default().entry(hour).or_insert_with(|| HourRecord {
                hour,
                minutes: BTreeMap::new(),
                forecast: None,
            });
            entry.minutes.insert(minute.minute(), record);
            recorded += 1;
        }
        for (agent_type, by_hour) in hours {
            recorder.put_hours(&agent_type, &by_hour.into_values().collect::<Vec<_>>()).await?;
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::{Region, Severity};
    use crate::store::MemoryStore;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn each_minute_counts_its_arrivals_and_the_work_in_progress() {
        let detection = AgentType::parse("detection").unwrap();
        let incident = |at_s: &str, service_s: f64| Incident {
            id: 0,
            at: at(at_s),
            region: Region::parse("us-east-1").unwrap(),
            agent_type: detection.clone(),
            severity: Severity::High,
            service_s,
        };
        // 90 s from 10:00:30: half of 10:00, all of 10:01; 30 s from 10:01:00.
        let day = [incident("2026-03-10T10:00:30Z", 90.0), incident("2026-03-10T10:01:00Z", 30.0)];
        let minutes = minutes_of(&day);
        let first = minutes[&(detection.clone(), at("2026-03-10T10:00:00Z"))];
        let second = minutes[&(detection.clone(), at("2026-03-10T10:01:00Z"))];
        assert!((first.demand.served.high - 1.0).abs() < 1e-9);
        assert!((first.busy - 0.5).abs() < 1e-9, "{first:?}");
        assert!((second.demand.served.high - 1.0).abs() < 1e-9);
        assert!((second.busy - 1.5).abs() < 1e-9, "{second:?}");
    }

    #[tokio::test]
    async fn past_weeks_are_recorded_with_their_usual_rates_and_other_seeds() {
        let text = std::fs::read_to_string(format!(
            "{}/../tests/fixtures/scenarios/holiday.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let holiday = Scenario::parse(&text).unwrap();
        let usual = holiday.history.as_ref().and_then(|h| h.regions.clone()).unwrap();
        let past = past_week(&holiday, 1);
        assert_eq!(past.regions, usual, "the past weeks had the usual rates");
        assert_ne!(past.seed, holiday.seed);
        assert_eq!(past.start, holiday.start - Duration::weeks(1));
        let store = Arc::new(MemoryStore::new(Arc::new(ManualClock::new(holiday.start))));
        let recorder = DemandRecorder::new(store);
        let written = record(&holiday, &recorder).await.unwrap();
        assert!(written > 0);
        let detection = AgentType::parse("detection").unwrap();
        let weeks = holiday.history.as_ref().unwrap().weeks;
        for w in 1..=weeks {
            let day = (holiday.start - Duration::weeks(i64::from(w))).date_naive();
            let hours = recorder.day(&detection, day).await.unwrap();
            assert_eq!(hours.len(), 24, "week {w}");
        }
    }
}
