//! Projecting the day's spend (pure). Billing data lags hours, so the suite prices its own usage
//! and projects: spend so far today, plus the rest of the day from an hour-of-week profile of past
//! spend, scaled by how recent hours compare with the profile (an EWMA of the ratio). While the
//! history cannot cover the rest of the day, the current hourly rate stands in.

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Hours in a week: the profile's slots.
const WEEK_HOURS: usize = 168;
/// Weight of the newest hour in the scale's EWMA.
const SCALE_ALPHA: f64 = 0.3;
/// Recent hours the scale looks at.
const SCALE_HOURS: i64 = 6;
/// The scale stays within these bounds, so one odd hour cannot run away with the projection.
const SCALE_BOUNDS: (f64, f64) = (0.25, 4.0);

/// Spend in one whole hour (UTC, starting at `hour`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HourSpend {
    pub hour: DateTime<Utc>,
    pub cost: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Spend so far plus the scaled hour-of-week profile.
    Profile,
    /// Spend so far plus the current hourly rate for the rest of the day (history too short).
    CurrentRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Projection {
    pub daily: f64,
    pub method: Method,
    /// The factor recent hours put on the profile (1 without a profile).
    pub scale: f64,
}

fn slot(at: DateTime<Utc>) -> usize {
    at.weekday().num_days_from_monday() as usize * 24 + at.hour() as usize
}

/// Average spend per hour-of-week over `history`, where any was seen.
fn profile(history: &[HourSpend]) -> [Option<f64>; WEEK_HOURS] {
    let mut sum = [0.0; WEEK_HOURS];
    let mut seen = [0u32; WEEK_HOURS];
    for h in history {
        sum[slot(h.hour)] += h.cost;
        seen[slot(h.hour)] += 1;
    }
    std::array::from_fn(|i| (seen[i] > 0).then(|| sum[i] / f64::from(seen[i])))
}

/// Projects today's (UTC) total. `history` holds whole past hours (older than the current hour);
/// `today_so_far` is what today has cost up to `now`, the current hour's part included;
/// `current_hourly` is the current rate.
pub fn project(
    history: &[HourSpend],
    today_so_far: f64,
    current_hourly: f64,
    now: DateTime<Utc>,
) -> Projection {
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let left_of_hour = 1.0 - f64::from(now.minute() * 60 + now.second()) / 3600.0;
    let remaining_hours: Vec<DateTime<Utc>> =
        (1..24 - i64::from(hour.hour())).map(|k| hour + Duration::hours(k)).collect();
    let naive = today_so_far + current_hourly * (left_of_hour + remaining_hours.len() as f64);
    let past: Vec<HourSpend> = history.iter().copied().filter(|h| h.hour < hour).collect();
    // The profile leaves out the hours the scale compares with it, so they are measured against
    // what usually happens, not partly against themselves.
    let recent = hour - Duration::hours(SCALE_HOURS);
    let usual: Vec<HourSpend> = past.iter().copied().filter(|h| h.hour < recent).collect();
    let profile = profile(&usual);
    let expected: Option<Vec<f64>> =
        std::iter::once(hour).chain(remaining_hours.iter().copied()).map(|h| profile[slot(h)]).collect();
    let Some(expected) = expected else {
        return Projection { daily: naive, method: Method::CurrentRate, scale: 1.0 };
    };
    // How recent hours ran against their profile slot, newest weighted most.
    let mut scale: Option<f64> = None;
    for k in (1..=SCALE_HOURS).rev() {
        let at = hour - Duration::hours(k);
        let (Some(actual), Some(usual)) =
            (past.iter().find(|h| h.hour == at).map(|h| h.cost), profile[slot(at)])
        else {
            continue;
        };
        if usual > 0.0 {
            let ratio = actual / usual;
            scale = Some(scale.map_or(ratio, |s| SCALE_ALPHA * ratio + (1.0 - SCALE_ALPHA) * s));
        }
    }
    let scale = scale.unwrap_or(1.0).clamp(SCALE_BOUNDS.0, SCALE_BOUNDS.1);
    let rest: f64 = expected[0] * left_of_hour + expected[1..].iter().sum::<f64>();
    Projection { daily: today_so_far + rest * scale, method: Method::Profile, scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A business-day cycle: $40/h at night, $160/h at the 15:00 peak, weekends at 30 %.
    fn synthetic(at: DateTime<Utc>) -> f64 {
        let h = f64::from(at.hour());
        let daily = 40.0 + 120.0 * (-(h - 15.0).powi(2) / 18.0).exp();
        if at.weekday().num_days_from_monday() >= 5 { daily * 0.3 } else { daily }
    }

    #[test]
    fn the_profile_beats_hourly_times_24_on_a_week_with_a_daily_cycle() {
        // Two weeks of history with a little noise, then the third week projected hour by hour.
        let start = DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z").unwrap().with_timezone(&Utc);
        let noise = |i: i64| 1.0 + 0.05 * ((i * 7919 % 13) as f64 / 6.0 - 1.0);
        let hours: Vec<HourSpend> = (0..21 * 24)
            .map(|i| {
                let hour = start + Duration::hours(i);
                HourSpend { hour, cost: synthetic(hour) * noise(i) }
            })
            .collect();
        let (mut profile_error, mut naive_error, mut n) = (0.0, 0.0, 0.0);
        for day in 14..21 {
            let actual: f64 = hours[day * 24..(day + 1) * 24].iter().map(|h| h.cost).sum();
            for h in 0..24 {
                let i = day * 24 + h;
                let now = hours[i].hour + Duration::minutes(30);
                let so_far: f64 =
                    hours[day * 24..i].iter().map(|h| h.cost).sum::<f64>() + hours[i].cost / 2.0;
                let p = project(&hours[..i], so_far, hours[i].cost, now);
                assert_eq!(p.method, Method::Profile);
                profile_error += (p.daily - actual).abs() / actual;
                naive_error += (hours[i].cost * 24.0 - actual).abs() / actual;
                n += 1.0;
            }
        }
        let (profile_mape, naive_mape) = (100.0 * profile_error / n, 100.0 * naive_error / n);
        println!(
            "day projection MAPE over a week: profile {profile_mape:.1} %, hourly x 24 {naive_mape:.1} %"
        );
        assert!(profile_mape < 5.0, "{profile_mape}");
        assert!(profile_mape * 5.0 < naive_mape, "{profile_mape} vs {naive_mape}");
    }

    #[test]
    fn short_history_falls_back_to_the_current_rate() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:30:00Z").unwrap().with_timezone(&Utc);
        let p = project(&[], 300.0, 50.0, now);
        assert_eq!(p.method, Method::CurrentRate);
        assert!((p.daily - (300.0 + 50.0 * 13.5)).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn a_busier_day_than_usual_scales_the_rest_up() {
        let start = DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z").unwrap().with_timezone(&Utc);
        let mut hours: Vec<HourSpend> =
            (0..14 * 24).map(|i| HourSpend { hour: start + Duration::hours(i), cost: 10.0 }).collect();
        let today = start + Duration::days(14);
        hours.extend((0..12).map(|i| HourSpend { hour: today + Duration::hours(i), cost: 20.0 }));
        let p = project(&hours, 240.0, 20.0, today + Duration::hours(12));
        assert!((p.scale - 2.0).abs() < 1e-9, "twice the usual: {p:?}");
        assert!((p.daily - (240.0 + 12.0 * 20.0)).abs() < 1e-9, "{p:?}");
    }
}
