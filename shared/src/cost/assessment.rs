//! The cost sweep's pure step, between what it read and what it writes (as scaling's plan sits
//! between the scaler's reads and its conditional write): the spend rate, the day's projection,
//! the recommendations, and what the controls become from whatever they were.

use chrono::{DateTime, Duration, Utc};

use super::control::{self, ControlChange, CostControl, Finding};
use super::prices::PriceTable;
use super::projection::{HourSpend, Projection, project};
use super::recommend::{Recommendation, recommend};
use super::report::{HourCost, HourInputs, SourceStatus};
use super::sweep::SweepSettings;
use super::usage::hour_of;

/// The shortest window the hourly rate is taken over: below this much of the current hour the
/// window reaches back into the previous one (at its average rate), so a few seconds of usage
/// after a quiet hour are not multiplied into an emergency.
const MIN_WINDOW_S: f64 = 900.0;
/// The controls count as current for this many sweep periods.
const FRESH_PERIODS: i32 = 3;

/// What a sweep read: both hours priced, what they were priced from, how the sources did, and
/// the stored totals of the hours before.
#[derive(Debug, Clone)]
pub struct Reading {
    pub current: HourCost,
    pub previous: HourCost,
    pub current_inputs: HourInputs,
    pub previous_inputs: HourInputs,
    pub status: SourceStatus,
    /// Seconds of the current hour covered.
    pub elapsed: f64,
    /// Stored hour totals before the current hour (the previous hour's is replaced by this
    /// sweep's pricing of it).
    pub history: Vec<HourSpend>,
}

/// What a sweep concluded before writing anything.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// USD per hour now.
    pub hourly: f64,
    pub projection: Projection,
    /// Every configured cost source answered.
    pub sources_complete: bool,
    pub recommendations: Vec<Recommendation>,
}

/// Assesses `reading` at `now` under `prices`; `advice` joins the sweep's own recommendations
/// (the warming advisor's, for one).
pub fn assess(
    reading: &Reading,
    prices: &PriceTable,
    settings: &SweepSettings,
    advice: Vec<Recommendation>,
    now: DateTime<Utc>,
) -> Assessment {
    let current_start = hour_of(now);
    let previous_start = current_start - Duration::hours(1);
    let hourly = hourly_rate(reading.current.total, reading.previous.total, reading.elapsed);
    let mut history = reading.history.clone();
    history.retain(|h| h.hour != previous_start);
    history.push(HourSpend { hour: previous_start, cost: reading.previous.total });
    let today = now.date_naive().and_hms_opt(0, 0, 0).map_or(current_start, |d| d.and_utc());
    let today_so_far =
        history.iter().filter(|h| h.hour >= today).map(|h| h.cost).sum::<f64>() + reading.current.total;
    let projection = project(&history, today_so_far, hourly, now);
    let hours = [&reading.current_inputs, &reading.previous_inputs];
    let mut recommendations = recommend(prices, &settings.functions, &hours, hourly);
    recommendations.extend(advice);
    Assessment { hourly, projection, sources_complete: reading.status.failed.is_empty(), recommendations }
}

impl Assessment {
    /// What the controls become from `previous` at `now`: run inside the conditional write,
    /// so a sweep that lost the race decides again from what the winner wrote.
    pub fn decide(
        &self,
        previous: &CostControl,
        settings: &SweepSettings,
        now: DateTime<Utc>,
    ) -> (CostControl, Vec<ControlChange>) {
        let finding = Finding {
            level: settings.thresholds.classify(previous.level, self.hourly),
            hourly: self.hourly,
            daily_projection: self.projection.daily,
            sources_complete: self.sources_complete,
        };
        let fresh_until = now + settings.period * FRESH_PERIODS;
        control::next(previous, finding, now, settings.clear_emergency_after, fresh_until)
    }
}

/// Spend per hour over the last `max(elapsed, 15 minutes)`: the current hour so far, and as much
/// of the previous hour (at its average rate) as the window reaches back into.
pub fn hourly_rate(current_total: f64, previous_total: f64, elapsed_s: f64) -> f64 {
    let elapsed = elapsed_s.clamp(1.0, 3600.0);
    let window = elapsed.max(MIN_WINDOW_S);
    (current_total + previous_total * (window - elapsed) / 3600.0) * 3600.0 / window
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::levels::Level;

    fn hour(start: DateTime<Utc>, seconds: f64, total: f64) -> HourCost {
        HourCost {
            start,
            seconds,
            total,
            by_service: std::collections::BTreeMap::default(),
            by_model: std::collections::BTreeMap::default(),
            unpriced_models: Vec::new(),
        }
    }

    /// 14:45 UTC: three quarters of the current hour seen.
    fn reading(
        current: f64,
        previous: f64,
        failed: bool,
        history: Vec<HourSpend>,
    ) -> (Reading, DateTime<Utc>) {
        let now = DateTime::parse_from_rfc3339("2026-12-02T14:45:00Z").unwrap().with_timezone(&Utc);
        let start = hour_of(now);
        let status = SourceStatus {
            failed: if failed { vec!["lambda: throttled".into()] } else { Vec::new() },
            ..Default::default()
        };
        let reading = Reading {
            current: hour(start, 2700.0, current),
            previous: hour(start - Duration::hours(1), 3600.0, previous),
            current_inputs: HourInputs::default(),
            previous_inputs: HourInputs::default(),
            status,
            elapsed: 2700.0,
            history,
        };
        (reading, now)
    }

    #[test]
    fn the_rate_decides_the_level_and_a_failed_source_never_lowers_it() {
        let settings = SweepSettings::default();
        let prices = PriceTable::bundled();
        let critical = CostControl { level: Level::Critical, ..CostControl::default() };
        // (spent this hour so far, a source failed, level before) -> level after
        let table = [
            (22.5, false, Level::Low, Level::Low),          // $30/h
            (45.0, false, Level::Low, Level::Medium),       // $60/h
            (120.0, false, Level::Low, Level::High),        // $160/h
            (180.0, false, Level::Low, Level::Critical),    // $240/h
            (900.0, false, Level::Low, Level::Emergency),   // $1200/h
            (22.5, false, Level::Critical, Level::Low),     // spend fell: the level follows
            (22.5, true, Level::Critical, Level::Critical), // ... unless a source failed
        ];
        for (spent, failed, before, after) in table {
            let (reading, now) = reading(spent, 0.0, failed, Vec::new());
            let assessment = assess(&reading, &prices, &settings, Vec::new(), now);
            assert!((assessment.hourly - spent / 0.75).abs() < 1e-9, "{spent}: {}", assessment.hourly);
            assert_eq!(assessment.sources_complete, !failed);
            let previous = CostControl { level: before, ..critical.clone() };
            let (next, _) = assessment.decide(&previous, &settings, now);
            assert_eq!(next.level, after, "{spent} {failed} {before:?}");
        }
    }

    #[test]
    fn the_previous_hour_is_this_sweeps_pricing_not_its_stored_total() {
        let (settings, prices) = (SweepSettings::default(), PriceTable::bundled());
        let at = |h: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-12-02T{h:02}:00:00Z")).unwrap().with_timezone(&Utc)
        };
        let daily = |stale_13h: f64| {
            let history =
                vec![HourSpend { hour: at(10), cost: 20.0 }, HourSpend { hour: at(13), cost: stale_13h }];
            let (reading, now) = reading(30.0, 40.0, false, history);
            assess(&reading, &prices, &settings, Vec::new(), now).projection.daily
        };
        assert!((daily(1.0) - daily(1000.0)).abs() < 1e-9, "13:00 is priced again at 40 by this sweep");
        assert!(daily(1.0) >= 20.0 + 40.0 + 30.0, "today so far is in the projection: {}", daily(1.0));
    }
}
