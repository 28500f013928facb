//! The api binary (deployed as `bootstrap`) run as Lambda runs it: its `AWS_LAMBDA_RUNTIME_API` points at a
//! Lambda Runtime API served by this test on loopback, which hands it real API Gateway events
//! from `tests/fixtures/` and collects its answers. The store is the DynamoDB-API server.

#![allow(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc};

const RUNTIME: &str = "/2018-06-01/runtime";

#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    first_poll: Arc<Mutex<Option<Instant>>>,
    answers: mpsc::UnboundedSender<(String, Result<Value, Value>)>,
    forever: Arc<Notify>,
}

async fn next(State(rt): State<Runtime>) -> impl IntoResponse {
    rt.first_poll.lock().unwrap().get_or_insert_with(Instant::now);
    let event = rt.events.lock().unwrap().pop_front();
    let Some((id, event)) = event else {
        // No more events: hold the poll open as Lambda does while the function is idle.
        rt.forever.notified().await;
        unreachable!("nobody notifies");
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert("Lambda-Runtime-Aws-Request-Id", id.parse().unwrap());
    headers.insert("Lambda-Runtime-Deadline-Ms", deadline.to_string().parse().unwrap());
    headers.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        "arn:aws:lambda:us-east-1:123456789012:function:commander-api".parse().unwrap(),
    );
    headers.insert(
        "Lambda-Runtime-Trace-Id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".parse().unwrap(),
    );
    (headers, axum::Json(event))
}

async fn response(State(rt): State<Runtime>, Path(id): Path<String>, body: String) -> &'static str {
    let _ = rt.answers.send((id, Ok(serde_json::from_str(&body).unwrap_or(Value::String(body)))));
    "{\"status\":\"OK\"}"
}

async fn error(State(rt): State<Runtime>, Path(id): Path<String>, body: String) -> &'static str {
    let _ = rt.answers.send((id, Err(serde_json::from_str(&body).unwrap_or(Value::String(body)))));
    "{\"status\":\"OK\"}"
}

async fn init_error(body: String) -> &'static str {
    panic!("the function failed to initialise: {body}");
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// The JSON body inside an API Gateway proxy response.
fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("a string body")).unwrap()
}

type Answers = mpsc::UnboundedReceiver<(String, Result<Value, Value>)>;

/// Serves the Runtime API on a free loopback port with `events` queued for `next`.
async fn serve_runtime_api(events: &[(&str, Value)]) -> (Runtime, String, Answers) {
    let (tx, answers) = mpsc::unbounded_channel();
    let runtime = Runtime {
        events: Arc::new(Mutex::new(events.iter().map(|(id, e)| ((*id).to_owned(), e.clone())).collect())),
        first_poll: Arc::new(Mutex::new(None)),
        answers: tx,
        forever: Arc::new(Notify::new()),
    };
    let app = Router::new()
        .route(&format!("{RUNTIME}/invocation/next"), get(next))
        .route(&format!("{RUNTIME}/invocation/{{id}}/response"), post(response))
        .route(&format!("{RUNTIME}/invocation/{{id}}/error"), post(error))
        .route(&format!("{RUNTIME}/init/error"), post(init_error))
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (runtime, runtime_api, answers)
}

/// Starts the binary with the environment Lambda gives a function, and dummy AWS credentials.
fn spawn_function(runtime_api: &str, endpoint: &str, table: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_api"))
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", runtime_api),
            ("AWS_LAMBDA_FUNCTION_NAME", "commander-api"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/commander-api"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/26/[$LATEST]0123456789abcdef"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("COMMANDER_TABLE_NAME", table),
            ("COMMANDER_DYNAMODB_ENDPOINT", endpoint),
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the api binary")
}

/// A JSON access-log line was written inside the invocation's span, which names the request.
fn assert_logged_with_request_id(lines: &[String], request_id: &str) {
    let line = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l.to_string().contains(request_id))
        .unwrap_or_else(|| panic!("a JSON log line carries the request id: {lines:#?}"));
    assert_eq!(line["level"], "INFO");
    let spans = line["spans"].as_array().unwrap_or_else(|| panic!("JSON logs list their spans: {line}"));
    assert!(
        spans.iter().any(|s| s["requestId"] == request_id),
        "the invocation span names the request: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_answers_api_gateway_events_through_the_runtime_api() {
    let Some(endpoint) = integration_tests::dynamodb_endpoint("bootstrap under a local Lambda Runtime API")
    else {
        return;
    };
    let table = format!("lambda-{}", uuid::Uuid::new_v4().simple());
    shared::store::create_table(&shared::aws::local_dynamodb(&endpoint), &table).await.unwrap();

    let events = [
        ("req-status-1", fixture("apigw-v2-get-scaling-status.json")),
        ("req-heartbeat", fixture("apigw-v2-post-heartbeat.json")),
        ("req-status-2", fixture("apigw-v2-get-scaling-status.json")),
        ("req-rest-status", fixture("apigw-rest-get-scaling-status.json")),
    ];
    let (runtime, runtime_api, mut answers) = serve_runtime_api(&events).await;
    let started = Instant::now();
    let mut child = spawn_function(&runtime_api, &endpoint, &table);
    let mut log = BufReader::new(child.stdout.take().unwrap()).lines();
    let log_lines = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = log.next_line().await {
            lines.push(line);
        }
        lines
    });

    let mut by_id = std::collections::HashMap::new();
    for _ in 0..events.len() {
        let (id, answer) =
            tokio::time::timeout(Duration::from_secs(60), answers.recv()).await.expect("an answer").unwrap();
        by_id.insert(id, answer.unwrap_or_else(|e| panic!("invocation error: {e}")));
    }
    let first_poll = runtime.first_poll.lock().unwrap().expect("the function polled");
    println!(
        "api bootstrap (debug build): {} ms from process start to its first `next` poll",
        first_poll.duration_since(started).as_millis()
    );

    let status = &by_id["req-status-1"];
    assert_eq!(status["statusCode"], 200, "{status}");
    let first = body(status);
    let types: Vec<&String> = first["scaling_policies"].as_object().unwrap().keys().collect();
    assert_eq!(types, ["communication", "detection", "diagnosis", "prediction", "resolution"]);
    assert_eq!(first["scaling_policies"]["detection"]["max_replicas"], 10);

    assert_eq!(by_id["req-heartbeat"]["statusCode"], 200, "{}", by_id["req-heartbeat"]);
    let after = body(&by_id["req-status-2"]);
    assert_eq!(after["replica_status"]["detection"][0]["replica_id"], "det-use1-a");
    assert_eq!(after["geographic_distribution"]["us-east-1"], 1);

    let rest = &by_id["req-rest-status"];
    assert_eq!(rest["statusCode"], 200, "REST API (v1) event: {rest}");
    assert_eq!(body(rest)["replica_status"]["detection"][0]["replica_id"], "det-use1-a");

    child.kill().await.unwrap();
    let lines = log_lines.await.unwrap();
    assert_logged_with_request_id(&lines, "req-heartbeat");
}
