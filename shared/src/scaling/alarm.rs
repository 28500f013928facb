//! Reading a CloudWatch alarm, whether it invoked the scaler directly or arrived through
//! EventBridge as a "CloudWatch Alarm State Change". Pure.
//!
//! The alarm's metric names the agent type in its `AgentType` dimension (and optionally the
//! severity served in `Severity`); its datapoints are utilization in percent.

use aws_lambda_events::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmStateReasonData, CloudWatchAlarmStateValue,
    CloudWatchMetricAlarmConfiguration,
};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use crate::domain::{AgentType, Severity};

pub const STATE_CHANGE: &str = "CloudWatch Alarm State Change";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

/// What the scaler needs from an alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSignal {
    /// Alarm and state-change time: the same transition has the same id however it arrives.
    pub event_id: String,
    pub alarm_name: String,
    pub state: AlarmState,
    /// When the alarm changed state: orders deliveries.
    pub at: DateTime<Utc>,
    pub agent_type: AgentType,
    /// The latest datapoint as a 0-1 utilization, when the alarm carries one.
    pub utilization: Option<f64>,
    pub severity: Option<Severity>,
    /// The alarm's metric period, seconds.
    pub period_s: u32,
}

/// Clocks differ this much at most between CloudWatch and the scaler.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(30);

impl AlarmSignal {
    /// Whether the transition is too old to act on at `now`: more than two of its periods (at
    /// least a minute each) and the clock skew ago. A retried delivery that old describes a fleet
    /// the tick has evaluated since.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let periods = chrono::Duration::seconds(2 * i64::from(self.period_s.max(60)));
        now - self.at > periods + CLOCK_SKEW
    }

    /// The transition's time as the scaler may remember it: never later than `now` plus the clock
    /// skew, so an alarm dated in the future cannot make every later one look old.
    pub fn at_most(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.at.min(now + CLOCK_SKEW)
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AlarmError {
    #[error("not a CloudWatch alarm event: {0}")]
    NotAnAlarm(String),
    #[error("alarm {0} has no state")]
    NoState(String),
    #[error("alarm {0} names no AgentType dimension")]
    NoAgentType(String),
    #[error("alarm {alarm}: {message}")]
    BadDimension { alarm: String, message: String },
}

type AlarmData = CloudWatchAlarmData<CloudWatchMetricAlarmConfiguration, CloudWatchAlarmStateReasonData>;

/// Reads either form of alarm event.
pub fn parse_alarm_event(event: &Value) -> Result<AlarmSignal, AlarmError> {
    parse_managed_alarm_event(event, None)
}

/// Reads either form of alarm event; an alarm whose metric names no `AgentType` (a Lambda
/// agent's alarm on its alias's metric) is known by its managed name under `managed_prefix`.
pub fn parse_managed_alarm_event(
    event: &Value,
    managed_prefix: Option<&str>,
) -> Result<AlarmSignal, AlarmError> {
    if event.get("detail-type").is_some() {
        let e: EventBridgeEvent<AlarmData> =
            serde_json::from_value(event.clone()).map_err(|e| AlarmError::NotAnAlarm(e.to_string()))?;
        if e.detail_type != STATE_CHANGE {
            return Err(AlarmError::NotAnAlarm(format!("detail-type {:?}", e.detail_type)));
        }
        let arn = e.resources.as_ref().and_then(|r| r.first().cloned());
        signal(arn, &e.detail, managed_prefix)
    } else if event.get("alarmData").is_some() {
        let e: CloudWatchAlarm<CloudWatchMetricAlarmConfiguration, CloudWatchAlarmStateReasonData> =
            serde_json::from_value(event.clone()).map_err(|e| AlarmError::NotAnAlarm(e.to_string()))?;
        signal(e.alarm_arn.clone(), &e.alarm_data, managed_prefix)
    } else {
        Err(AlarmError::NotAnAlarm("neither alarmData nor detail-type".into()))
    }
}

fn signal(
    arn: Option<String>,
    data: &AlarmData,
    managed_prefix: Option<&str>,
) -> Result<AlarmSignal, AlarmError> {
    let name = data.alarm_name.clone();
    let state = data.state.as_ref().ok_or_else(|| AlarmError::NoState(name.clone()))?;
    let dimension = |key: &str| {
        data.configuration.metrics.iter().find_map(|m| m.metric_stat.metric.dimensions.get(key).cloned())
    };
    let agent_type = match dimension("AgentType") {
        Some(t) => AgentType::parse(&t)
            .map_err(|e| AlarmError::BadDimension { alarm: name.clone(), message: e.to_string() })?,
        None => managed_prefix
            .and_then(|prefix| super::alarms::managed_alarm(prefix, &name))
            .map(|(t, _)| t)
            .ok_or_else(|| AlarmError::NoAgentType(name.clone()))?,
    };
    let severity = dimension("Severity")
        .map(|s| serde_json::from_value::<Severity>(Value::String(s.to_ascii_lowercase())))
        .transpose()
        .map_err(|e| AlarmError::BadDimension { alarm: name.clone(), message: format!("Severity: {e}") })?;
    let utilization = match &state.reason_data {
        Some(CloudWatchAlarmStateReasonData::Metric(m)) => m
            .recent_datapoints
            .last()
            .copied()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|percent| percent / 100.0),
        _ => None,
    };
    let period_s = data.configuration.metrics.first().map_or(60, |m| u32::from(m.metric_stat.period)).max(1);
    let state_value = match state.value {
        CloudWatchAlarmStateValue::Alarm => AlarmState::Alarm,
        CloudWatchAlarmStateValue::Ok => AlarmState::Ok,
        _ => AlarmState::InsufficientData,
    };
    let at = state.timestamp;
    Ok(AlarmSignal {
        event_id: format!("{}#{}", arn.unwrap_or_else(|| name.clone()), at.timestamp_millis()),
        alarm_name: name,
        state: state_value,
        at,
        agent_type,
        utilization,
        severity,
        period_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_direct_alarm_invocation() {
        let s = parse_alarm_event(&fixture("cloudwatch-alarm-direct-high.json")).unwrap();
        assert_eq!(s.agent_type.as_str(), "detection");
        assert_eq!(s.state, AlarmState::Alarm);
        assert!((s.utilization.unwrap() - 0.925).abs() < 1e-12, "the latest datapoint, in percent");
        assert_eq!(s.at.to_rfc3339(), "2026-11-26T10:15:02.490+00:00");
        assert!(
            s.event_id.starts_with("arn:aws:cloudwatch:us-east-1:444455556666:alarm:commander-dev-detection")
        );
        assert_eq!(s.severity, None);
    }

    #[test]
    fn stale_and_future_transitions() {
        let s = parse_alarm_event(&fixture("cloudwatch-alarm-direct-high.json")).unwrap();
        assert_eq!(s.period_s, 60);
        assert!(!s.is_stale(s.at + chrono::Duration::seconds(150)), "two periods and the skew");
        assert!(s.is_stale(s.at + chrono::Duration::seconds(151)));
        assert!(s.is_stale(s.at + chrono::Duration::hours(1)), "an hour-old retry");
        let before = s.at - chrono::Duration::hours(2);
        assert_eq!(s.at_most(before), before + CLOCK_SKEW, "dated in the future: clamped");
        assert_eq!(s.at_most(s.at), s.at);
    }

    #[test]
    fn an_eventbridge_state_change() {
        let s = parse_alarm_event(&fixture("eventbridge-alarm-state-change-low.json")).unwrap();
        assert_eq!(s.agent_type.as_str(), "diagnosis");
        assert!((s.utilization.unwrap() - 0.12).abs() < 1e-12);
        assert_eq!(s.alarm_name, "commander-dev-diagnosis-utilization-low");
    }

    #[test]
    fn the_same_transition_has_the_same_id_either_way() {
        let mut direct = fixture("cloudwatch-alarm-direct-high.json");
        let bridged = serde_json::json!({
            "version": "0", "id": "x", "detail-type": STATE_CHANGE, "source": "aws.cloudwatch",
            "resources": [direct["alarmArn"].clone()], "detail": direct["alarmData"].take(),
        });
        let direct = fixture("cloudwatch-alarm-direct-high.json");
        assert_eq!(
            parse_alarm_event(&direct).unwrap().event_id,
            parse_alarm_event(&bridged).unwrap().event_id
        );
    }

    #[test]
    fn what_is_not_a_usable_alarm() {
        let mut no_type = fixture("cloudwatch-alarm-direct-high.json");
        no_type["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
            serde_json::json!({});
        assert!(matches!(parse_alarm_event(&no_type), Err(AlarmError::NoAgentType(_))));
        // A Lambda agent's managed alarm watches its alias's metric: its name says the type.
        let mut lambda = no_type.clone();
        lambda["alarmData"]["alarmName"] = "commander-dev-triage-utilization-high".into();
        let s = parse_managed_alarm_event(&lambda, Some("commander-dev-")).unwrap();
        assert_eq!(s.agent_type.as_str(), "triage");
        assert!(matches!(
            parse_managed_alarm_event(&lambda, Some("other-")),
            Err(AlarmError::NoAgentType(_))
        ));
        let mut bad_type = fixture("cloudwatch-alarm-direct-high.json");
        bad_type["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["AgentType"] =
            "Bad Type".into();
        assert!(matches!(parse_alarm_event(&bad_type), Err(AlarmError::BadDimension { .. })));
        assert!(matches!(
            parse_alarm_event(&serde_json::json!({"hello": 1})),
            Err(AlarmError::NotAnAlarm(_))
        ));
        let other =
            serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(matches!(parse_alarm_event(&other), Err(AlarmError::NotAnAlarm(_))));
    }
}
