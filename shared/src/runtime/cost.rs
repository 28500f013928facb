//! The cost side of a function, from its environment: the base price table, the sweep settings,
//! and (in Lambda) the AWS sources, the webhook and the emergency concurrency caps.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `COMMANDER_PRICES_FILE` | bundled table | an operator's price table (JSON) |
//! | `COMMANDER_PRICED_FUNCTIONS` | `[]` | functions whose Lambda cost is measured: `[{"name", "memory_mb", "architecture", "provisioned_qualifier"?, "critical"?}]` |
//! | `COMMANDER_COST_WEBHOOK_SECRET` | none | ARN of the Secrets Manager secret holding the Slack-compatible webhook URL told of level changes and emergency mode (Lambda: read on the first notification, kept for the container) |
//! | `COMMANDER_COST_WEBHOOK_URL` | none | the webhook URL itself, for `commander serve` and tests (not both) |
//! | `COMMANDER_EMERGENCY_CONCURRENCY_CAP` | off | reserved concurrency for non-critical priced functions in an emergency (each must be named by `COMMANDER_AGENT_FUNCTION_PATTERN` when that is set: the stack may cap agent functions only) |
//! | `COMMANDER_EMERGENCY_CLEAR_AFTER_S` | 1800 | emergency mode ends after this long below critical |
//! | `COMMANDER_SWEEP_SCHEDULE` | `rate(15 minutes)` | the sweep's EventBridge schedule: the controls it writes count as current for three of its periods (a `cron(...)` schedule counts as hourly) |
//! | `COMMANDER_COST_SOURCES` | `aws` | `none`: measure nothing beyond the suite's own counters (no CloudWatch or Lambda API calls) |

use std::sync::Arc;

use chrono::Duration;

use crate::aws::secret_webhook::{SecretWebhook, SecretsManager};
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
    pub webhook: Option<WebhookSetting>,
    /// Measure through CloudWatch and the Lambda API when AWS is at hand.
    pub aws_sources: bool,
    /// What the warmer keeps warm, for the pings-or-provisioned-concurrency advice.
    pub warming: crate::warming::config::WarmConfig,
}

/// Where the webhook's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookSetting {
    /// The URL itself (`commander serve`, tests).
    Url(String),
    /// The ARN of a Secrets Manager secret holding it (Lambda).
    Secret(String),
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
        let webhook =
            match (var(env, "COMMANDER_COST_WEBHOOK_URL"), var(env, "COMMANDER_COST_WEBHOOK_SECRET")) {
                (Some(_), Some(_)) => {
                    return Err(bad(
                        "COMMANDER_COST_WEBHOOK_SECRET",
                        "set it or COMMANDER_COST_WEBHOOK_URL, not both",
                    ));
                }
                (Some(url), None) => {
                    Webhook::check(&url).map_err(|e| bad("COMMANDER_COST_WEBHOOK_URL", e.message))?;
                    Some(WebhookSetting::Url(url))
                }
                (None, Some(arn)) => {
                    let secret =
                        arn.starts_with("arn:") && arn.contains(":secretsmanager:") && arn.len() <= 2048;
                    if !secret {
                        return Err(bad(
                            "COMMANDER_COST_WEBHOOK_SECRET",
                            "must be a Secrets Manager secret's ARN",
                        ));
                    }
                    Some(WebhookSetting::Secret(arn))
                }
                (None, None) => None,
            };
        if emergency_concurrency_cap.is_some()
            && let Some(pattern) = var(env, "COMMANDER_AGENT_FUNCTION_PATTERN")
        {
            let (prefix, suffix) = pattern.split_once("{agent_type}").unwrap_or((pattern.as_str(), ""));
            let outside = functions.iter().filter(|f| !f.critical).find(|f| {
                !(f.name.len() > prefix.len() + suffix.len()
                    && f.name.starts_with(prefix)
                    && f.name.ends_with(suffix))
            });
            if let Some(f) = outside {
                return Err(bad(
                    "COMMANDER_PRICED_FUNCTIONS",
                    format!(
                        "{} would be capped in an emergency, but only agent functions ({prefix}*{suffix}) may be: mark it critical, or leave COMMANDER_EMERGENCY_CONCURRENCY_CAP unset",
                        f.name
                    ),
                ));
            }
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
            use crate::aws::lazy_client::LazyClient;
            let home = sdk.clone();
            let lambda = LazyClient::lazy(move || aws_sdk_lambda::Client::new(&home));
            let home = sdk.clone();
            let cloudwatch = LazyClient::lazy(move || aws_sdk_cloudwatch::Client::new(&home));
            let regional = sdk.clone();
            let per_region = crate::aws::per_region(regions, move |region| {
                let config = aws_sdk_lambda::config::Builder::from(&regional)
                    .region(aws_sdk_lambda::config::Region::new(region.to_owned()));
                aws_sdk_lambda::Client::from_conf(config.build())
            });
            sweeper = sweeper
                .with_metered(Arc::new(crate::aws::cost_sources::AwsCostSources::new(cloudwatch, per_region)))
                .with_limiter(Arc::new(crate::aws::concurrency::ReservedConcurrency::new(lambda)));
        }
        match &self.webhook {
            Some(WebhookSetting::Url(url)) => {
                if let Ok(hook) = Webhook::new(url, pools.get(Service::Slack)) {
                    sweeper = sweeper.with_notifier(Arc::new(hook));
                }
            }
            Some(WebhookSetting::Secret(arn)) => {
                if let Some(sdk) = aws {
                    let source = SecretsManager(aws_sdk_secretsmanager::Client::new(sdk));
                    let hook = SecretWebhook::new(arn.clone(), Arc::new(source), pools.get(Service::Slack));
                    sweeper = sweeper.with_notifier(Arc::new(hook));
                } else {
                    tracing::warn!("COMMANDER_COST_WEBHOOK_SECRET needs AWS: the webhook is off");
                }
            }
            None => {}
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
            ("COMMANDER_COST_WEBHOOK_SECRET", "https://hooks.example.com/x"),
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
        // Issue 19, item 5: the stack may cap agent functions only; a non-critical priced
        // function outside the agent pattern is refused at start when caps are on.
        let capped = |extra: &'static str| {
            move |n: &str| match n {
                "COMMANDER_PRICED_FUNCTIONS" => Some(format!(
                    "[{{\"name\": \"{extra}\", \"memory_mb\": 512, \"architecture\": \"arm64\"}}]"
                )),
                "COMMANDER_EMERGENCY_CONCURRENCY_CAP" => Some("5".into()),
                "COMMANDER_AGENT_FUNCTION_PATTERN" => Some("{agent_type}-agent".into()),
                _ => None,
            }
        };
        assert!(CostSetup::from_env(&capped("detection-agent"), "t").is_ok());
        for outside in ["billing", "-agent", "detection-agent-old"] {
            let e = CostSetup::from_env(&capped(outside), "t").unwrap_err();
            assert_eq!(e.variable, "COMMANDER_PRICED_FUNCTIONS", "{outside}: {}", e.message);
        }
        let both = |n: &str| match n {
            "COMMANDER_COST_WEBHOOK_URL" => Some("https://hooks.example/a".into()),
            "COMMANDER_COST_WEBHOOK_SECRET" => Some("arn:aws:secretsmanager:us-east-1:1:secret:a".into()),
            _ => None,
        };
        assert_eq!(CostSetup::from_env(&both, "t").unwrap_err().variable, "COMMANDER_COST_WEBHOOK_SECRET");
        let secret = |n: &str| {
            (n == "COMMANDER_COST_WEBHOOK_SECRET")
                .then(|| "arn:aws:secretsmanager:us-east-1:1:secret:a".to_owned())
        };
        assert_eq!(
            CostSetup::from_env(&secret, "t").unwrap().webhook,
            Some(WebhookSetting::Secret("arn:aws:secretsmanager:us-east-1:1:secret:a".into()))
        );
        assert_eq!(setup.settings.functions[0].memory_mb, 512);
        assert_eq!(setup.settings.emergency_concurrency_cap, Some(5));
        assert_eq!(setup.base_source, PriceSource::Bundled);
    }
}
