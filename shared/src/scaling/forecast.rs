//! Forecasting an agent type's demand an hour ahead from its recorded hour-of-week pattern (pure).
//!
//! Incident load follows business hours in each region, so this hour of the week looks like the
//! same hour of past weeks. The forecast of an hour is the mean of that hour of the week over the
//! recorded weeks (the profile), times the recent level: how the last few whole hours compared
//! with their own profile (actual over expected, summed over the hours so a quiet hour's noise
//! weighs little), kept within [1/4, 4] as the cost projection's scale is. Demand is counted as
//! incidents served per minute; the concurrency it needs follows by Little's law (L = λW) from the
//! service time the same records show (mean work in progress over the rate served).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Weeks of history the profile is taken from at most (the recorded demand's retention covers them).
pub const MAX_WEEKS: u32 = 4;
/// Whole hours before the current one that set the recent level.
pub const LEVEL_HOURS: i64 = 3;
/// The level stays within these bounds, so one odd hour cannot run away with the forecast.
pub const LEVEL_BOUNDS: (f64, f64) = (0.25, 4.0);
/// An hour counts as recorded once this many of its minutes were: an hour the scaler missed
/// most of (an outage, a deploy) says little about its hour of the week.
pub const MIN_MINUTES: u32 = 30;
/// Incidents the service time must be learnt from: fewer say too little about it.
const MIN_SERVED_FOR_SERVICE_TIME: f64 = 30.0;

/// What the records say of one hour of one type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HourDemand {
    /// The hour's start (UTC, whole hour).
    pub hour: DateTime<Utc>,
    /// Minutes of the hour recorded.
    pub minutes: u32,
    /// Incidents served per recorded minute.
    pub served_per_minute: f64,
    /// Work in progress (incidents being worked on) per recorded minute, on average.
    pub busy: f64,
}

impl HourDemand {
    fn counts(&self) -> bool {
        self.minutes >= MIN_MINUTES && self.served_per_minute.is_finite() && self.busy.is_finite()
    }
}

/// The forecast of one hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HourForecast {
    /// The hour forecast (UTC, whole hour).
    pub hour: DateTime<Utc>,
    /// Incidents expected to be served per minute.
    pub per_minute: f64,
    /// Past weeks whose same hour the profile averaged.
    pub weeks: u32,
    /// The recent level the profile was multiplied by.
    pub level: f64,
}

/// Why there is no forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TooLittleHistory {
    /// Past weeks with the hour recorded.
    pub weeks: u32,
    /// Weeks the policy asks for.
    pub needed: u32,
}

/// The whole hour `at` falls in (the one definition the usage counters use).
pub use crate::cost::usage::hour_of;

/// The hours the forecast of `target` made at `now` reads: the same hour in each of the past
/// [`MAX_WEEKS`] weeks, the [`LEVEL_HOURS`] whole hours before `now`'s, and each of those in the
/// past weeks. Hours at or after `now`'s are never read (they are not over yet).
pub fn hours_read(target: DateTime<Utc>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let current = hour_of(now);
    let recent: Vec<DateTime<Utc>> = (1..=LEVEL_HOURS).map(|k| current - Duration::hours(k)).collect();
    let mut hours: Vec<DateTime<Utc>> = recent.clone();
    for h in std::iter::once(hour_of(target)).chain(recent) {
        hours.extend((1..=i64::from(MAX_WEEKS)).map(|w| h - Duration::weeks(w)));
    }
    hours.retain(|h| *h < current);
    hours.sort_unstable();
    hours.dedup();
    hours
}

fn recorded(history: &[HourDemand], hour: DateTime<Utc>) -> Option<&HourDemand> {
    history.iter().find(|h| h.hour == hour && h.counts())
}

/// The mean of `hour`'s same hour in past weeks, with how many weeks had it.
fn profile(history: &[HourDemand], hour: DateTime<Utc>) -> (Option<f64>, u32) {
    let seen: Vec<f64> = (1..=i64::from(MAX_WEEKS))
        .filter_map(|w| recorded(history, hour - Duration::weeks(w)))
        .map(|h| h.served_per_minute)
        .collect();
    let weeks = u32::try_from(seen.len()).unwrap_or(MAX_WEEKS);
    ((!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64), weeks)
}

/// How the [`LEVEL_HOURS`] whole hours before `now`'s compared with their profile (1 when they
/// cannot say: unrecorded, or a profile of nothing).
pub fn level(history: &[HourDemand], now: DateTime<Utc>) -> f64 {
    let current = hour_of(now);
    let (mut actual, mut expected) = (0.0, 0.0);
    for k in 1..=LEVEL_HOURS {
        let hour = current - Duration::hours(k);
        if let (Some(seen), (Some(usual), _)) = (recorded(history, hour), profile(history, hour)) {
            actual += seen.served_per_minute;
            expected += usual;
        }
    }
    if expected <= f64::EPSILON {
        return 1.0;
    }
    (actual / expected).clamp(LEVEL_BOUNDS.0, LEVEL_BOUNDS.1)
}

/// The forecast of the hour `target` falls in, made at `now` from `history`, or why there is none:
/// fewer than `min_weeks` past weeks recorded that hour.
pub fn forecast(
    history: &[HourDemand],
    target: DateTime<Utc>,
    now: DateTime<Utc>,
    min_weeks: u32,
) -> Result<HourForecast, TooLittleHistory> {
    let hour = hour_of(target);
    let (usual, weeks) = profile(history, hour);
    match usual {
        Some(usual) if weeks >= min_weeks.max(1) => {
            let level = level(history, now);
            Ok(HourForecast { hour, per_minute: usual * level, weeks, level })
        }
        _ => Err(TooLittleHistory { weeks, needed: min_weeks.max(1) }),
    }
}

/// Minutes one incident keeps a replica busy, by Little's law over the recorded hours: mean work in
/// progress over the rate served. `None` while too few incidents were served to tell.
pub fn service_minutes(history: &[HourDemand]) -> Option<f64> {
    let counted = history.iter().filter(|h| h.counts());
    let (busy, served) = counted.fold((0.0, 0.0), |(b, s), h| {
        let m = f64::from(h.minutes);
        (b + h.busy * m, s + h.served_per_minute * m)
    });
    (served >= MIN_SERVED_FOR_SERVICE_TIME && busy > 0.0).then(|| busy / served)
}

/// Replicas that carry `per_minute` incidents of `service_minutes` each at `target_utilization`
/// of `capacity` concurrent incidents per replica.
pub fn replicas_for(per_minute: f64, service_minutes: f64, capacity: u32, target_utilization: f64) -> u32 {
    let per_replica = f64::from(capacity.max(1)) * target_utilization;
    let needed = per_minute * service_minutes / per_replica;
    if needed.is_nan() || needed <= 0.0 {
        return 0;
    }
    (needed - 1e-9).ceil().min(f64::from(u32::MAX)) as u32
}

/// How far a forecast was from what then happened, relative to the larger of the two; `allowance`
/// (one replica's worth of incidents per minute) keeps quiet hours' small misses from counting as
/// large ones: a miss smaller than what one replica serves changes no floor.
pub fn error(forecast: f64, actual: f64, allowance: f64) -> f64 {
    let scale = forecast.max(actual).max(allowance).max(f64::EPSILON);
    ((forecast - actual).abs() / scale).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2027-01-04 00:00 UTC.
    fn monday() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2027-01-04T00:00:00Z").unwrap().with_timezone(&Utc)
    }

    /// Weeks of a weekly pattern: `rate(hour of day)` per minute, every hour recorded in full.
    fn weeks_of(weeks: i64, end: DateTime<Utc>, rate: impl Fn(u32) -> f64) -> Vec<HourDemand> {
        let start = end - Duration::weeks(weeks);
        (0..weeks * 168)
            .map(|h| start + Duration::hours(h))
            .map(|hour| {
                let per_minute = rate(chrono::Timelike::hour(&hour));
                HourDemand { hour, minutes: 60, served_per_minute: per_minute, busy: per_minute * 2.0 }
            })
            .collect()
    }

    fn business(hour: u32) -> f64 {
        if (9..17).contains(&hour) { 10.0 } else { 1.0 }
    }

    #[test]
    fn the_weekly_pattern_forecasts_the_morning_ramp() {
        let now = monday() + Duration::hours(8) + Duration::minutes(50);
        let history = weeks_of(3, monday(), business);
        // The last hours before `now` (05:00-07:59) are not in the history: the level is 1.
        let nine = forecast(&history, monday() + Duration::hours(9), now, 2).unwrap();
        assert_eq!(nine.hour, monday() + Duration::hours(9));
        assert_eq!(nine.weeks, 3);
        assert!((nine.per_minute - 10.0).abs() < 1e-9, "{nine:?}");
        let eight = forecast(&history, monday() + Duration::hours(8), now, 2).unwrap();
        assert!((eight.per_minute - 1.0).abs() < 1e-9, "{eight:?}");
    }

    #[test]
    fn a_level_shift_in_the_recent_hours_carries_into_the_forecast() {
        let now = monday() + Duration::hours(8) + Duration::minutes(50);
        let mut history = weeks_of(3, monday(), business);
        // This morning runs at twice the usual rate.
        for k in 0..8 {
            let hour = monday() + Duration::hours(k);
            history.push(HourDemand { hour, minutes: 60, served_per_minute: 2.0, busy: 4.0 });
        }
        let nine = forecast(&history, monday() + Duration::hours(9), now, 2).unwrap();
        assert!((nine.level - 2.0).abs() < 1e-9, "{nine:?}");
        assert!((nine.per_minute - 20.0).abs() < 1e-9, "{nine:?}");
        // A tenfold jump is held at the bound.
        for h in history.iter_mut().filter(|h| h.hour >= monday()) {
            h.served_per_minute = 10.0;
        }
        let held = forecast(&history, monday() + Duration::hours(9), now, 2).unwrap();
        assert!((held.level - LEVEL_BOUNDS.1).abs() < 1e-9, "{held:?}");
    }

    #[test]
    fn too_little_history_forecasts_nothing() {
        let now = monday() + Duration::hours(8);
        let target = monday() + Duration::hours(9);
        // (weeks recorded, weeks asked for, forecast?)
        let table = [(0, 1, false), (1, 1, true), (1, 2, false), (2, 2, true), (4, 2, true), (3, 4, false)];
        for (weeks, needed, expected) in table {
            let history = weeks_of(weeks, monday(), business);
            let got = forecast(&history, target, now, needed);
            assert_eq!(got.is_ok(), expected, "{weeks} weeks, {needed} needed: {got:?}");
            if let Err(e) = got {
                assert_eq!(e, TooLittleHistory { weeks: u32::try_from(weeks).unwrap(), needed });
            }
        }
        // An hour recorded for less than half of it does not count as a week.
        let mut history = weeks_of(2, monday(), business);
        for h in history.iter_mut().filter(|h| h.hour == target - Duration::weeks(1)) {
            h.minutes = MIN_MINUTES - 1;
        }
        assert_eq!(forecast(&history, target, now, 2), Err(TooLittleHistory { weeks: 1, needed: 2 }));
    }

    #[test]
    fn the_hours_read_are_past_whole_hours_only() {
        let now = monday() + Duration::hours(8) + Duration::minutes(50);
        let hours = hours_read(monday() + Duration::hours(9), now);
        assert!(hours.iter().all(|h| *h < monday() + Duration::hours(8)), "{hours:?}");
        assert!(hours.contains(&(monday() + Duration::hours(9) - Duration::weeks(4))));
        assert!(hours.contains(&(monday() + Duration::hours(5))));
        // 3 recent hours, then 4 weeks of the target and of each recent hour.
        assert_eq!(hours.len(), 3 + 4 * 4);
    }

    #[test]
    fn service_time_follows_littles_law() {
        let history = weeks_of(1, monday(), business);
        // busy = 2 x served everywhere: two minutes per incident.
        assert!((service_minutes(&history).unwrap() - 2.0).abs() < 1e-9);
        let quiet = [HourDemand { hour: monday(), minutes: 60, served_per_minute: 0.1, busy: 0.2 }];
        assert_eq!(service_minutes(&quiet), None, "six incidents say too little");
    }

    #[test]
    fn replicas_cover_the_forecast_at_the_target_utilization() {
        // (per minute, service minutes, capacity, target, replicas)
        let table = [
            (10.0, 2.0, 20, 0.7, 2), // 20 in progress / 14 per replica
            (7.0, 2.0, 20, 0.7, 1),  // exactly 14
            (0.0, 2.0, 20, 0.7, 0),
            (f64::NAN, 2.0, 20, 0.7, 0),
            (1e300, 1e300, 1, 0.5, u32::MAX),
        ];
        for (per_minute, w, capacity, target, expected) in table {
            assert_eq!(replicas_for(per_minute, w, capacity, target), expected, "{per_minute} {w}");
        }
    }

    #[test]
    fn errors_are_relative_with_an_allowance_for_quiet_hours() {
        // (forecast, actual, allowance, error)
        let table = [
            (10.0, 10.0, 1.0, 0.0),
            (10.0, 5.0, 1.0, 0.5),
            (5.0, 10.0, 1.0, 0.5),
            (10.0, 0.0, 1.0, 1.0),
            (0.2, 0.6, 7.0, 0.4 / 7.0),
            (0.0, 0.0, 0.0, 0.0),
        ];
        for (f, a, allowance, expected) in table {
            assert!((error(f, a, allowance) - expected).abs() < 1e-9, "{f} {a} {allowance}");
        }
    }
}
