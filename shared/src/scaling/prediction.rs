//! Predictive scale-out (pure): from the forecast of the hour in progress and of the hour the lead
//! time reaches to a floor on the desired count, so the morning ramp finds its replicas ready.
//!
//! The floor only ever raises what the metrics ask for ([`super::decide_with_floor`]): scale-in
//! stays reactive, the policy's maximum bounds it, and the cost gate weighs the scale-up it asks
//! for like any other. It acts only with `min_weeks` of history and a service time learnt from
//! the records, and only while the forecasts of the last hours were near what then happened
//! (the guard): a day whose pattern breaks (a holiday, an outage) turns it off until the
//! forecasts hold again.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ScalingPolicy;
use super::autoscaler::Floor;
use super::forecast::{
    HourDemand, HourForecast, LEVEL_HOURS, MIN_MINUTES, TooLittleHistory, error, hour_of, replicas_for,
};
use super::recorded::HourRecord;

/// Minutes of the hour in progress recorded before its forecast is graded: a quarter of an hour
/// tells a holiday morning from a normal one.
pub const GUARD_MINUTES: u32 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PredictionStatus {
    /// The forecast sets a floor.
    Active,
    /// The policy turned it off.
    Disabled,
    /// Fewer weeks recorded than the policy asks for.
    TooLittleHistory,
    /// Too few incidents recorded to learn how long one keeps a replica busy.
    NoServiceTime,
    /// The recent forecasts missed by more than the policy allows: reactive scaling only.
    ErrorTooHigh,
}

/// What the scaler predicted of a type, as its state keeps it and the status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Prediction {
    pub status: PredictionStatus,
    /// Forecasts of the hour in progress and of the hour the lead time reaches, oldest first.
    #[serde(default)]
    pub forecasts: Vec<HourForecast>,
    /// Minutes one incident keeps a replica busy (Little's law over the records).
    #[serde(default)]
    pub service_minutes: Option<f64>,
    /// The largest error of the hours graded now (the last three and the one in progress), if any.
    #[serde(default)]
    pub error: Option<f64>,
    /// The floor set on the desired count, when active.
    #[serde(default)]
    pub floor: Option<u32>,
    pub reason: String,
    /// The hour the forecasts were last made for.
    #[serde(default)]
    pub made_for: Option<DateTime<Utc>>,
}

/// Forecasts made from the history just read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fresh {
    pub forecast: Result<HourForecast, TooLittleHistory>,
    pub service_minutes: Option<f64>,
}

/// The hour whose forecast the floor needs at `now` and the previous prediction does not hold, if
/// any: the history is read, and a forecast made, once per hour.
pub fn refresh_for(
    policy: &ScalingPolicy,
    previous: Option<&Prediction>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let settings = policy.predictive();
    if !settings.enabled {
        return None;
    }
    let target = hour_of(now + lead(policy));
    (previous.and_then(|p| p.made_for) != Some(target)).then_some(target)
}

fn lead(policy: &ScalingPolicy) -> Duration {
    Duration::seconds(i64::try_from(policy.predictive().lead_seconds).unwrap_or(3600))
}

/// The incidents per minute one replica serves at the target utilization: a miss smaller than it
/// changes no floor.
fn allowance(policy: &ScalingPolicy, service_minutes: f64) -> f64 {
    f64::from(policy.capacity_per_replica) * policy.target_utilization / service_minutes.max(f64::EPSILON)
}

/// The largest error of the forecasts graded: whole hours of the last [`LEVEL_HOURS`] recorded
/// for at least half of them, and the hour in progress once [`GUARD_MINUTES`] are recorded.
fn graded_error(records: &[HourRecord], allowance: f64, now: DateTime<Utc>) -> Option<(f64, DateTime<Utc>)> {
    let current = hour_of(now);
    records
        .iter()
        .filter(|r| r.hour <= current && r.hour >= current - Duration::hours(LEVEL_HOURS))
        .filter_map(|r| {
            let seen: HourDemand = r.demand();
            let enough = if r.hour == current { GUARD_MINUTES } else { MIN_MINUTES };
            let forecast = r.forecast?;
            (seen.minutes >= enough).then(|| (error(forecast, seen.served_per_minute, allowance), r.hour))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The prediction at `now`: the previous one's forecasts still ahead (and the hour just ended's,
/// which goes into its record: a write that fails at the top of the hour is tried again by the
/// next ticks for an hour, with it), the fresh forecast if one was made, graded against the
/// recent `records` (their hours' forecasts and what was seen).
pub fn predict(
    policy: &ScalingPolicy,
    previous: Option<&Prediction>,
    fresh: Option<Fresh>,
    records: &[HourRecord],
    now: DateTime<Utc>,
) -> Prediction {
    let settings = policy.predictive();
    if !settings.enabled {
        return Prediction {
            status: PredictionStatus::Disabled,
            forecasts: Vec::new(),
            service_minutes: None,
            error: None,
            floor: None,
            reason: "predictive scale-out is off in the policy".into(),
            made_for: None,
        };
    }
    let current = hour_of(now);
    let mut forecasts: Vec<HourForecast> = previous
        .map(|p| p.forecasts.iter().copied().filter(|f| f.hour >= current - Duration::hours(1)).collect())
        .unwrap_or_default();
    let mut service_minutes = previous.and_then(|p| p.service_minutes);
    let mut made_for = previous.and_then(|p| p.made_for);
    let mut short = None;
    if let Some(fresh) = fresh {
        service_minutes = fresh.service_minutes.or(service_minutes);
        match fresh.forecast {
            Ok(f) => {
                forecasts.retain(|kept| kept.hour != f.hour);
                forecasts.push(f);
                forecasts.sort_by_key(|f| f.hour);
                made_for = Some(f.hour);
            }
            Err(e) => {
                made_for = Some(hour_of(now + lead(policy)));
                short = Some(e);
            }
        }
    }
    let ahead = hour_of(now + lead(policy));
    let wanted: Vec<HourForecast> =
        forecasts.iter().copied().filter(|f| f.hour == current || f.hour == ahead).collect();
    let mut prediction = Prediction {
        status: PredictionStatus::Active,
        forecasts,
        service_minutes,
        error: None,
        floor: None,
        reason: String::new(),
        made_for,
    };
    let Some(busiest) = wanted.iter().max_by(|a, b| a.per_minute.total_cmp(&b.per_minute)) else {
        prediction.status = PredictionStatus::TooLittleHistory;
        let (weeks, needed) = short.map_or((0, settings.min_weeks), |s| (s.weeks, s.needed));
        prediction.reason = format!(
            "{weeks} of the {needed} weeks needed are recorded for {}: reactive scaling only",
            ahead.format("%a %H:00")
        );
        return prediction;
    };
    let Some(service) = service_minutes else {
        prediction.status = PredictionStatus::NoServiceTime;
        prediction.reason = "too few incidents recorded to learn how long one keeps a replica busy".into();
        return prediction;
    };
    let graded = graded_error(records, allowance(policy, service), now);
    // The error of the hours graded now; an older hour's error is not shown as if it were recent.
    prediction.error = graded.map(|(e, _)| e);
    if let Some((e, hour)) = graded.filter(|(e, _)| *e > settings.max_error) {
        prediction.status = PredictionStatus::ErrorTooHigh;
        prediction.reason = format!(
            "the forecast of {} missed by {:.0} % (at most {:.0} %): reactive scaling only until the forecasts hold again",
            hour.format("%H:00"),
            e * 100.0,
            settings.max_error * 100.0
        );
        return prediction;
    }
    let replicas =
        replicas_for(busiest.per_minute, service, policy.capacity_per_replica, policy.target_utilization)
            .min(policy.max_replicas);
    prediction.floor = Some(replicas);
    prediction.reason = format!(
        "forecast of {:.1} incidents a minute at {} ({} weeks' pattern, level {:.2}, {:.1} min each): at least {replicas} replicas",
        busiest.per_minute,
        busiest.hour.format("%H:00"),
        busiest.weeks,
        busiest.level,
        service
    );
    prediction
}

/// The floor the prediction sets, if it is active.
pub fn floor(prediction: &Prediction) -> Option<Floor> {
    match (prediction.status, prediction.floor) {
        (PredictionStatus::Active, Some(replicas)) if replicas > 0 => {
            Some(Floor { replicas, reason: format!("predictive scale-out: {}", prediction.reason) })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::AgentType;
    use crate::scaling::PredictivePolicy;
    use crate::scaling::recorded::MinuteRecord;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Detection: 2-10 replicas of 20 at 0.7, so 14 in progress per replica.
    fn policy() -> ScalingPolicy {
        ScalingPolicy::default_for(&AgentType::parse("detection").unwrap())
    }

    fn forecast(hour: &str, per_minute: f64) -> HourForecast {
        HourForecast { hour: at(hour), per_minute, weeks: 3, level: 1.0 }
    }

    fn fresh(hour: &str, per_minute: f64) -> Fresh {
        Fresh { forecast: Ok(forecast(hour, per_minute)), service_minutes: Some(2.0) }
    }

    /// An hour recorded for `minutes` minutes at `served` a minute, forecast at `forecast`.
    fn record(hour: &str, minutes: u32, served: f64, forecast: Option<f64>) -> HourRecord {
        let mut m = MinuteRecord::default();
        m.demand.served.high = served;
        HourRecord {
            hour: at(hour),
            minutes: (0..minutes).map(|k| (k, m)).collect::<BTreeMap<_, _>>(),
            forecast,
        }
    }

    #[test]
    fn the_floor_comes_ahead_of_the_ramp_by_the_lead_time() {
        let p = policy();
        // 08:50 with a 10-minute lead: the 09:00 hour is due, and its forecast sets the floor.
        let now = at("2027-01-04T08:50:00Z");
        assert_eq!(refresh_for(&p, None, now), Some(at("2027-01-04T09:00:00Z")));
        let made = predict(&p, None, Some(fresh("2027-01-04T09:00:00Z", 35.0)), &[], now);
        assert_eq!(made.status, PredictionStatus::Active, "{made:?}");
        // 35 a minute x 2 minutes = 70 in progress, 14 per replica: 5.
        assert_eq!(made.floor, Some(5));
        assert_eq!(refresh_for(&p, Some(&made), now + Duration::minutes(5)), None, "made once per hour");
        // At 08:49 the lead does not reach 09:00 yet: the 08:00 forecast alone counts.
        let early =
            predict(&p, None, Some(fresh("2027-01-04T08:00:00Z", 3.5)), &[], at("2027-01-04T08:49:00Z"));
        assert_eq!(early.floor, Some(1));
    }

    #[test]
    fn the_floor_never_passes_the_maximum_and_takes_the_busier_hour() {
        let p = policy();
        let now = at("2027-01-04T16:55:00Z");
        let busy = predict(&p, None, Some(fresh("2027-01-04T16:00:00Z", 1000.0)), &[], now);
        assert_eq!(busy.floor, Some(p.max_replicas));
        // Into the evening: the hour in progress (busier) still holds the floor until it ends.
        let evening = predict(&p, Some(&busy), Some(fresh("2027-01-04T17:00:00Z", 1.0)), &[], now);
        assert_eq!(evening.forecasts.len(), 2);
        assert_eq!(evening.floor, Some(p.max_replicas));
        let later = predict(&p, Some(&evening), None, &[], at("2027-01-04T17:01:00Z"));
        assert_eq!(later.floor, Some(1), "the hour just ended sets no floor");
        // It keeps its forecast until its record is written (a write at 17:00 may fail and be
        // tried again at 17:01 and after), and is dropped an hour later.
        assert_eq!(
            later.forecasts.iter().map(|f| f.hour).collect::<Vec<_>>(),
            [at("2027-01-04T16:00:00Z"), at("2027-01-04T17:00:00Z")]
        );
        let much_later = predict(&p, Some(&later), None, &[], at("2027-01-04T18:01:00Z"));
        assert_eq!(
            much_later.forecasts.iter().map(|f| f.hour).collect::<Vec<_>>(),
            [at("2027-01-04T17:00:00Z")]
        );
    }

    #[test]
    fn it_waits_for_history_and_a_service_time_and_obeys_the_policy() {
        let now = at("2027-01-04T08:50:00Z");
        let short =
            Fresh { forecast: Err(TooLittleHistory { weeks: 1, needed: 2 }), service_minutes: Some(2.0) };
        let waiting = predict(&policy(), None, Some(short), &[], now);
        assert_eq!(waiting.status, PredictionStatus::TooLittleHistory);
        assert!(waiting.reason.contains("1 of the 2 weeks"), "{}", waiting.reason);
        assert_eq!(floor(&waiting), None);
        let unknown = Fresh { forecast: Ok(forecast("2027-01-04T09:00:00Z", 10.0)), service_minutes: None };
        assert_eq!(predict(&policy(), None, Some(unknown), &[], now).status, PredictionStatus::NoServiceTime);
        let mut off = policy();
        off.predictive = Some(PredictivePolicy { enabled: false, ..PredictivePolicy::default() });
        assert_eq!(refresh_for(&off, None, now), None);
        let disabled = predict(&off, None, Some(fresh("2027-01-04T09:00:00Z", 35.0)), &[], now);
        assert_eq!((disabled.status, floor(&disabled)), (PredictionStatus::Disabled, None));
    }

    #[test]
    fn the_guard_turns_it_off_when_the_forecasts_miss() {
        let p = policy();
        let now = at("2027-01-04T09:20:00Z");
        let made =
            predict(&p, None, Some(fresh("2027-01-04T09:00:00Z", 35.0)), &[], at("2027-01-04T08:50:00Z"));
        // One replica's worth is 7 a minute: misses below it weigh little.
        // (records, status)
        let table: [(Vec<HourRecord>, PredictionStatus); 5] = [
            (vec![record("2027-01-04T09:00:00Z", 20, 33.0, Some(35.0))], PredictionStatus::Active),
            // A holiday morning: 20 minutes at 2 a minute against 35 expected.
            (vec![record("2027-01-04T09:00:00Z", 20, 2.0, Some(35.0))], PredictionStatus::ErrorTooHigh),
            // Too few minutes of the hour in progress to grade it.
            (vec![record("2027-01-04T09:00:00Z", 10, 2.0, Some(35.0))], PredictionStatus::Active),
            // A whole past hour that missed keeps it off.
            (vec![record("2027-01-04T07:00:00Z", 60, 40.0, Some(10.0))], PredictionStatus::ErrorTooHigh),
            // Quiet hours' misses within one replica's worth do not count.
            (vec![record("2027-01-04T06:00:00Z", 60, 0.5, Some(2.0))], PredictionStatus::Active),
        ];
        for (records, expected) in table {
            let got = predict(&p, Some(&made), None, &records, now);
            assert_eq!(got.status, expected, "{records:?}: {}", got.reason);
            assert_eq!(floor(&got).is_some(), expected == PredictionStatus::Active);
        }
        // An hour more than the graded window ago is forgotten.
        let old = [record("2027-01-04T05:00:00Z", 60, 40.0, Some(10.0))];
        assert_eq!(predict(&p, Some(&made), None, &old, now).status, PredictionStatus::Active);
    }
}
