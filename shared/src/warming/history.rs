//! What real traffic tells the plan: the peak concurrency seen per local hour of the week over the
//! last four weeks, and whether real (not warming) invocations arrived within the idle window.
//! Read from CloudWatch (`crate::aws::warm_history`); without it the plan goes by configuration.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

use crate::error::AdapterError;

use super::plan::WarmTarget;

/// Weeks of history the hour-of-week peaks are taken from.
pub const HISTORY_WEEKS: i64 = 4;

/// A timestamped datapoint.
pub type Point = (DateTime<Utc>, f64);

#[async_trait]
pub trait HistorySource: Send + Sync + std::fmt::Debug {
    /// Hourly maxima of the target's concurrent executions in `[from, to)`.
    async fn hourly_peaks(
        &self,
        target: &WarmTarget,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Point>, AdapterError>;

    /// Per-minute invocation counts of the target in `[from, to)`.
    async fn invocations(
        &self,
        target: &WarmTarget,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Point>, AdapterError>;
}

/// Peak concurrency per local hour of the week (Monday 00:00 first), or `None` without data.
pub fn peaks_by_hour_of_week(hourly_peaks: &[(DateTime<Utc>, f64)], tz: Tz) -> Option<Vec<u32>> {
    if hourly_peaks.is_empty() {
        return None;
    }
    let mut peaks = vec![0u32; 168];
    for (at, value) in hourly_peaks {
        let local = at.with_timezone(&tz);
        let slot = local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize;
        let v = value.max(0.0).ceil().min(f64::from(u32::MAX)) as u32;
        peaks[slot] = peaks[slot].max(v);
    }
    Some(peaks)
}

/// The latest minute with invocations beyond the warmer's own `pings` in the window, if any.
pub fn last_real_invocation(recent: &[(DateTime<Utc>, f64)], pings: u32) -> Option<DateTime<Utc>> {
    let total: f64 = recent.iter().map(|(_, v)| v.max(0.0)).fold(0.0, |a, b| a + b);
    if total <= f64::from(pings) {
        return None;
    }
    recent.iter().filter(|(_, v)| *v > 0.0).map(|(at, _)| *at).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn peaks_fall_into_local_hours_of_the_week() {
        let points = [
            (utc("2026-11-23T15:00:00Z"), 3.0), // Monday 10:00 in New York
            (utc("2026-11-16T15:00:00Z"), 5.0), // the Monday before, same hour
            (utc("2026-11-24T01:00:00Z"), 2.4), // Monday 20:00 local (Tuesday in UTC)
        ];
        let peaks = peaks_by_hour_of_week(&points, chrono_tz::America::New_York).unwrap();
        assert_eq!(peaks[10], 5, "the highest of the weeks");
        assert_eq!(peaks[20], 3, "rounded up: 2.4 concurrent is 3 containers");
        assert_eq!(peaks.iter().filter(|p| **p > 0).count(), 2);
        assert_eq!(peaks_by_hour_of_week(&[], chrono_tz::UTC), None);
    }

    #[test]
    fn only_invocations_beyond_the_pings_are_real_traffic() {
        let recent = [(utc("2026-11-26T10:01:00Z"), 3.0), (utc("2026-11-26T10:03:00Z"), 1.0)];
        assert_eq!(last_real_invocation(&recent, 4), None, "all four were our pings");
        assert_eq!(last_real_invocation(&recent, 3), Some(utc("2026-11-26T10:03:00Z")));
        assert_eq!(last_real_invocation(&[], 0), None);
    }
}
