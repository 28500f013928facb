//! The agent's settings, from the environment its template gives it. Each is checked at start,
//! so a bad one stops the container at init with the variable named rather than failing every
//! incident.
//!
//! | variable | meaning |
//! |---|---|
//! | `COMMANDER_API_URL` | the commander's API (SigV4-signed unless on loopback) |
//! | `AGENT_TASK_TYPE` | what its model calls are for in usage reports (default `triage`) |
//! | `AGENT_BEDROCK_MODELS` | JSON: the commander's model id to the Bedrock model id or inference profile to call |
//! | `AGENT_WORKER_TYPE` | optional: a long-running agent type incidents are handed to |
//! | `AGENT_WORKER_URL` | with it: where a worker replica takes an incident, `{replica_id}` in it |

use std::collections::BTreeMap;

use shared::cost::task::TaskType;
use shared::domain::AgentType;

/// Models the map may name, at most.
const MAX_MODELS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct BadSetting {
    pub variable: &'static str,
    pub reason: String,
}

fn bad(variable: &'static str, reason: impl Into<String>) -> BadSetting {
    BadSetting { variable, reason: reason.into() }
}

/// Where incidents go after triage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub agent_type: AgentType,
    /// URL with `{replica_id}` in it.
    pub url: String,
}

impl Worker {
    pub fn url_for(&self, replica_id: &str) -> String {
        self.url.replace("{replica_id}", replica_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub api_url: String,
    pub task_type: TaskType,
    /// The commander's model id (the price table's) to what Bedrock is called with.
    pub bedrock_models: BTreeMap<String, String>,
    pub worker: Option<Worker>,
}

impl Settings {
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, BadSetting> {
        let api_url = var("COMMANDER_API_URL").ok_or_else(|| bad("COMMANDER_API_URL", "must be set"))?;
        let task_type = var("AGENT_TASK_TYPE").unwrap_or_else(|| "triage".into());
        let task_type = TaskType::parse(&task_type).map_err(|e| bad("AGENT_TASK_TYPE", e.to_string()))?;
        let models = var("AGENT_BEDROCK_MODELS").ok_or_else(|| bad("AGENT_BEDROCK_MODELS", "must be set"))?;
        let bedrock_models: BTreeMap<String, String> = serde_json::from_str(&models).map_err(|e| {
            bad("AGENT_BEDROCK_MODELS", format!("not a JSON object of model id to Bedrock model id: {e}"))
        })?;
        if bedrock_models.is_empty() || bedrock_models.len() > MAX_MODELS {
            return Err(bad("AGENT_BEDROCK_MODELS", format!("must name 1 to {MAX_MODELS} models")));
        }
        if let Some((id, _)) =
            bedrock_models.iter().find(|(k, v)| k.is_empty() || v.is_empty() || v.len() > 2048)
        {
            return Err(bad("AGENT_BEDROCK_MODELS", format!("{id:?}: empty or too long")));
        }
        let worker = match (var("AGENT_WORKER_TYPE"), var("AGENT_WORKER_URL")) {
            (None, None) => None,
            (Some(t), Some(url)) => {
                let agent_type = AgentType::parse(&t).map_err(|e| bad("AGENT_WORKER_TYPE", e.to_string()))?;
                if !url.contains("{replica_id}")
                    || !(url.starts_with("https://") || url.starts_with("http://"))
                {
                    return Err(bad("AGENT_WORKER_URL", "must be an http(s) URL with {replica_id} in it"));
                }
                Some(Worker { agent_type, url })
            }
            (Some(_), None) => return Err(bad("AGENT_WORKER_URL", "must be set with AGENT_WORKER_TYPE")),
            (None, Some(_)) => return Err(bad("AGENT_WORKER_TYPE", "must be set with AGENT_WORKER_URL")),
        };
        Ok(Self { api_url, task_type, bedrock_models, worker })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    const MODELS: (&str, &str) =
        ("AGENT_BEDROCK_MODELS", r#"{"anthropic.claude-sonnet-4": "us.anthropic.claude-sonnet-4-v1:0"}"#);
    const API: (&str, &str) = ("COMMANDER_API_URL", "http://127.0.0.1:3000");

    #[test]
    fn a_complete_environment_reads() {
        let s = Settings::from_env(env(&[
            API,
            MODELS,
            ("AGENT_WORKER_TYPE", "resolution"),
            ("AGENT_WORKER_URL", "https://{replica_id}.workers.internal/incidents"),
        ]))
        .unwrap();
        assert_eq!(s.task_type.as_str(), "triage");
        assert_eq!(s.worker.unwrap().url_for("r-1"), "https://r-1.workers.internal/incidents");
    }

    #[test]
    fn bad_settings_name_their_variable() {
        let cases: [(&'static [(&'static str, &'static str)], &str); 7] = [
            (&[MODELS], "COMMANDER_API_URL"),
            (&[API], "AGENT_BEDROCK_MODELS"),
            (&[API, ("AGENT_BEDROCK_MODELS", "{}")], "AGENT_BEDROCK_MODELS"),
            (&[API, ("AGENT_BEDROCK_MODELS", "[1]")], "AGENT_BEDROCK_MODELS"),
            (&[API, MODELS, ("AGENT_TASK_TYPE", "Triage!")], "AGENT_TASK_TYPE"),
            (&[API, MODELS, ("AGENT_WORKER_TYPE", "resolution")], "AGENT_WORKER_URL"),
            (
                &[API, MODELS, ("AGENT_WORKER_TYPE", "resolution"), ("AGENT_WORKER_URL", "https://x/y")],
                "AGENT_WORKER_URL",
            ),
        ];
        for (pairs, variable) in cases {
            assert_eq!(Settings::from_env(env(pairs)).unwrap_err().variable, variable, "{pairs:?}");
        }
    }
}
