//! The warming plan (pure): which function in which region gets how many warm containers at a
//! given instant. Business hours are each region's own, in its IANA time zone, so daylight-saving
//! changes move them with the local clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::cost::Architecture;
use crate::domain::Region;
use crate::error::ValidationError;

/// A target warmed less than this long ago is not warmed again.
pub const MIN_REWARM_S: i64 = 300;
/// Below this factor nothing is warmed.
pub const MIN_FACTOR: f64 = 0.5;

/// The time zone of a region's users, for the regions the suite knows.
pub fn default_timezone(region: &str) -> Option<Tz> {
    Some(match region {
        "us-east-1" | "us-east-2" | "ca-central-1" => chrono_tz::America::New_York,
        "us-west-1" | "us-west-2" => chrono_tz::America::Los_Angeles,
        "eu-west-1" | "eu-west-2" => chrono_tz::Europe::London,
        "eu-west-3" => chrono_tz::Europe::Paris,
        "eu-central-1" => chrono_tz::Europe::Berlin,
        "eu-north-1" => chrono_tz::Europe::Stockholm,
        "ap-southeast-1" => chrono_tz::Asia::Singapore,
        "ap-southeast-2" => chrono_tz::Australia::Sydney,
        "ap-northeast-1" => chrono_tz::Asia::Tokyo,
        "ap-south-1" => chrono_tz::Asia::Kolkata,
        "sa-east-1" => chrono_tz::America::Sao_Paulo,
        _ => return None,
    })
}

/// One region's business hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    #[serde(with = "tz_name")]
    pub timezone: Tz,
    #[serde(default = "nine")]
    pub opens: NaiveTime,
    #[serde(default = "five")]
    pub closes: NaiveTime,
    /// Warming starts this long before opening.
    #[serde(default = "lead_minutes")]
    pub lead_minutes: u32,
    #[serde(default = "weekend")]
    pub weekend_factor: f64,
    #[serde(default = "holiday")]
    pub holiday_factor: f64,
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
}

fn nine() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default()
}
fn five() -> NaiveTime {
    NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default()
}
fn lead_minutes() -> u32 {
    60
}
fn weekend() -> f64 {
    0.3
}
fn holiday() -> f64 {
    0.1
}

mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's `with` passes a reference")]
    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(|_| serde::de::Error::custom(format!("{name:?} is not an IANA time zone")))
    }
}

impl Calendar {
    /// Seed business hours (09:00-17:00, warming from 08:00) in `timezone`.
    pub fn business_hours(timezone: Tz) -> Self {
        Self {
            timezone,
            opens: nine(),
            closes: five(),
            lead_minutes: lead_minutes(),
            weekend_factor: weekend(),
            holiday_factor: holiday(),
            holidays: BTreeSet::new(),
        }
    }

    pub fn validate(&self, region: &str) -> Result<(), ValidationError> {
        let field = format!("calendars.{region}");
        if self.opens >= self.closes {
            return Err(ValidationError::new(field, "opens must be before closes"));
        }
        for f in [self.weekend_factor, self.holiday_factor] {
            if !(0.0..=1.0).contains(&f) {
                return Err(ValidationError::new(field, "factors are between 0 and 1"));
            }
        }
        if self.lead_minutes > 12 * 60 {
            return Err(ValidationError::new(field, "lead_minutes is at most 720"));
        }
        Ok(())
    }

    /// The factor at `now` and the local time: 0 outside the warming window, else the day's
    /// factor (holidays, then weekends, else 1).
    pub fn factor(&self, now: DateTime<Utc>) -> (f64, DateTime<Tz>) {
        let local = now.with_timezone(&self.timezone);
        let time = local.time();
        let starts = self.opens - Duration::minutes(i64::from(self.lead_minutes));
        let in_window =
            if starts <= self.opens { time >= starts && time < self.closes } else { time < self.closes };
        let factor = if !in_window {
            0.0
        } else if self.holidays.contains(&local.date_naive()) {
            self.holiday_factor
        } else if matches!(local.weekday(), Weekday::Sat | Weekday::Sun) {
            self.weekend_factor
        } else {
            1.0
        };
        (factor, local)
    }
}

/// A function to keep warm in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmTarget {
    pub function: String,
    pub region: Region,
    /// Alias or version to invoke; `None` invokes the unqualified function (`$LATEST`).
    pub qualifier: Option<String>,
    /// Containers to keep warm when there is no history.
    pub concurrency: u32,
    pub memory_mb: u32,
    pub architecture: Architecture,
    /// Real traffic this recent keeps the containers warm by itself.
    pub idle_window_s: u32,
}

/// What the warmer knows of a target's past.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetHistory {
    pub last_warmed: Option<DateTime<Utc>>,
    pub last_real_invocation: Option<DateTime<Utc>>,
    /// Peak concurrency seen per local hour of the week (Monday 00:00 first), 168 entries.
    pub peak_by_hour_of_week: Option<Vec<u32>>,
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanEntry {
    pub function: String,
    pub region: String,
    /// The region's local time, RFC 3339 with its offset.
    pub local_time: String,
    pub factor: f64,
    /// Containers to warm now (0 with a `skip_reason`).
    pub concurrency: u32,
    pub skip_reason: Option<String>,
}

fn hour_of_week(local: &DateTime<Tz>) -> usize {
    local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize
}

/// The calendar `region` warms by: its own from `calendars`, else 09:00-17:00 in its usual zone
/// (UTC for a region without one).
pub fn calendar_for(calendars: &BTreeMap<String, Calendar>, region: &str) -> Calendar {
    calendars
        .get(region)
        .cloned()
        .unwrap_or_else(|| Calendar::business_hours(default_timezone(region).unwrap_or(chrono_tz::UTC)))
}

/// The plan at `now`. `calendars` maps region codes to their calendars.
pub fn plan(
    targets: &[WarmTarget],
    calendars: &BTreeMap<String, Calendar>,
    history: impl Fn(&WarmTarget) -> TargetHistory,
    now: DateTime<Utc>,
) -> Vec<PlanEntry> {
    targets
        .iter()
        .map(|t| {
            let calendar = calendar_for(calendars, t.region.as_str());
            let (factor, local) = calendar.factor(now);
            let h = history(t);
            let skip = |reason: String| (0, Some(reason));
            let (concurrency, skip_reason) = if factor == 0.0 {
                skip(format!("outside business hours ({} local)", local.format("%a %H:%M")))
            } else if factor < MIN_FACTOR {
                let why =
                    if calendar.holidays.contains(&local.date_naive()) { "a holiday" } else { "the weekend" };
                skip(format!("{why}: factor {factor} is below {MIN_FACTOR}"))
            } else if let Some(ago) =
                h.last_warmed.map(|at| (now - at).num_seconds()).filter(|s| *s < MIN_REWARM_S)
            {
                skip(format!("warmed {ago} s ago"))
            } else if let Some(ago) = h
                .last_real_invocation
                .map(|at| (now - at).num_seconds())
                .filter(|s| *s < i64::from(t.idle_window_s))
            {
                skip(format!("real traffic {ago} s ago keeps it warm"))
            } else {
                match h.peak_by_hour_of_week.as_ref().and_then(|p| p.get(hour_of_week(&local)).copied()) {
                    Some(0) => skip("no concurrency seen at this hour of the week".into()),
                    Some(peak) => (peak, None),
                    None => (t.concurrency, None),
                }
            };
            PlanEntry {
                function: t.function.clone(),
                region: t.region.to_string(),
                local_time: local.to_rfc3339(),
                factor,
                concurrency,
                skip_reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn target(region: &str) -> WarmTarget {
        WarmTarget {
            function: "detection-agent".into(),
            region: Region::parse(region).unwrap(),
            qualifier: Some("live".into()),
            concurrency: 2,
            memory_mb: 1024,
            architecture: Architecture::Arm64,
            idle_window_s: 300,
        }
    }

    fn at(region: &str, instant: &str) -> PlanEntry {
        plan(&[target(region)], &BTreeMap::new(), |_| TargetHistory::default(), utc(instant)).remove(0)
    }

    #[test]
    fn daylight_saving_moves_the_window_with_the_local_clock() {
        // (region, UTC instant, warm?) on either side of each transition; the window is 08:00-17:00.
        let cases = [
            // US: DST starts Sunday 8 March 2026; Friday 6th and Monday 9th.
            ("us-east-1", "2026-03-06T12:59:00Z", false), // 07:59 EST
            ("us-east-1", "2026-03-06T13:00:00Z", true),  // 08:00 EST
            ("us-east-1", "2026-03-09T11:59:00Z", false), // 07:59 EDT
            ("us-east-1", "2026-03-09T12:00:00Z", true),  // 08:00 EDT
            ("us-east-1", "2026-03-09T20:59:00Z", true),  // 16:59 EDT
            ("us-east-1", "2026-03-09T21:00:00Z", false), // 17:00 EDT
            // US: DST ends Sunday 1 November 2026.
            ("us-west-2", "2026-10-30T15:00:00Z", true), // 08:00 PDT
            ("us-west-2", "2026-11-02T15:00:00Z", false), // 07:00 PST
            ("us-west-2", "2026-11-02T16:00:00Z", true), // 08:00 PST
            // EU: summer time from Sunday 29 March, until Sunday 25 October 2026.
            ("eu-west-1", "2026-03-27T07:59:00Z", false), // 07:59 GMT
            ("eu-west-1", "2026-03-30T07:00:00Z", true),  // 08:00 BST
            ("eu-west-1", "2026-03-30T16:00:00Z", false), // 17:00 BST
            ("eu-west-1", "2026-10-23T07:00:00Z", true),  // 08:00 BST
            ("eu-west-1", "2026-10-26T07:00:00Z", false), // 07:00 GMT
            ("eu-west-1", "2026-10-26T08:00:00Z", true),  // 08:00 GMT
            // Singapore: UTC+8 all year, no change on either date.
            ("ap-southeast-1", "2026-03-09T00:00:00Z", true), // 08:00 SGT
            ("ap-southeast-1", "2026-11-02T08:59:00Z", true), // 16:59 SGT
            ("ap-southeast-1", "2026-11-02T09:00:00Z", false), // 17:00 SGT
        ];
        for (region, instant, warm) in cases {
            let e = at(region, instant);
            assert_eq!(e.concurrency > 0, warm, "{region} at {instant} ({}): {e:?}", e.local_time);
        }
        assert_eq!(at("us-east-1", "2026-03-09T12:00:00Z").local_time, "2026-03-09T08:00:00-04:00");
        assert_eq!(at("eu-west-1", "2026-10-26T08:00:00Z").local_time, "2026-10-26T08:00:00+00:00");
    }

    #[test]
    fn weekends_and_holidays_are_not_warmed() {
        let saturday = at("us-east-1", "2026-11-28T15:00:00Z");
        assert_eq!((saturday.factor, saturday.concurrency), (0.3, 0));
        assert!(saturday.skip_reason.unwrap().starts_with("the weekend"));
        let mut calendars = BTreeMap::new();
        let mut london = Calendar::business_hours(chrono_tz::Europe::London);
        london.holidays.insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
        calendars.insert("eu-west-1".to_owned(), london);
        let christmas = plan(
            &[target("eu-west-1")],
            &calendars,
            |_| TargetHistory::default(),
            utc("2026-12-25T10:00:00Z"),
        );
        assert_eq!((christmas[0].factor, christmas[0].concurrency), (0.1, 0));
        assert!(christmas[0].skip_reason.as_deref().unwrap().starts_with("a holiday"));
        let boxing_day = plan(
            &[target("eu-west-1")],
            &calendars,
            |_| TargetHistory::default(),
            utc("2026-12-28T10:00:00Z"),
        );
        assert_eq!(boxing_day[0].concurrency, 2, "a working Monday");
    }

    #[test]
    fn recent_warming_or_traffic_skips_and_history_sets_the_count() {
        let now = utc("2026-11-26T15:00:00Z"); // Thursday 10:00 in New York
        let run = |h: TargetHistory| {
            plan(&[target("us-east-1")], &BTreeMap::new(), move |_| h.clone(), now).remove(0)
        };
        let warmed =
            run(TargetHistory { last_warmed: Some(now - Duration::seconds(299)), ..Default::default() });
        assert_eq!((warmed.concurrency, warmed.skip_reason.as_deref()), (0, Some("warmed 299 s ago")));
        let later =
            run(TargetHistory { last_warmed: Some(now - Duration::seconds(300)), ..Default::default() });
        assert_eq!(later.concurrency, 2, "300 s is long enough");
        let busy = run(TargetHistory {
            last_real_invocation: Some(now - Duration::seconds(60)),
            ..Default::default()
        });
        assert!(busy.skip_reason.unwrap().starts_with("real traffic"));
        let mut peaks = vec![0; 168];
        peaks[3 * 24 + 10] = 7; // Thursday 10:00 local
        let profiled = run(TargetHistory { peak_by_hour_of_week: Some(peaks.clone()), ..Default::default() });
        assert_eq!(profiled.concurrency, 7, "the observed peak for this local hour");
        peaks[3 * 24 + 10] = 0;
        let quiet = run(TargetHistory { peak_by_hour_of_week: Some(peaks), ..Default::default() });
        assert_eq!(quiet.concurrency, 0);
    }
}
