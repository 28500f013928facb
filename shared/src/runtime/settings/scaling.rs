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
//! | `COMMANDER_ECS_AGENT_TYPES` | none | comma-separated agent types that run as ECS services (at most 1000) |
//! | `COMMANDER_ECS_CLUSTER` | none | their cluster, the same name in every region (required with the types) |
//! | `COMMANDER_ECS_SERVICE_PATTERN` | `{agent_type}-agent` | their services' names |

use crate::config::{ConfigError, Env, bad, var};
use std::collections::BTreeSet;

use crate::domain::{AgentType, Region};
use crate::scaling::setup::{ActuatorKind, EcsAgents, ManagedAlarms, ScalingSetup};
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
        ecs: ecs(env)?,
    })
}

/// Agent types an ECS cluster may hold services for, at most.
const MAX_ECS_TYPES: usize = 1000;
/// ECS cluster and service names: 1-255 of A-Za-z0-9 - _.
const MAX_ECS_NAME: usize = 255;

fn ecs_name_chars(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The ECS agents `env` names, if any.
fn ecs(env: &impl Env) -> Result<Option<EcsAgents>, ConfigError> {
    let listed = var(env, "COMMANDER_ECS_AGENT_TYPES").unwrap_or_default();
    let names: Vec<&str> = listed.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    if names.is_empty() {
        return Ok(None);
    }
    if names.len() > MAX_ECS_TYPES {
        return Err(bad(
            "COMMANDER_ECS_AGENT_TYPES",
            format!("names {} types; at most {MAX_ECS_TYPES}", names.len()),
        ));
    }
    let types = names
        .iter()
        .map(|t| AgentType::parse(t).map_err(|e| bad("COMMANDER_ECS_AGENT_TYPES", e.to_string())))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let cluster = var(env, "COMMANDER_ECS_CLUSTER").ok_or_else(|| {
        bad(
            "COMMANDER_ECS_CLUSTER",
            "must name the agents' ECS cluster when COMMANDER_ECS_AGENT_TYPES is set",
        )
    })?;
    if cluster.is_empty() || cluster.len() > MAX_ECS_NAME || !ecs_name_chars(&cluster) {
        return Err(bad("COMMANDER_ECS_CLUSTER", format!("{cluster:?} is not 1-255 of A-Za-z0-9 - _")));
    }
    let service_pattern =
        var(env, "COMMANDER_ECS_SERVICE_PATTERN").unwrap_or_else(|| "{agent_type}-agent".into());
    let literal = service_pattern.replacen("{agent_type}", "", 1);
    if literal.len() == service_pattern.len() || !ecs_name_chars(&literal) {
        return Err(bad(
            "COMMANDER_ECS_SERVICE_PATTERN",
            format!("{service_pattern:?} must contain {{agent_type}} once, and otherwise only A-Za-z0-9 - _"),
        ));
    }
    if literal.len() + AgentType::MAX_LEN > MAX_ECS_NAME {
        return Err(bad(
            "COMMANDER_ECS_SERVICE_PATTERN",
            format!("{service_pattern:?} would make service names longer than {MAX_ECS_NAME} characters"),
        ));
    }
    Ok(Some(EcsAgents { cluster, service_pattern, types }))
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
        let cases: [(&'static [(&'static str, &'static str)], &str); 11] = [
            (&[("COMMANDER_ECS_AGENT_TYPES", "triage")], "COMMANDER_ECS_CLUSTER"),
            (
                &[("COMMANDER_ECS_AGENT_TYPES", "Triage"), ("COMMANDER_ECS_CLUSTER", "c")],
                "COMMANDER_ECS_AGENT_TYPES",
            ),
            (
                &[("COMMANDER_ECS_AGENT_TYPES", "triage"), ("COMMANDER_ECS_CLUSTER", "a/b")],
                "COMMANDER_ECS_CLUSTER",
            ),
            (
                &[
                    ("COMMANDER_ECS_AGENT_TYPES", "t"),
                    ("COMMANDER_ECS_CLUSTER", "c"),
                    ("COMMANDER_ECS_SERVICE_PATTERN", "agent"),
                ],
                "COMMANDER_ECS_SERVICE_PATTERN",
            ),
            (
                &[
                    ("COMMANDER_ECS_AGENT_TYPES", "t"),
                    ("COMMANDER_ECS_CLUSTER", "c"),
                    ("COMMANDER_ECS_SERVICE_PATTERN", "a.{agent_type}"),
                ],
                "COMMANDER_ECS_SERVICE_PATTERN",
            ),
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

    #[test]
    fn ecs_agent_types_name_their_services() {
        assert!(scaling(&env(&[("COMMANDER_ECS_AGENT_TYPES", " , ")])).unwrap().ecs.is_none());
        let setup = scaling(&env(&[
            ("COMMANDER_ECS_AGENT_TYPES", "triage, diagnosis,triage"),
            ("COMMANDER_ECS_CLUSTER", "incident-agents"),
            ("COMMANDER_ECS_SERVICE_PATTERN", "prod-{agent_type}"),
        ]))
        .unwrap();
        let ecs = setup.ecs.unwrap();
        assert_eq!(ecs.types.len(), 2, "listed twice, one type");
        assert_eq!(ecs.service(&AgentType::parse("triage").unwrap()), "prod-triage");
        assert_eq!(ecs.cluster, "incident-agents");
        assert_eq!(setup.actuator, ActuatorKind::Record, "the other types keep the stack's actuator");
    }
}
