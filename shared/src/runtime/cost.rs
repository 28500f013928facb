//! The cost side of a function, from its environment: the base price table, the sweep settings,
//! and (in Lambda) the AWS sources, the webhook and the emergency concurrency caps.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `COMMANDER_PRICES_FILE` | bundled table | an operator's price table (JSON) |
//! | `COMMANDER_PRICED_FUNCTIONS` | `[]` | functions whose Lambda cost is measured: `[{"name", "memory_mb", "architecture", "provisioned_qualifier"?, "critical"?}]` |
//! | `COMMANDER_COST_WEBHOOK_URL` | none | Slack-compatible webhook for level changes and emergency mode |
//! | `COMMANDER_EMERGENCY_CONCURRENCY_CAP` | off | reserved concurrency for non-critical priced functions in an emergency |
//! | `COMMANDER_EMERGENCY_CLEAR_AFTER_S` | 1800 | emergency mode ends after this long below critical |
//! | `COMMANDER_SWEEP_SCHEDULE` | `rate(15 minutes)` | the sweep's EventBridge schedule: the controls it writes count as current for three of its periods (a `cron(...)` schedule counts as hourly) |
//! | `COMMANDER_COST_SOURCES` | `aws` | `none`: measure nothing beyond the suite's own counters (no CloudWatch or Lambda API calls) |

use std::sync::Arc;

use chrono::Duration;

use crate::aws::webhook::Webhook;
use crate::config::{ConfigError, Env, bad, var};
use crate::cost::price_book::{PriceBook, PriceSource};
use crate::cost::prices::PriceTable;
use crate::cost::sources::PricedFunction;
use crate::cost::sweep::{SweepSettings, Sweeper};
use crate::performance::{Pools, Service};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct CostSetup {
    pub base: PriceTable,
    pub base_source: PriceSource,
    pub settings: SweepSettings,
    pub webhook: Option<String>,
    /// Measure through CloudWatch and the Lambda API when AWS is at hand.
    pub aws_sources: bool,
    /// What the warmer keeps warm, for the pings-or-provisioned-concurrency advice.
    pub warming: crate::warming::config::WarmConfig,
}

impl Default for CostSetup {
    fn default() -> Self {
        Self {
            base: PriceTable::bundled(),
            base_source: PriceSource::Bundled,
            settings: SweepSettings::default(),
            webhook: None,
            aws_sources: true,
            warming: crate::warming::config::WarmConfig::default(),
        }
    }
}

impl CostSetup {
    pub fn from_env(env: &impl Env, table_name: &str) -> Result<Self, ConfigError> {
        let (base, base_source) = match var(env, "COMMANDER_PRICES_FILE") {
            None => (PriceTable::bundled(), PriceSource::Bundled),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| bad("COMMANDER_PRICES_FILE", format!("cannot read {path}: {e}")))?;
                let table = PriceTable::from_json(&text)
                    .map_err(|e| bad("COMMANDER_PRICES_FILE", format!("{path}: {e}")))?;
                (table, PriceSource::File)
            }
        };
        let functions = match var(env, "COMMANDER_PRICED_FUNCTIONS") {
            None => Vec::new(),
            Some(json) => {
                PricedFunction::parse_list(&json).map_err(|e| bad("COMMANDER_PRICED_FUNCTIONS", e.message))?
            }
        };
        let emergency_concurrency_cap = match var(env, "COMMANDER_EMERGENCY_CONCURRENCY_CAP") {
            None => None,
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                bad("COMMANDER_EMERGENCY_CONCURRENCY_CAP", "must be a whole number of concurrent executions")
            })?),
        };
        let clear_after_s = match var(env, "COMMANDER_EMERGENCY_CLEAR_AFTER_S") {
            None => 1800,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|s| (60..=86_400).contains(s))
                .ok_or_else(|| bad("COMMANDER_EMERGENCY_CLEAR_AFTER_S", "must be 60 to 86400 seconds"))?,
        };
        let aws_sources = match var(env, "COMMANDER_COST_SOURCES").as_deref() {
            None | Some("aws") => true,
            Some("none") => false,
            Some(_) => return Err(bad("COMMANDER_COST_SOURCES", "must be aws or none")),
        };
        let period = match var(env, "COMMANDER_SWEEP_SCHEDULE") {
            None => Duration::minutes(15),
            Some(expression) => schedule_period(&expression).ok_or_else(|| {
                bad("COMMANDER_SWEEP_SCHEDULE", "must be rate(N minutes|hours|days) or cron(...)")
            })?,
        };
        let webhook = var(env, "COMMANDER_COST_WEBHOOK_URL");
        if let Some(url) = &webhook {
            Webhook::check(url).map_err(|e| bad("COMMANDER_COST_WEBHOOK_URL", e.message))?;
        }
        Ok(Self {
            base,
            base_source,
            settings: SweepSettings {
                functions,
                table_name: table_name.to_owned(),
                emergency_concurrency_cap,
                clear_emergency_after: Duration::seconds(i64::from(clear_after_s)),
                period,
                ..SweepSettings::default()
            },
            webhook,
            aws_sources,
            warming: super::warming::warm_config_from_env(env)?,
        })
    }

    pub fn price_book(&self, store: Arc<dyn Store>) -> PriceBook {
        PriceBook::new(store, self.base.clone(), self.base_source)
    }

    /// A sweeper; with `aws`, measuring through CloudWatch and the Lambda API (provisioned
    /// concurrency in each of `regions`) and able to cap concurrency. The webhook's requests take
    /// slots from the Slack pool of `pools`.
    pub fn sweeper(
        &self,
        store: Arc<dyn Store>,
        aws: Option<&aws_config::SdkConfig>,
        regions: &[crate::domain::Region],
        pools: &Pools,
    ) -> Sweeper {
        let mut sweeper = Sweeper::new(Arc::clone(&store), self.price_book(store), self.settings.clone())
            .with_advisor(Arc::new(crate::warming::advice::WarmingAdvice(self.warming.clone())));
        if let Some(sdk) = aws.filter(|_| self.aws_sources) {
            let lambda = aws_sdk_lambda::Client::new(sdk);
            let per_region = crate::aws::per_region(regions, |region| {
                let config = aws_sdk_lambda::config::Builder::from(sdk)
                    .region(aws_sdk_lambda::config::Region::new(region.to_owned()));
                aws_sdk_lambda::Client::from_conf(config.build())
            });
            sweeper = sweeper
                .with_metered(Arc::new(crate::aws::cost_sources::AwsCostSources::new(
                    aws_sdk_cloudwatch::Client::new(sdk),
                    per_region,
                )))
                .with_limiter(Arc::new(crate::aws::concurrency::ReservedConcurrency::new(lambda)));
        }
        if let Some(hook) =
            self.webhook.as_deref().and_then(|url| Webhook::new(url, pools.get(Service::Slack)).ok())
        {
            sweeper = sweeper.with_notifier(Arc::new(hook));
        }
        sweeper
    }
}

/// How often an EventBridge schedule expression fires: `rate(N unit)` exactly; a `cron(...)`
/// expression counts as hourly (its gaps are not regular).
pub fn schedule_period(expression: &str) -> Option<Duration> {
    let expression = expression.trim();
    if expression.starts_with("cron(") && expression.ends_with(')') {
        return Some(Duration::hours(1));
    }
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: i64 = n.parse().ok().filter(|n| (1..=10_000).contains(n))?;
    match unit.trim() {
        "minute" | "minutes" => Some(Duration::minutes(n)),
        "hour" | "hours" => Some(Duration::hours(n)),
        "day" | "days" => Some(Duration::days(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_periods() {
        for (expression, minutes) in [
            ("rate(15 minutes)", Some(15)),
            ("rate(1 minute)", Some(1)),
            ("rate(2 hours)", Some(120)),
            ("rate(1 day)", Some(1440)),
            ("cron(0/10 * * * ? *)", Some(60)),
            ("rate(0 minutes)", None),
            ("rate(five minutes)", None),
            ("every 15 minutes", None),
        ] {
            assert_eq!(schedule_period(expression).map(|d| d.num_minutes()), minutes, "{expression}");
        }
    }

    #[test]
    fn bad_settings_name_their_variable() {
        let cases = [
            ("COMMANDER_PRICED_FUNCTIONS", "[{\"name\": \"f\"}]"),
            (
                "COMMANDER_PRICED_FUNCTIONS",
                "[{\"name\": \"f\", \"memory_mb\": 64, \"architecture\": \"arm64\"}]",
            ),
            ("COMMANDER_EMERGENCY_CONCURRENCY_CAP", "lots"),
            ("COMMANDER_EMERGENCY_CLEAR_AFTER_S", "5"),
            ("COMMANDER_COST_WEBHOOK_URL", "http://example.com/hook"),
            ("COMMANDER_PRICES_FILE", "/nonexistent/prices.json"),
            ("COMMANDER_COST_SOURCES", "cloudwatch"),
            ("COMMANDER_SWEEP_SCHEDULE", "rate(soon)"),
        ];
        for (name, value) in cases {
            let env = |n: &str| (n == name).then(|| value.to_owned());
            let e = CostSetup::from_env(&env, "t").unwrap_err();
            assert_eq!(e.variable, name, "{}", e.message);
        }
        let good = |n: &str| match n {
            "COMMANDER_PRICED_FUNCTIONS" => Some(
                "[{\"name\": \"f\", \"memory_mb\": 512, \"architecture\": \"x86_64\", \"critical\": true}]"
                    .into(),
            ),
            "COMMANDER_EMERGENCY_CONCURRENCY_CAP" => Some("5".into()),
            _ => None,
        };
        let setup = CostSetup::from_env(&good, "t").unwrap();
        assert_eq!(setup.settings.functions[0].memory_mb, 512);
        assert_eq!(setup.settings.emergency_concurrency_cap, Some(5));
        assert_eq!(setup.base_source, PriceSource::Bundled);
    }
}
