//! The example agent's real bootstrap under a Lambda Runtime API served here, against
//! `commander serve`, with Bedrock's Converse API and a worker replica served on loopback (no
//! Bedrock runs here): a warm ping answered without work; an incident through model choice
//! (the first model failing, the next answering), usage, and a hand-off to the worker through
//! select and release; a malformed event refused by name.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use commander_client::wire::{SelectRequest, UsageRequest};
use commander_client::{Client, RetryPolicy};
use integration_tests::bootstrap::ping;
use integration_tests::commander_serve::Serve;
use integration_tests::runtime_api::{Function, RuntimeApi};
use serde_json::{Value, json};
use shared::domain::{AgentType, Region, ReplicaId, Severity};
use shared::scaling::ReplicaHeartbeat;

/// Every model of the commander's price table, as the Bedrock id the agent is told to call.
const MODELS: [&str; 12] = [
    "amazon.nova-micro",
    "amazon.nova-lite",
    "amazon.nova-pro",
    "amazon.nova-premier",
    "anthropic.claude-3-haiku",
    "anthropic.claude-3-5-haiku",
    "anthropic.claude-sonnet-4",
    "anthropic.claude-opus-4",
    "meta.llama3-1-8b",
    "meta.llama3-3-70b",
    "anthropic.claude-haiku-4-5",
    "anthropic.claude-opus-4-5",
];

/// Bedrock's Converse on loopback: the first call fails as Bedrock refuses a request, every
/// later one answers with the usage Bedrock reports.
#[derive(Debug, Clone, Default)]
struct Bedrock {
    calls: Arc<Mutex<Vec<String>>>,
}

async fn converse(State(bedrock): State<Bedrock>, Path(model_id): Path<String>) -> impl IntoResponse {
    let first = {
        let mut calls = bedrock.calls.lock().unwrap();
        calls.push(model_id);
        calls.len() == 1
    };
    if first {
        let headers = [("x-amzn-errortype", "ValidationException"), ("content-type", "application/json")];
        return (StatusCode::BAD_REQUEST, headers, json!({"message": "model not enabled"}).to_string());
    }
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "Likely cause: a full disk on the primary."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 120, "outputTokens": 40, "totalTokens": 160},
        "metrics": {"latencyMs": 850}
    });
    (StatusCode::OK, [("x-amzn-errortype", ""), ("content-type", "application/json")], body.to_string())
}

/// A worker replica's intake on loopback: what reached it, per replica id.
#[derive(Debug, Clone, Default)]
struct Worker {
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn intake(State(worker): State<Worker>, Path(replica_id): Path<String>, body: String) -> StatusCode {
    worker.received.lock().unwrap().push((replica_id, serde_json::from_str(&body).unwrap()));
    StatusCode::ACCEPTED
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// The agent released its assignment: the worker (room for one) takes the next incident, and
/// then has no room, which shows the first check could fail.
async fn assert_released(client: &Client, commander: &Serve) {
    let select = |id: &str| SelectRequest {
        agent_type: AgentType::parse("resolution").unwrap(),
        severity: Severity::High,
        region: None,
        strategy: None,
        incident_id: Some(id.to_owned()),
    };
    let next = client.select(select("inc-44")).await.unwrap();
    assert_eq!(next.replica_id, "worker-1", "the agent released inc-42");
    let quick = Client::with_signer(&commander.url(), None).unwrap().with_retry(RetryPolicy {
        attempts: 1,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
    });
    let full = quick.select(select("inc-45")).await.unwrap_err();
    assert_eq!(full.status().map(|s| s.as_u16()), Some(503), "room for one: the check above could fail");
}

fn agent_binary() -> &'static str {
    env!("CARGO_BIN_EXE_agent-lambda")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_is_answered_without_work_and_an_incident_goes_through_the_contract() {
    let commander = Serve::start().await;
    let client = Client::with_signer(&commander.url(), None).unwrap().with_retry(RetryPolicy {
        attempts: 4,
        base: Duration::from_millis(50),
        cap: Duration::from_millis(300),
    });
    let bedrock = Bedrock::default();
    let bedrock_url =
        serve(Router::new().route("/model/{model_id}/converse", post(converse)).with_state(bedrock.clone()))
            .await;
    let worker = Worker::default();
    let worker_url =
        serve(Router::new().route("/{replica_id}/incidents", post(intake)).with_state(worker.clone())).await;
    // One resolution replica, room for one incident at a time.
    let beat = ReplicaHeartbeat {
        agent_type: AgentType::parse("resolution").unwrap(),
        replica_id: ReplicaId::parse("worker-1").unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        load: 0.0,
        capacity: 1,
        healthy: true,
        performance_score: 0.9,
        draining: false,
    };
    client.heartbeat(&beat).await.unwrap();

    let models: serde_json::Map<String, Value> =
        MODELS.iter().map(|m| ((*m).to_owned(), Value::from(format!("bedrock-{m}")))).collect();
    let incident = json!({
        "incident_id": "inc-42",
        "severity": "high",
        "summary": "checkout latency p99 above 5 s since 09:12",
        "region": "us-east-1"
    });
    let mut runtime = RuntimeApi::serve(&[
        ("ping-1", ping("corr-1")),
        ("incident-1", incident),
        ("bad-1", json!({"incident_id": "inc-43", "severity": "high"})),
    ])
    .await;
    let models = Value::Object(models).to_string();
    let worker_template = format!("{worker_url}/{{replica_id}}/incidents");
    let function = Function::spawn(
        agent_binary(),
        "triage-agent",
        &runtime.address,
        &[
            ("COMMANDER_API_URL", commander.url().as_str()),
            ("AGENT_BEDROCK_MODELS", models.as_str()),
            ("AGENT_WORKER_TYPE", "resolution"),
            ("AGENT_WORKER_URL", worker_template.as_str()),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock_url.as_str()),
        ],
    );
    let answers = runtime.answers(3).await;
    let lines = function.stop().await;

    let pong = answers["ping-1"].as_ref().unwrap();
    assert_eq!(
        (pong["warm"].as_bool(), pong["correlation_id"].as_str()),
        (Some(true), Some("corr-1")),
        "{pong}"
    );
    assert_eq!(pong["cold_start"], true, "the container's first invocation");

    let handled = answers["incident-1"].as_ref().unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    let calls = bedrock.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "the ping made no model call; the incident two (one refused): {calls:?}");
    let answered_by = calls[1].trim_start_matches("bedrock-");
    assert_eq!(handled["model"], answered_by, "the fallback that answered is the one reported");
    assert_ne!(calls[0], calls[1], "a failed model is not asked again");
    assert_eq!(handled["triage"], "Likely cause: a full disk on the primary.");
    assert_eq!(handled["handed_to"], "worker-1");

    let received = worker.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!((received[0].0.as_str(), &received[0].1["incident_id"]), ("worker-1", &json!("inc-42")));
    assert_eq!(received[0].1["triage"], "Likely cause: a full disk on the primary.");

    // The usage report arrived with Bedrock's own figures: the same report again is a retry.
    let again = client
        .report_usage(UsageRequest {
            model: answered_by.to_owned(),
            task_type: shared::cost::task::TaskType::parse("triage").unwrap(),
            severity: Severity::High,
            input_tokens: 120,
            output_tokens: 40,
            latency_ms: Some(850.0),
            timestamp: None,
            request_id: Some("inc-42:triage:1".into()),
        })
        .await
        .unwrap();
    assert!(!again.counted, "the agent's report was counted once, with these figures");

    assert_released(&client, &commander).await;

    let refused = answers["bad-1"].as_ref().unwrap_err();
    assert_eq!(refused["errorType"], "NotAnIncident", "{refused}");
    assert!(refused["errorMessage"].as_str().unwrap().contains("summary"), "{refused}");
}
