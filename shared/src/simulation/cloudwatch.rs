//! Simulated CloudWatch for the managed alarms: metric samples aggregated per one-minute period,
//! and each alarm evaluated as CloudWatch evaluates a metric alarm (period, evaluation periods,
//! datapoints to alarm, `TreatMissingData`). The scaler is invoked only on a transition into
//! ALARM, as a Lambda alarm action is.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::scaling::alarm::AlarmState;
use crate::scaling::alarms::{AlarmSpec, MissingData};

/// The next state of an alarm in `current` state, given its last `evaluation_periods` datapoints
/// (oldest first; `None`: no data in that period).
///
/// A present datapoint breaches by the alarm's comparison; a missing one counts as breaching
/// (`breaching`), as good (`notBreaching`), or not at all (`missing`, `ignore`). With at least
/// `datapoints_to_alarm` breaching the alarm is in ALARM. Otherwise: `missing` with no datapoint
/// at all is INSUFFICIENT_DATA; `ignore` keeps the current state while too few datapoints are
/// present to decide; else OK.
pub fn evaluate(spec: &AlarmSpec, datapoints: &[Option<f64>], current: AlarmState) -> AlarmState {
    let mut breaching = 0u32;
    let mut counted = 0u32;
    for point in datapoints {
        let breaches = match (point, spec.treat_missing_data) {
            (Some(v), _) => Some(spec.comparison.breaches(*v, spec.threshold)),
            (None, MissingData::Breaching) => Some(true),
            (None, MissingData::NotBreaching) => Some(false),
            (None, MissingData::Missing | MissingData::Ignore) => None,
        };
        if let Some(b) = breaches {
            counted += 1;
            breaching += u32::from(b);
        }
    }
    if breaching >= spec.datapoints_to_alarm {
        return AlarmState::Alarm;
    }
    match spec.treat_missing_data {
        MissingData::Missing if counted == 0 => AlarmState::InsufficientData,
        MissingData::Ignore if counted < spec.datapoints_to_alarm => current,
        _ => AlarmState::Ok,
    }
}

/// Samples per metric series and minute, folded by the alarm's statistic when read.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (series, period start) -> samples.
    samples: BTreeMap<(String, DateTime<Utc>), Vec<f64>>,
}

/// A metric series as an alarm names it: namespace, name and dimensions.
pub fn series(spec: &AlarmSpec) -> String {
    let dims: Vec<String> = spec.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}/{}/{}", spec.namespace, spec.metric_name, dims.join(","))
}

fn period_of(at: DateTime<Utc>) -> DateTime<Utc> {
    crate::scaling::demand::minute_of(at)
}

impl Metrics {
    pub fn put(&mut self, series: String, at: DateTime<Utc>, value: f64) {
        self.samples.entry((series, period_of(at))).or_default().push(value);
    }

    /// The alarm's last `evaluation_periods` whole periods before `now`, oldest first.
    pub fn datapoints(&self, spec: &AlarmSpec, now: DateTime<Utc>) -> Vec<Option<f64>> {
        let name = series(spec);
        let newest = period_of(now) - Duration::minutes(1);
        (0..i64::from(spec.evaluation_periods))
            .rev()
            .map(|back| {
                let start = newest - Duration::minutes(back);
                self.samples.get(&(name.clone(), start)).filter(|s| !s.is_empty()).map(|s| {
                    match spec.statistic.as_str() {
                        "Maximum" => s.iter().copied().fold(f64::MIN, f64::max),
                        _ => s.iter().sum::<f64>() / s.len() as f64,
                    }
                })
            })
            .collect()
    }

    /// Forgets periods no alarm looks at any more.
    pub fn forget_before(&mut self, at: DateTime<Utc>) {
        self.samples.retain(|(_, start), _| *start >= at);
    }
}

/// One managed alarm as CloudWatch holds it.
#[derive(Debug, Clone)]
pub struct SimulatedAlarm {
    pub spec: AlarmSpec,
    pub state: AlarmState,
}

impl SimulatedAlarm {
    pub fn new(spec: AlarmSpec) -> Self {
        // CloudWatch puts a new alarm in INSUFFICIENT_DATA until it is evaluated.
        Self { spec, state: AlarmState::InsufficientData }
    }

    /// Evaluates the alarm now; true on a transition into ALARM (when its action runs).
    pub fn evaluate(&mut self, metrics: &Metrics, now: DateTime<Utc>) -> bool {
        let next = evaluate(&self.spec, &metrics.datapoints(&self.spec, now), self.state);
        let fired = next == AlarmState::Alarm && self.state != AlarmState::Alarm;
        self.state = next;
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::alarms::Comparison;

    fn spec(missing: MissingData, m: u32, n: u32) -> AlarmSpec {
        AlarmSpec {
            name: "a".into(),
            description: String::new(),
            namespace: "N".into(),
            metric_name: "AgentUtilization".into(),
            dimensions: vec![("AgentType".into(), "detection".into())],
            statistic: "Average".into(),
            period_s: 60,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: 80.0,
            comparison: Comparison::GreaterThanThreshold,
            treat_missing_data: missing,
            actions: Vec::new(),
        }
    }

    #[test]
    fn m_of_n_with_each_treatment_of_missing_data() {
        use AlarmState::{Alarm, InsufficientData, Ok};
        let hot = Some(90.0);
        let cool = Some(50.0);
        let cases = [
            (MissingData::NotBreaching, 3, 3, vec![hot, hot, hot], Ok, Alarm),
            (MissingData::NotBreaching, 3, 3, vec![hot, None, hot], Alarm, Ok),
            (MissingData::Breaching, 3, 3, vec![hot, None, hot], Ok, Alarm),
            (MissingData::Missing, 3, 3, vec![None, None, None], Ok, InsufficientData),
            (MissingData::Missing, 2, 3, vec![hot, None, hot], Ok, Alarm),
            (MissingData::Missing, 3, 3, vec![hot, None, hot], Alarm, Ok),
            (MissingData::Ignore, 2, 3, vec![None, None, hot], Alarm, Alarm),
            (MissingData::Ignore, 2, 3, vec![None, None, cool], Alarm, Alarm),
            (MissingData::Ignore, 2, 3, vec![cool, None, cool], Alarm, Ok),
            (MissingData::NotBreaching, 2, 3, vec![hot, cool, hot], Ok, Alarm),
            (MissingData::NotBreaching, 3, 3, vec![hot, hot, Some(80.0)], Ok, Ok),
        ];
        for (missing, m, n, points, current, expected) in cases {
            assert_eq!(
                evaluate(&spec(missing, m, n), &points, current),
                expected,
                "{missing:?} {m}/{n} {points:?}"
            );
        }
    }

    #[test]
    fn only_a_transition_into_alarm_fires_and_periods_are_whole_minutes() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut metrics = Metrics::default();
        let mut alarm = SimulatedAlarm::new(spec(MissingData::NotBreaching, 3, 3));
        let name = series(&alarm.spec);
        let mut fired = Vec::new();
        for minute in 0..8 {
            let at = t0 + Duration::minutes(minute);
            // Two samples a minute, averaging 90 (hot) for five minutes, then 50.
            let value = if minute < 5 { 90.0 } else { 50.0 };
            metrics.put(name.clone(), at + Duration::seconds(10), value - 5.0);
            metrics.put(name.clone(), at + Duration::seconds(40), value + 5.0);
            fired.push(alarm.evaluate(&metrics, at + Duration::seconds(60 + 20)));
        }
        assert_eq!(
            fired,
            [false, false, true, false, false, false, false, false],
            "once, on the third hot minute"
        );
        assert_eq!(alarm.state, AlarmState::Ok);
    }
}
