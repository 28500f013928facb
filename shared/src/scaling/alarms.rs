//! The suite's own utilization alarms: one high and one low alarm per agent type, named from the
//! stack, their thresholds and periods taken from the type's policy, reconciled on every tick and
//! after each policy change (a new type gets its alarms, a changed policy updates them, a removed
//! type loses them). They are accelerators: the tick evaluates every type anyway; an alarm's
//! transition to ALARM evaluates its type at once.
//!
//! The desired set and the difference to what exists are pure; [`Alarms`] is the port to
//! CloudWatch (`aws::alarms`).

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ScalingPolicy;
use super::signals::{LambdaAgents, Signal};
use crate::domain::{AgentType, Region};
use crate::error::AdapterError;

/// Every managed alarm evaluates one-minute periods.
pub const PERIOD_S: u32 = 60;
/// A high alarm fires after this many breaching minutes in a row.
pub const HIGH_PERIODS: u32 = 3;
/// CloudWatch evaluates at most a day of one-minute periods.
const MAX_PERIODS: u32 = 1_440;
const HIGH: &str = "-utilization-high";
const LOW: &str = "-utilization-low";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Comparison {
    GreaterThanThreshold,
    LessThanThreshold,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreaterThanThreshold => "GreaterThanThreshold",
            Self::LessThanThreshold => "LessThanThreshold",
        }
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanThreshold => value > threshold,
            Self::LessThanThreshold => value < threshold,
        }
    }
}

/// CloudWatch's `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum MissingData {
    Missing,
    NotBreaching,
    Breaching,
    Ignore,
}

impl MissingData {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::NotBreaching => "notBreaching",
            Self::Breaching => "breaching",
            Self::Ignore => "ignore",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Missing, Self::NotBreaching, Self::Breaching, Self::Ignore]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// One metric alarm as CloudWatch holds it (the fields the suite sets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlarmSpec {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub metric_name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
    /// `Average` or `Maximum`.
    pub statistic: String,
    pub period_s: u32,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub threshold: f64,
    pub comparison: Comparison,
    pub treat_missing_data: MissingData,
    /// ARNs invoked on the transition to ALARM (the scaler, when alarms invoke it directly).
    pub actions: Vec<String>,
}

/// Which of a type's two alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    High,
    Low,
}

/// How the stack names and wires its alarms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSettings {
    /// `COMMANDER_ALARM_PREFIX`: the stack's name and a dash; every managed alarm's name starts
    /// with it, and IAM scopes the alarm permissions to it.
    pub prefix: String,
    /// The namespace heartbeat agents' `AgentUtilization` is written to.
    pub namespace: String,
    /// `COMMANDER_ALARM_ACTION`: the scaler's ARN when alarms invoke it directly; none when an
    /// EventBridge rule delivers their state changes.
    pub actions: Vec<String>,
    /// Where the alarms live: Lambda agents' alarms watch their alias in this region.
    pub home_region: Option<Region>,
    pub lambda_agents: LambdaAgents,
}

/// The alarm name of one of a type's alarms.
pub fn alarm_name(prefix: &str, agent_type: &AgentType, direction: Direction) -> String {
    let suffix = match direction {
        Direction::High => HIGH,
        Direction::Low => LOW,
    };
    format!("{prefix}{agent_type}{suffix}")
}

/// The type and direction a managed alarm's name stands for.
pub fn managed_alarm(prefix: &str, name: &str) -> Option<(AgentType, Direction)> {
    let rest = name.strip_prefix(prefix)?;
    let (agent_type, direction) = if let Some(t) = rest.strip_suffix(HIGH) {
        (t, Direction::High)
    } else {
        (rest.strip_suffix(LOW)?, Direction::Low)
    };
    AgentType::parse(agent_type).ok().map(|t| (t, direction))
}

/// A threshold written as CloudWatch stores it (no float noise from 0.3 x 100).
fn threshold(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The two alarms a type should have. Heartbeat agents: the average of `AgentUtilization` (%)
/// in the stack's namespace. Lambda agents: the highest `ProvisionedConcurrencyUtilization`
/// (a 0-1 ratio) of their alias in the home region (CloudWatch alarms are regional; the tick
/// covers the other regions). High: above `scale_up_threshold` for three minutes. Low: below
/// `scale_down_threshold` for the policy's cooldown (the scale-down stabilisation window), at
/// least a minute. Missing data never breaches, so silence neither scales up nor down.
pub fn alarms_for(
    settings: &AlarmSettings,
    agent_type: &AgentType,
    policy: &ScalingPolicy,
    signal: Signal,
) -> Vec<AlarmSpec> {
    let (namespace, metric_name, dimensions, statistic, scale) = match signal {
        Signal::Heartbeats => (
            settings.namespace.clone(),
            "AgentUtilization",
            vec![("AgentType".to_owned(), agent_type.to_string())],
            "Average",
            100.0,
        ),
        Signal::Cloudwatch => {
            if settings.home_region.is_none() {
                return Vec::new();
            }
            let function = settings.lambda_agents.function(agent_type);
            let resource = format!("{function}:{}", settings.lambda_agents.qualifier);
            (
                "AWS/Lambda".to_owned(),
                "ProvisionedConcurrencyUtilization",
                vec![("FunctionName".to_owned(), function), ("Resource".to_owned(), resource)],
                "Maximum",
                1.0,
            )
        }
    };
    let low_periods = u32::try_from(policy.cooldown_period.div_ceil(u64::from(PERIOD_S)))
        .unwrap_or(MAX_PERIODS)
        .clamp(1, MAX_PERIODS);
    let alarm = |direction: Direction,
                 threshold_value: f64,
                 periods: u32,
                 comparison: Comparison,
                 what: &str| {
        AlarmSpec {
            name: alarm_name(&settings.prefix, agent_type, direction),
            description: format!(
                "{agent_type} agents {what} {:.0} % utilization for {periods} minutes: evaluate now (managed by the scaler from the type's policy)",
                threshold_value * 100.0
            ),
            namespace: namespace.clone(),
            metric_name: metric_name.to_owned(),
            dimensions: dimensions.clone(),
            statistic: statistic.to_owned(),
            period_s: PERIOD_S,
            evaluation_periods: periods,
            datapoints_to_alarm: periods,
            threshold: threshold(threshold_value * scale),
            comparison,
            treat_missing_data: MissingData::NotBreaching,
            actions: settings.actions.clone(),
        }
    };
    vec![
        alarm(
            Direction::High,
            policy.scale_up_threshold,
            HIGH_PERIODS,
            Comparison::GreaterThanThreshold,
            "above",
        ),
        alarm(
            Direction::Low,
            policy.scale_down_threshold,
            low_periods,
            Comparison::LessThanThreshold,
            "below",
        ),
    ]
}

/// What has to change for the alarms that exist to be the ones that should.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct AlarmChanges {
    /// Alarms to create or update (PutMetricAlarm replaces an alarm whole).
    pub put: Vec<AlarmSpec>,
    /// Managed alarms no policy asks for any more.
    pub delete: Vec<String>,
}

impl AlarmChanges {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.delete.is_empty()
    }
}

/// The difference between `desired` and `actual`. Only alarms named as the suite names its own
/// are ever deleted: other alarms under the stack's prefix are left alone.
pub fn reconcile(prefix: &str, desired: &[AlarmSpec], actual: &[AlarmSpec]) -> AlarmChanges {
    let existing: BTreeMap<&str, &AlarmSpec> = actual.iter().map(|a| (a.name.as_str(), a)).collect();
    let wanted: BTreeMap<&str, &AlarmSpec> = desired.iter().map(|a| (a.name.as_str(), a)).collect();
    let put = desired.iter().filter(|d| existing.get(d.name.as_str()) != Some(d)).cloned().collect();
    let delete = actual
        .iter()
        .filter(|a| managed_alarm(prefix, &a.name).is_some() && !wanted.contains_key(a.name.as_str()))
        .map(|a| a.name.clone())
        .collect();
    AlarmChanges { put, delete }
}

/// CloudWatch's alarms, as far as the suite manages them.
#[async_trait]
pub trait Alarms: Send + Sync + Debug {
    /// Every metric alarm whose name starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<AlarmSpec>, AdapterError>;
    /// Creates or replaces one alarm.
    async fn put(&self, alarm: &AlarmSpec) -> Result<(), AdapterError>;
    async fn delete(&self, names: &[String]) -> Result<(), AdapterError>;
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "thresholds are rounded to exact values on purpose")]
mod tests {
    use super::*;

    fn settings() -> AlarmSettings {
        AlarmSettings {
            prefix: "commander-prod-".into(),
            namespace: "IncidentCommander/prod".into(),
            actions: vec!["arn:aws:lambda:us-east-1:1:function:commander-prod-scaler".into()],
            home_region: Region::parse("us-east-1").ok(),
            lambda_agents: LambdaAgents {
                function_pattern: "{agent_type}-agent".into(),
                qualifier: "live".into(),
                concurrency_per_replica: 1,
            },
        }
    }

    fn t(name: &str) -> AgentType {
        AgentType::parse(name).unwrap()
    }

    #[test]
    fn a_heartbeat_types_alarms_follow_its_policy() {
        let mut policy = ScalingPolicy::default_for(&t("triage"));
        policy.scale_down_threshold = 0.3;
        policy.cooldown_period = 301;
        let [high, low] =
            alarms_for(&settings(), &t("triage"), &policy, Signal::Heartbeats).try_into().unwrap();
        assert_eq!(high.name, "commander-prod-triage-utilization-high");
        assert_eq!((high.threshold, high.comparison), (80.0, Comparison::GreaterThanThreshold));
        assert_eq!((high.evaluation_periods, high.datapoints_to_alarm, high.period_s), (3, 3, 60));
        assert_eq!(
            (low.threshold, low.evaluation_periods),
            (30.0, 6),
            "0.3 x 100 exactly; 301 s is six minutes"
        );
        assert_eq!(low.namespace, "IncidentCommander/prod");
        assert_eq!(low.dimensions, [("AgentType".to_owned(), "triage".to_owned())]);
        assert_eq!(low.treat_missing_data, MissingData::NotBreaching);
        assert_eq!(managed_alarm("commander-prod-", &low.name), Some((t("triage"), Direction::Low)));
    }

    #[test]
    fn a_lambda_types_alarms_watch_its_alias_in_the_home_region() {
        let policy = ScalingPolicy::default_for(&t("detection"));
        let alarms = alarms_for(&settings(), &t("detection"), &policy, Signal::Cloudwatch);
        assert_eq!(alarms[0].metric_name, "ProvisionedConcurrencyUtilization");
        assert_eq!((alarms[0].threshold, alarms[0].statistic.as_str()), (0.8, "Maximum"));
        assert_eq!(alarms[0].dimensions[1], ("Resource".to_owned(), "detection-agent:live".to_owned()));
        let mut away = settings();
        away.home_region = None;
        assert!(alarms_for(&away, &t("detection"), &policy, Signal::Cloudwatch).is_empty());
    }

    #[test]
    fn reconciliation_creates_updates_and_deletes_only_managed_alarms() {
        let s = settings();
        let policy = ScalingPolicy::default_for(&t("detection"));
        let desired = alarms_for(&s, &t("detection"), &policy, Signal::Heartbeats);
        assert_eq!(reconcile(&s.prefix, &desired, &[]).put.len(), 2, "a new type: both created");
        assert!(reconcile(&s.prefix, &desired, &desired).is_empty(), "nothing to do");
        let mut moved = ScalingPolicy::default_for(&t("detection"));
        moved.scale_up_threshold = 0.9;
        let changed = alarms_for(&s, &t("detection"), &moved, Signal::Heartbeats);
        let changes = reconcile(&s.prefix, &changed, &desired);
        assert_eq!(changes.put.len(), 1, "only the high alarm changed");
        assert_eq!(changes.put[0].threshold, 90.0);
        let gone = alarms_for(&s, &t("triage"), &policy, Signal::Heartbeats);
        let mut foreign = desired[0].clone();
        foreign.name = "commander-prod-api-errors".into();
        let mut actual = desired.clone();
        actual.extend(gone);
        actual.push(foreign);
        let changes = reconcile(&s.prefix, &desired, &actual);
        assert_eq!(
            changes.delete,
            ["commander-prod-triage-utilization-high", "commander-prod-triage-utilization-low"]
        );
        assert!(changes.put.is_empty(), "the stack's other alarms are not the scaler's");
    }
}
