//! What AWS and the model providers charge, computed the way they bill: Lambda duration rounded up
//! to the millisecond per invocation and priced by the month's tier, provisioned concurrency in
//! whole billing increments, request units and tokens at list price. Pure functions of the price
//! table.

use serde::{Deserialize, Serialize};

use super::prices::{Architecture, ModelPrice, PriceTable};

/// Megabytes in the gigabyte Lambda bills by.
const MB_PER_GB: f64 = 1024.0;
/// Ephemeral storage up to this size is included.
const FREE_STORAGE_MB: u32 = 512;

/// Adds amounts of money. Starts from +0, so an empty sum reports 0 rather than the -0 that
/// `Iterator::sum` gives for `f64`.
pub fn total(amounts: impl IntoIterator<Item = f64>) -> f64 {
    amounts.into_iter().fold(0.0, |a, b| a + b)
}

/// Milliseconds billed for one invocation that ran `duration_ms` (rounded up; never below 1).
pub fn billed_ms(duration_ms: f64) -> u64 {
    if duration_ms.is_finite() && duration_ms > 1.0 { duration_ms.ceil() as u64 } else { 1 }
}

/// Billed milliseconds for many invocations when only their total duration is known (CloudWatch's
/// Duration sum): each invocation's rounding adds half a millisecond on average.
pub fn estimated_billed_ms(total_duration_ms: f64, invocations: u64) -> u64 {
    let rounding = invocations as f64 * 0.5;
    (total_duration_ms.max(0.0) + rounding).ceil().max(invocations as f64) as u64
}

pub fn gb_seconds(memory_mb: u32, billed_ms: u64) -> f64 {
    f64::from(memory_mb) / MB_PER_GB * billed_ms as f64 / 1000.0
}

/// Lambda usage of one function over some period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LambdaUsage {
    pub architecture: Architecture,
    pub memory_mb: u32,
    pub invocations: u64,
    /// Sum over invocations of each one's billed (rounded-up) milliseconds.
    pub billed_ms: u64,
    /// Configured ephemeral storage (512 MB is included).
    pub ephemeral_storage_mb: u32,
}

/// Usage already billed this month, which decides the tier and what is left of the free tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MonthToDate {
    pub requests: f64,
    pub gb_s: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LambdaCost {
    pub requests: f64,
    pub duration: f64,
    pub storage: f64,
}

impl LambdaCost {
    pub fn total(&self) -> f64 {
        self.requests + self.duration + self.storage
    }
}

/// Duration charge for `gb_s` GB-seconds following `month_gb_s` already used this month.
pub fn duration_cost(prices: &PriceTable, arch: Architecture, gb_s: f64, month_gb_s: f64) -> f64 {
    let mut cost = 0.0;
    let mut from = month_gb_s.max(0.0);
    let mut left = gb_s.max(0.0);
    for tier in &prices.architecture(arch).duration_tiers {
        if left <= 0.0 {
            break;
        }
        let room = tier.up_to_gb_s.map_or(f64::INFINITY, |limit| (limit - from).max(0.0));
        let here = left.min(room);
        cost += here * tier.per_gb_s;
        left -= here;
        from += here;
    }
    cost
}

/// What `usage` costs on demand, after `month` of earlier usage (tiers, and the free tier when the
/// table enables it).
pub fn lambda_cost(prices: &PriceTable, usage: &LambdaUsage, month: MonthToDate) -> LambdaCost {
    let l = &prices.lambda;
    let mut requests = usage.invocations as f64;
    let mut gb_s = gb_seconds(usage.memory_mb, usage.billed_ms);
    if l.free_tier.enabled {
        requests -= (l.free_tier.requests - month.requests).clamp(0.0, requests);
        gb_s -= (l.free_tier.gb_s - month.gb_s).clamp(0.0, gb_s);
    }
    let extra_storage_gb = f64::from(usage.ephemeral_storage_mb.saturating_sub(FREE_STORAGE_MB)) / MB_PER_GB;
    LambdaCost {
        requests: requests * l.request_per_million / 1e6,
        duration: duration_cost(prices, usage.architecture, gb_s, month.gb_s),
        storage: extra_storage_gb * usage.billed_ms as f64 / 1000.0 * l.ephemeral_storage_per_gb_s,
    }
}

/// Provisioned concurrency kept enabled for `enabled_s` seconds, billed in whole increments
/// (5 minutes by default), plus the duration its invocations ran at the provisioned rate.
pub fn provisioned_cost(
    prices: &PriceTable,
    arch: Architecture,
    memory_mb: u32,
    units: u32,
    enabled_s: f64,
    billed_ms_on_provisioned: u64,
) -> f64 {
    let increment = f64::from(prices.lambda.provisioned_increment_s);
    let billed_s = (enabled_s.max(0.0) / increment).ceil() * increment;
    let a = prices.architecture(arch);
    let gb = f64::from(memory_mb) / MB_PER_GB;
    f64::from(units) * gb * billed_s * a.provisioned_per_gb_s
        + gb_seconds(memory_mb, billed_ms_on_provisioned) * a.provisioned_duration_per_gb_s
}

/// Provisioned concurrency by its unit-seconds (units times seconds allocated, however the
/// allocation changed), at the provisioned rate; no increments, as they are spread over changes.
pub fn provisioned_unit_seconds_cost(
    prices: &PriceTable,
    arch: Architecture,
    memory_mb: u32,
    unit_seconds: f64,
) -> f64 {
    let gb = f64::from(memory_mb) / MB_PER_GB;
    unit_seconds.max(0.0) * gb * prices.architecture(arch).provisioned_per_gb_s
}

/// On-demand DynamoDB request units.
pub fn dynamodb_cost(prices: &PriceTable, read_units: f64, write_units: f64) -> f64 {
    (read_units.max(0.0) * prices.dynamodb.read_request_unit_per_million
        + write_units.max(0.0) * prices.dynamodb.write_request_unit_per_million)
        / 1e6
}

/// CloudWatch: custom metrics held for a fraction of a month, and API requests.
pub fn cloudwatch_cost(
    prices: &PriceTable,
    metric_months: f64,
    put_requests: f64,
    get_metrics_requested: f64,
) -> f64 {
    let c = &prices.cloudwatch;
    metric_months.max(0.0) * c.custom_metric_month
        + put_requests.max(0.0) / 1000.0 * c.put_metric_data_per_thousand_requests
        + get_metrics_requested.max(0.0) / 1000.0 * c.get_metric_data_per_thousand_metrics
}

/// Tokens priced separately for input and output.
pub fn tokens_cost(model: &ModelPrice, input_tokens: f64, output_tokens: f64) -> f64 {
    input_tokens.max(0.0) / 1000.0 * model.input_per_1k
        + output_tokens.max(0.0) / 1000.0 * model.output_per_1k
}

#[cfg(test)]
#[allow(clippy::unreadable_literal, reason = "prices written as AWS publishes them")]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        PriceTable::bundled()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn durations_round_up_to_the_millisecond() {
        for (ran, billed) in [(0.2, 1), (1.0, 1), (1.0001, 2), (99.9, 100), (100.0, 100), (f64::NAN, 1)] {
            assert_eq!(billed_ms(ran), billed, "{ran} ms");
        }
        let t = table();
        let one = |ms| {
            let usage = LambdaUsage {
                architecture: Architecture::Arm64,
                memory_mb: 1024,
                invocations: 1,
                billed_ms: billed_ms(ms),
                ephemeral_storage_mb: 512,
            };
            lambda_cost(&t, &usage, MonthToDate::default()).total()
        };
        assert!(close(one(10.1), 0.0000002 + 0.011 * 0.0000133334), "11 ms billed, plus the request");
        assert!(close(one(10.1), one(11.0)));
        assert!(one(11.01) > one(11.0));
    }

    #[test]
    fn a_tier_crossing_prices_each_side_at_its_rate() {
        let t = table();
        // 1,000 GB-s straddling the 6 billion GB-s mark: 400 at tier 1, 600 at tier 2.
        let cost = duration_cost(&t, Architecture::X86_64, 1000.0, 6e9 - 400.0);
        assert!(close(cost, 400.0 * 0.0000166667 + 600.0 * 0.000015), "{cost}");
        let top = duration_cost(&t, Architecture::X86_64, 10.0, 20e9);
        assert!(close(top, 10.0 * 0.0000133334));
    }

    #[test]
    fn provisioned_concurrency_bills_whole_five_minutes() {
        let t = table();
        let five = provisioned_cost(&t, Architecture::X86_64, 1024, 1, 300.0, 0);
        assert!(close(five, 300.0 * 0.0000041667));
        assert!(
            close(provisioned_cost(&t, Architecture::X86_64, 1024, 1, 301.0, 0), 2.0 * five),
            "301 s is two"
        );
        assert!(close(provisioned_cost(&t, Architecture::X86_64, 1024, 1, 1.0, 0), five), "1 s is one");
        let with_duration = provisioned_cost(&t, Architecture::X86_64, 2048, 3, 600.0, 10_000);
        assert!(close(with_duration, 3.0 * 2.0 * 600.0 * 0.0000041667 + 20.0 * 0.0000097222));
    }

    #[test]
    fn requests_cost_twenty_cents_a_million_and_the_free_tier_is_an_option() {
        let mut t = table();
        let usage = LambdaUsage {
            architecture: Architecture::X86_64,
            memory_mb: 128,
            invocations: 3_000_000,
            billed_ms: 3_000_000,
            ephemeral_storage_mb: 512,
        };
        let paid = lambda_cost(&t, &usage, MonthToDate::default());
        assert!(close(paid.requests, 0.60));
        t.lambda.free_tier.enabled = true;
        let free = lambda_cost(&t, &usage, MonthToDate { requests: 500_000.0, gb_s: 0.0 });
        assert!(close(free.requests, 2_500_000.0 * 0.2 / 1e6), "half the free million was used already");
        assert!(close(free.duration, 0.0), "375 GB-s fit in the free 400,000");
    }

    #[test]
    fn a_hand_computed_day_to_the_cent() {
        let t = table();
        let api = LambdaUsage {
            architecture: Architecture::Arm64,
            memory_mb: 512,
            invocations: 100_000,
            billed_ms: 12_000_000,
            ephemeral_storage_mb: 512,
        };
        let agent = LambdaUsage {
            architecture: Architecture::X86_64,
            memory_mb: 1024,
            invocations: 20_000,
            billed_ms: 40_000_000,
            ephemeral_storage_mb: 1024,
        };
        let month = MonthToDate::default();
        let sonnet = t.model("anthropic.claude-sonnet-4").unwrap();
        let lite = t.model("amazon.nova-lite").unwrap();
        let parts = [
            lambda_cost(&t, &api, month).total(),   // 0.02 + 6,000 GB-s x 0.0000133334
            lambda_cost(&t, &agent, month).total(), // 0.004 + 40,000 GB-s x 0.0000166667 + 20,000 GB-s x 0.0000000309
            provisioned_cost(&t, Architecture::X86_64, 1024, 2, 10.0 * 3600.0 + 120.0, 0), // 36,300 s billed
            dynamodb_cost(&t, 4_000_000.0, 1_000_000.0), // 0.50 + 0.625
            tokens_cost(sonnet, 2_000_000.0, 400_000.0), // 6 + 6
            tokens_cost(lite, 10_000_000.0, 1_000_000.0), // 0.60 + 0.24
            cloudwatch_cost(&t, 20.0 / 30.0, 0.0, 2_000.0), // 0.20 + 0.02
        ];
        let expected = [0.02 + 0.0800004, 0.004 + 0.666668 + 0.000618, 0.30250242, 1.125, 12.0, 0.84, 0.22];
        for (i, (got, want)) in parts.iter().zip(expected).enumerate() {
            assert!(close(*got, want), "part {i}: {got} vs {want}");
        }
        let total: f64 = parts.iter().sum();
        assert_eq!(format!("{total:.2}"), "15.26", "{total}");
    }
}
