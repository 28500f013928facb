//! The scaling settings from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `COMMANDER_ACTUATOR` | `record` | `record` or `provisioned-concurrency` |
//! | `COMMANDER_AGENT_FUNCTION_PATTERN` | `{agent_type}-agent` | Lambda agents' function names |
//! | `COMMANDER_AGENT_QUALIFIER` | `live` | their alias (`$LATEST` is refused) |
//! | `COMMANDER_CONCURRENCY_PER_REPLICA` | 1 | provisioned concurrency per replica (1-10000) |
//! | `COMMANDER_ALARM_PREFIX` | none | turns on the managed alarms, named with it |
//! | `COMMANDER_ALARM_ACTION` | none | the ARN the managed alarms invoke |

use crate::config::{ConfigError, Env, bad, var};
use crate::domain::Region;
use crate::scaling::setup::{ActuatorKind, ManagedAlarms, ScalingSetup};
use crate::scaling::signals::LambdaAgents;

/// The scaling settings `env` gives (see the module documentation).
pub fn scaling(env: &impl Env) -> Result<ScalingSetup, ConfigError> {
    let actuator = match var(env, "COMMANDER_ACTUATOR").as_deref() {
        None | Some("record") => ActuatorKind::Record,
        Some("provisioned-concurrency") => ActuatorKind::ProvisionedConcurrency,
        Some(other) => {
            return Err(bad(
                "COMMANDER_ACTUATOR",
                format!("{other:?} is neither record nor provisioned-concurrency"),
            ));
        }
    };
    let function_pattern =
        var(env, "COMMANDER_AGENT_FUNCTION_PATTERN").unwrap_or_else(|| "{agent_type}-agent".into());
    if !function_pattern.contains("{agent_type}") {
        return Err(bad("COMMANDER_AGENT_FUNCTION_PATTERN", "must contain {agent_type}"));
    }
    let qualifier = var(env, "COMMANDER_AGENT_QUALIFIER").unwrap_or_else(|| "live".into());
    if qualifier == "$LATEST" {
        return Err(bad(
            "COMMANDER_AGENT_QUALIFIER",
            "provisioned concurrency and per-alias metrics need an alias or version, not $LATEST",
        ));
    }
    let concurrency_per_replica = match var(env, "COMMANDER_CONCURRENCY_PER_REPLICA") {
        None => 1,
        Some(v) => v.parse::<u32>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
            bad("COMMANDER_CONCURRENCY_PER_REPLICA", format!("{v:?} is not a whole number from 1 to 10000"))
        })?,
    };
    let alarms = match var(env, "COMMANDER_ALARM_PREFIX") {
        None => None,
        Some(prefix) => {
            let valid = (1..=100).contains(&prefix.len())
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(bad(
                    "COMMANDER_ALARM_PREFIX",
                    format!("{prefix:?} is not 1-100 of A-Za-z0-9 - _"),
                ));
            }
            let action = var(env, "COMMANDER_ALARM_ACTION");
            if let Some(a) = &action
                && !a.starts_with("arn:")
            {
                return Err(bad("COMMANDER_ALARM_ACTION", format!("{a:?} is not an ARN")));
            }
            Some(ManagedAlarms { prefix, action })
        }
    };
    let home_region = var(env, "AWS_REGION").and_then(|r| Region::parse(&r).ok());
    Ok(ScalingSetup {
        actuator,
        lambda_agents: LambdaAgents { function_pattern, qualifier, concurrency_per_replica },
        alarms,
        home_region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::signals::Signal;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_actuator_decides_the_default_signal() {
        let record = scaling(&env(&[])).unwrap();
        assert_eq!((record.actuator, record.default_signal()), (ActuatorKind::Record, Signal::Heartbeats));
        assert_eq!(record, ScalingSetup::default());
        let pc = scaling(&env(&[
            ("COMMANDER_ACTUATOR", "provisioned-concurrency"),
            ("COMMANDER_AGENT_FUNCTION_PATTERN", "inc-{agent_type}"),
            ("COMMANDER_CONCURRENCY_PER_REPLICA", "4"),
        ]))
        .unwrap();
        assert_eq!(pc.default_signal(), Signal::Cloudwatch);
        assert_eq!(
            pc.lambda_agents.function(&crate::domain::AgentType::parse("detection").unwrap()),
            "inc-detection"
        );
        assert_eq!(pc.lambda_agents.concurrency_per_replica, 4);
        assert!(pc.alarm_settings("N", &Region::defaults()).is_none(), "no prefix, no managed alarms");
        let managed = scaling(&env(&[
            ("COMMANDER_ALARM_PREFIX", "commander-prod-"),
            ("COMMANDER_ALARM_ACTION", "arn:aws:lambda:eu-west-1:1:function:commander-prod-scaler"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .unwrap();
        let settings = managed.alarm_settings("IncidentCommander/prod", &Region::defaults()).unwrap();
        assert_eq!((settings.prefix.as_str(), settings.actions.len()), ("commander-prod-", 1));
        assert_eq!(settings.home_region.map(|r| r.to_string()).as_deref(), Some("eu-west-1"));
        let elsewhere = managed.alarm_settings("N", &[Region::parse("us-east-1").unwrap()]).unwrap();
        assert!(elsewhere.home_region.is_none(), "not a fleet region: no Lambda agent alarms here");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: [(&'static [(&'static str, &'static str)], &str); 6] = [
            (&[("COMMANDER_ALARM_PREFIX", "stack name!")], "COMMANDER_ALARM_PREFIX"),
            (
                &[("COMMANDER_ALARM_PREFIX", "s-"), ("COMMANDER_ALARM_ACTION", "scaler")],
                "COMMANDER_ALARM_ACTION",
            ),
            (&[("COMMANDER_ACTUATOR", "magic")], "COMMANDER_ACTUATOR"),
            (&[("COMMANDER_AGENT_QUALIFIER", "$LATEST")], "COMMANDER_AGENT_QUALIFIER"),
            (&[("COMMANDER_AGENT_FUNCTION_PATTERN", "agent")], "COMMANDER_AGENT_FUNCTION_PATTERN"),
            (&[("COMMANDER_CONCURRENCY_PER_REPLICA", "0")], "COMMANDER_CONCURRENCY_PER_REPLICA"),
        ];
        for (pairs, variable) in cases {
            assert_eq!(scaling(&env(pairs)).unwrap_err().variable, variable);
        }
    }
}
