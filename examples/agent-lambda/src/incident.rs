//! One incident through the agent contract (the repository's docs/agents.md): a warm ping is
//! answered before anything else; an incident gets a model from the commander, one Bedrock call
//! (the next of the commander's fallbacks when a model fails, each failure reported), one usage
//! report per call with an id that makes a retried invocation count once, and, where the stack
//! has a long-running worker type, a hand-off to the replica the commander selects, released
//! when the worker has answered (also when it failed).

use std::sync::Arc;

use commander_client::base::HttpsClient;
use commander_client::wire::{ReportRequest, SelectModelRequest, SelectRequest, UsageRequest};
use commander_client::{Client, answer_warm_ping};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::domain::{Region, Severity};

use crate::model::{Model, Reply};
use crate::settings::{Settings, Worker};

/// Longest incident summary taken, in bytes.
const MAX_SUMMARY: usize = 16 * 1024;
/// Most tokens the triage answer may take.
pub const MAX_ANSWER_TOKENS: u64 = 512;

/// What invokes the agent: one incident.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// `incident_id`, 1 to 128 of `A-Z a-z 0-9 . _ : -`: the id every request about it carries.
    #[serde(rename = "incident_id")]
    pub id: String,
    pub severity: Severity,
    pub summary: String,
    /// Where it happened (the hand-off prefers a replica there).
    #[serde(default)]
    pub region: Option<Region>,
}

/// The agent's answer to an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Handled {
    pub incident_id: String,
    /// The commander's id of the model that answered.
    pub model: String,
    pub triage: String,
    /// The worker replica it went to, if the stack has workers.
    pub handed_to: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("not an incident: {0}")]
    NotAnIncident(String),
    #[error("the commander: {0}")]
    Commander(#[from] commander_client::Error),
    #[error("no model answered: {0}")]
    NoModel(String),
    #[error("the worker replica {replica_id}: {reason}")]
    Worker { replica_id: String, reason: String },
}

/// What Lambda records of a failed invocation: the kind as its error type, the whole message.
impl From<AgentError> for lambda_runtime::Diagnostic {
    fn from(e: AgentError) -> Self {
        let kind = match &e {
            AgentError::NotAnIncident(_) => "NotAnIncident",
            AgentError::Commander(_) => "Commander",
            AgentError::NoModel(_) => "NoModel",
            AgentError::Worker { .. } => "Worker",
        };
        Self { error_type: kind.to_owned(), error_message: e.to_string() }
    }
}

/// The agent, built once per container.
#[derive(Debug, Clone)]
pub struct Agent {
    client: Client,
    model: Arc<dyn Model>,
    settings: Settings,
    http: HttpsClient,
}

impl Agent {
    pub fn new(client: Client, model: Arc<dyn Model>, settings: Settings) -> Result<Self, AgentError> {
        Ok(Self { client, model, settings, http: commander_client::base::https_client()? })
    }

    /// Every event: a warm ping answered without work, else an incident handled.
    pub async fn handle(&self, payload: Value) -> Result<Value, AgentError> {
        if let Some(answer) = answer_warm_ping(&payload).await {
            return serde_json::to_value(answer).map_err(|e| AgentError::NotAnIncident(e.to_string()));
        }
        let incident = parse(payload)?;
        let handled = self.incident(&incident).await?;
        serde_json::to_value(handled).map_err(|e| AgentError::NotAnIncident(e.to_string()))
    }

    async fn incident(&self, incident: &Incident) -> Result<Handled, AgentError> {
        let (model, reply) = self.triage(incident).await?;
        let handed_to = match &self.settings.worker {
            Some(worker) => Some(self.hand_off(worker, incident, &reply.text).await?),
            None => None,
        };
        Ok(Handled { incident_id: incident.id.clone(), model, triage: reply.text, handed_to })
    }

    /// The commander's model, else its fallbacks in order; models with no Bedrock id in the
    /// settings are passed over.
    async fn triage(&self, incident: &Incident) -> Result<(String, Reply), AgentError> {
        let prompt = format!(
            "Triage this {} severity incident. Give the most likely cause and the first step to take.\n\n{}",
            incident.severity.as_str(),
            incident.summary
        );
        let request = SelectModelRequest {
            task_type: self.settings.task_type.clone(),
            severity: incident.severity,
            required_accuracy: None,
            max_cost_per_1k: None,
            // About four bytes a token.
            expected_input_tokens: Some(u64::try_from(prompt.len() / 4).unwrap_or(u64::MAX)),
            expected_output_tokens: Some(MAX_ANSWER_TOKENS),
        };
        let choice = self.client.select_model(&request).await?.choice;
        let mut failures = Vec::new();
        for (attempt, model) in std::iter::once(choice.model).chain(choice.fallbacks).enumerate() {
            let Some(bedrock_id) = self.settings.bedrock_models.get(&model) else {
                failures.push(format!("{model}: no Bedrock model id in AGENT_BEDROCK_MODELS"));
                continue;
            };
            match self.model.converse(bedrock_id, &prompt).await {
                Ok(reply) => {
                    self.report_usage(incident, &model, &reply, attempt).await;
                    return Ok((model, reply));
                }
                Err(reason) => {
                    tracing::warn!(%model, %reason, "the model call failed; trying the next");
                    if let Err(e) =
                        self.client.report_model(&ReportRequest { model: model.clone(), ok: false }).await
                    {
                        tracing::warn!(error = %e, "the model failure could not be reported");
                    }
                    failures.push(reason);
                }
            }
        }
        Err(AgentError::NoModel(failures.join("; ")))
    }

    /// One report per call; its id (the incident's and the attempt's) makes a retried
    /// invocation count once. A report that fails after the client's retries is logged: the
    /// incident's work is done and must not be redone for it.
    async fn report_usage(&self, incident: &Incident, model: &str, reply: &Reply, attempt: usize) {
        let usage = UsageRequest {
            model: model.to_owned(),
            task_type: self.settings.task_type.clone(),
            severity: incident.severity,
            input_tokens: reply.input_tokens,
            output_tokens: reply.output_tokens,
            latency_ms: Some(reply.latency_ms.clamp(0.0, 3_600_000.0)),
            timestamp: None,
            request_id: Some(format!("{}:{}:{attempt}", incident.id, self.settings.task_type.as_str())),
        };
        if let Err(e) = self.client.report_usage(usage).await {
            tracing::error!(incident_id = %incident.id, error = %e, "usage not reported");
        }
    }

    /// Selects a worker replica for the incident and posts it there; the assignment is released
    /// when the worker answered, as failed when it did not.
    async fn hand_off(
        &self,
        worker: &Worker,
        incident: &Incident,
        triage: &str,
    ) -> Result<String, AgentError> {
        let assignment = self
            .client
            .assign(SelectRequest {
                agent_type: worker.agent_type.clone(),
                severity: incident.severity,
                region: incident.region.clone(),
                strategy: None,
                incident_id: Some(incident.id.clone()),
            })
            .await?;
        let replica_id = assignment.selected.replica_id.clone();
        let body = serde_json::json!({
            "incident_id": incident.id,
            "severity": incident.severity,
            "summary": incident.summary,
            "triage": triage,
        });
        let url = worker.url_for(&replica_id);
        assignment
            .run(self.post(&url, &body))
            .await
            .map_err(|reason| AgentError::Worker { replica_id: replica_id.clone(), reason })?;
        Ok(replica_id)
    }

    async fn post(&self, url: &str, body: &Value) -> Result<(), String> {
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("{url}: {e}"))?;
        let response = self.http.request(request).await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        // Read to the end so the connection can be reused.
        let _ = response.into_body().collect().await;
        if status.is_success() { Ok(()) } else { Err(format!("{url} answered {status}")) }
    }
}

fn parse(payload: Value) -> Result<Incident, AgentError> {
    let incident: Incident =
        serde_json::from_value(payload).map_err(|e| AgentError::NotAnIncident(e.to_string()))?;
    let id = &incident.id;
    let valid_id = (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if !valid_id {
        return Err(AgentError::NotAnIncident(format!(
            "incident_id {id:?} is not 1 to 128 of A-Z a-z 0-9 . _ : -"
        )));
    }
    if incident.summary.len() > MAX_SUMMARY {
        return Err(AgentError::NotAnIncident(format!("summary is over {MAX_SUMMARY} bytes")));
    }
    Ok(incident)
}
