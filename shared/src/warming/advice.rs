//! Pings or provisioned concurrency (pure): what keeping a target warm costs a month each way,
//! and which is cheaper. Provisioned concurrency only pays for itself when real traffic keeps the
//! provisioned units busy above the break-even (about 60 %); pings cost requests and a few
//! milliseconds each but do not guarantee warm containers.

use chrono::Duration;

use super::config::WarmConfig;
use super::plan::calendar_for;
use crate::cost::PriceTable;
use crate::cost::billing::{LambdaUsage, MonthToDate, lambda_cost, provisioned_cost};
use crate::cost::recommend::{Kind, Recommendation};

/// Weekdays in an average month.
const WEEKDAYS_PER_MONTH: f64 = 21.7;
/// Extra milliseconds a ping is billed beyond its hold.
const PING_OVERHEAD_MS: u64 = 2;

/// Warming runs per hour at the warmer's 5-minute schedule.
pub const RUNS_PER_HOUR: f64 = 12.0;

/// What the warmer keeps warm, as the cost sweep's advisor.
#[derive(Debug, Clone)]
pub struct WarmingAdvice(pub WarmConfig);

impl crate::cost::recommend::Advisor for WarmingAdvice {
    fn advise(&self, prices: &PriceTable) -> Vec<Recommendation> {
        advise(&self.0, prices)
    }
}

/// One recommendation per configured function (its regions together).
pub fn advise(config: &WarmConfig, prices: &PriceTable) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for t in &config.targets {
        let mut ping_monthly = 0.0;
        let mut provisioned_monthly = 0.0;
        for region in &t.regions {
            let calendar = calendar_for(&config.calendars, region.as_str());
            let window =
                (calendar.closes - calendar.opens) + Duration::minutes(i64::from(calendar.lead_minutes));
            let hours = window.num_minutes() as f64 / 60.0 * WEEKDAYS_PER_MONTH;
            let pings = (hours * RUNS_PER_HOUR * f64::from(t.concurrency)).round() as u64;
            let usage = LambdaUsage {
                architecture: t.architecture,
                memory_mb: t.memory_mb,
                invocations: pings,
                billed_ms: pings * (config.hold_ms + PING_OVERHEAD_MS),
                ephemeral_storage_mb: 512,
            };
            ping_monthly += lambda_cost(prices, &usage, MonthToDate::default()).total();
            provisioned_monthly +=
                provisioned_cost(prices, t.architecture, t.memory_mb, t.concurrency, hours * 3600.0, 0);
        }
        let pings_win = ping_monthly <= provisioned_monthly;
        // The warmer pings today: keeping that saves nothing; switching saves the difference.
        let (title, saving) = if pings_win {
            (format!("keep warming {} with pings rather than provisioned concurrency", t.function), 0.0)
        } else {
            (
                format!("give {} a provisioned-concurrency schedule instead of pings", t.function),
                ping_monthly - provisioned_monthly,
            )
        };
        out.push(Recommendation {
            kind: Kind::Warming,
            target: t.function.clone(),
            title,
            evidence: format!(
                "{} container(s) in {} region(s) over business hours: pings ${ping_monthly:.2}/month, a provisioned-concurrency schedule for the same hours ${provisioned_monthly:.2}/month; provisioned concurrency pays for itself only when real traffic keeps the units about 60 % busy",
                t.concurrency,
                t.regions.len()
            ),
            estimated_monthly_savings: saving,
            auto_applicable: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_cost_far_less_than_a_provisioned_schedule_for_the_same_hours() {
        let config = WarmConfig::default();
        let advice = advise(&config, &PriceTable::bundled());
        assert_eq!(advice.len(), 5, "one per agent function");
        let a = &advice[0];
        assert!(a.title.starts_with("keep warming detection-agent with pings"), "{a:?}");
        // 9 warm hours x 21.7 weekdays = 703,080 s a region, billed in 5-minute steps: 703,200 s
        // of 1 GB arm64 in each of 4 regions.
        let provisioned = 4.0 * 703_200.0 * 0.000_003_333_4;
        let pings = 4.0 * (9.0f64 * 21.7 * 12.0).round() * (0.000_000_2 + 0.077 * 0.000_013_333_4);
        assert!(a.evidence.contains(&format!("pings ${pings:.2}/month")), "{a:?}");
        assert!(a.evidence.contains(&format!("same hours ${provisioned:.2}/month")), "{a:?}");
        assert!(a.estimated_monthly_savings.abs() < 1e-12, "pings are what runs now: nothing to save");
        assert!(a.evidence.contains("60 %"));
    }
}
